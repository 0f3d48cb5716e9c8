"""The pure detection core: per-key state plus one event in, new state and alerts out.

Nothing here imports Faust, Kafka or Prometheus: the streaming worker and offline replay
drive the very same functions, so they cannot disagree.
"""
