"""One memory budget for all of a worker's RocksDB databases.

Faust opens a database per table partition (4 tables by 8 partitions here) and builds each
one's options itself, with a block cache of its own and write buffers of its own, so a
worker's memory grows with the partitions it holds and the keys written to them (384 MiB
after 40,000 identities). Here every database reads through one shared block cache and
charges its memtables to it, so RocksDB stays within one limit however many partitions and
keys there are.

- Patches: replaces `faust.stores.rocksdb.RocksDBOptions` (module attribute) with a
  subclass.
- Upstream: none filed (Faust builds each database's options itself; `options=` cannot
  pass a shared cache object).
- Proof: `tests/unit/test_rocksdb_budget.py`, and `make bench`'s memory figure.
- Remove when: duanka writes subject state to its own store, or Faust accepts a shared
  cache and write-buffer manager.
"""

from typing import Any, ClassVar

import rocksdict
from faust.stores import rocksdb as faust_rocksdb


class SharedBudgetOptions(faust_rocksdb.RocksDBOptions):
    """Faust's RocksDB options, with the shared cache and write-buffer manager; the table
    factory is built again as Faust builds it, around the shared cache."""

    cache: ClassVar[rocksdict.Cache]
    manager: ClassVar[rocksdict.WriteBufferManager]

    def as_options(self) -> Any:
        options = super().as_options()
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(self.cache)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        options.set_write_buffer_manager(self.manager)
        return options


def install(budget_bytes: int) -> None:
    """Make every RocksDB table opened from now on share `budget_bytes` of block cache,
    memtables included."""
    cache = SharedBudgetOptions.cache = rocksdict.Cache(budget_bytes)
    SharedBudgetOptions.manager = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
        budget_bytes // 2, False, cache
    )
    faust_rocksdb.RocksDBOptions = SharedBudgetOptions  # type: ignore[misc]
