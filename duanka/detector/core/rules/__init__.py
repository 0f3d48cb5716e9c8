"""One module per rule, each named after the pattern it catches."""
