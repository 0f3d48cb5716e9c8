"""The detection worker: a pure core (`core/`) inside a thin Faust shell."""
