"""`make soak`: the backlog test's worlds against the real broker, again and again, half of
the runs under a pause nemesis."""
