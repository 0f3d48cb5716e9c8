"""Every RocksDB database a worker opens charges its memtables to one shared cache, so
their memory has one limit however many partitions there are."""

from pathlib import Path

from faust.stores import rocksdb as faust_rocksdb

from duanka.detector.patches import rocksdb_budget


def test_databases_charge_their_memtables_to_the_one_shared_cache(tmp_path: Path) -> None:
    original = faust_rocksdb.RocksDBOptions
    try:
        rocksdb_budget.install(64 * 1024 * 1024)
        cache = rocksdb_budget.SharedBudgetOptions.cache
        before = cache.get_usage()
        databases = [
            faust_rocksdb.RocksDBOptions(use_rocksdict=True).open(tmp_path / f"db-{n}")
            for n in range(2)
        ]
        usage = [before]
        for db in databases:
            for key in range(2_000):
                db[f"key-{key}".encode()] = b"x" * 100
            usage.append(cache.get_usage())
        assert usage[1] > usage[0] and usage[2] > usage[1]  # both databases, one cache
        for db in databases:
            db.close()
    finally:
        faust_rocksdb.RocksDBOptions = original  # type: ignore[misc]
