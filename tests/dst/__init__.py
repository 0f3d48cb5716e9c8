"""Deterministic simulation of the worker: the real admission, routing, ordering and core
code in a model of the shell between them, every schedule of delays, pauses, crashes and
rebalances made from one seed, and each seed's alerts compared with replay's."""
