"""Prototypes of the fast path's candidates (docs/design/fast-path.md), each measured
against what the worker does today, in the same run."""
