"""Every place duanka patches Faust or aiokafka, or reads their private state.

Each module here carries a header: what it patches, the upstream issue, the test that proves
it is needed, and when it can go. `install` applies them all, once, when a worker's app is
built; nothing outside this package touches either framework's private attributes (the
merge's own scheduler, `merge.TimestampMerge`, is public API: Faust's `ConsumerScheduler`
setting). They are written for the versions in `pins.PINNED`, and a worker refuses to start
on others (`pins.mismatches`).

| module | patches |
|---|---|
| `commit_head` | `Consumer._new_offset`: no commit past a message recovery dropped |
| `merge_seeks` | `Consumer.perform_seek`, and the consumer's partition bookkeeping, for the merge |
| `producer_metadata` | the producer's client tracks every topic it sends to |
| `rocksdb_budget` | `RocksDBOptions`: one memory budget for all databases |
| `fetch_pause` | none: pauses and resumes fetching in aiokafka, in the consumer's thread |
| `consumer_state` | reads the consumer's offsets and fetch times, which Faust keeps private |
| `table_batches` | none: sends record batches through aiokafka, writes table stores per partition |
"""

import faust

from duanka.detector.patches import commit_head, merge_seeks, producer_metadata, rocksdb_budget

__all__ = ["attach_merge", "install"]


def install(app: faust.App, rocksdb_budget_bytes: int | None) -> None:
    """Apply every patch for `app`: before anything has asked it for a producer or a
    consumer, and (with a budget) before any RocksDB table is opened."""
    commit_head.guard_commits()
    merge_seeks.tell_seeks()
    producer_metadata.install(app)
    if rocksdb_budget_bytes is not None:
        rocksdb_budget.install(rocksdb_budget_bytes)


def attach_merge(app: faust.App, merged_topics: frozenset[str]) -> None:
    """Attach the merge to the consumer's partition bookkeeping (`merge_seeks`): on every
    assignment, which makes the consumer's bookkeeping afresh."""
    merge_seeks.attach(app.consumer, merged_topics)
