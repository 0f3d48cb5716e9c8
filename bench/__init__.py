"""`make bench`: duanka's speed measured on this machine (issue 6)."""
