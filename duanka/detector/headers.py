"""The headers of the worker's subject-topic messages, and the kinds of message besides
events that travel there."""

TOPIC_HEADER = "duanka-topic"
"""The input topic the event came from."""
PARTITION_HEADER = "duanka-partition"
"""The input partition the event came from (lateness, watermarks and event-time order are
measured per input partition)."""
RECEIVED_HEADER = "duanka-received"
"""The input record's timestamp (ms), for the event-to-alert latency. The subject record
itself is stamped when it is written: a producer's old timestamps must not make the subject
topics' retention delete what is still unread."""
STREAM_HEADER = "duanka-stream"
"""What the event is to the subject (`routing.Stream`), or `EXPIRE`, or `PROGRESS`."""
EXPIRE = "expire"
"""A message without a value asking the subject's owner to expire it: table writes must
happen in the stream of the key's partition (see `sweeper`)."""
MARKER = "marker"
"""On an input record: a marker a worker wrote to learn how far the partition has been read
(see `progress`)."""
PROGRESS = "progress"
"""A progress report of the input partitions a worker reads (see `progress`)."""
OFFSET_HEADER = "duanka-offset"
"""On a disposition sent to the case linker: its offset in the input partition."""
DISPOSITION = "disposition"
"""On the case linker's topic: a disposition, where everything else is an alert."""
LIFTED_OWN_HEADER = "duanka-lifted"
"""On a watchlist tombstone duanka wrote: it lifts duanka's own listing (an appeal), which
the identity lifted as it wrote it (`core.intake.WatchlistUpdate.lifted_own`)."""
LIFTED_OWN = b"own"
FRONTIER = "frontier"
"""On the case linker's topic: a subject partition has applied everything before the
dispositions awaited (see `core.disposition_gate`)."""
TIES_HEADER = "duanka-ties"
"""On an alert sent to the case linker: what its evidence ties together (`core.ties`)."""
