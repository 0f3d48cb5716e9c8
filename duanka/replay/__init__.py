"""`duanka replay` and `duanka evaluate`: the detection core over files, no broker."""
