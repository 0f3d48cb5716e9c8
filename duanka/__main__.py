"""`python -m services` is the `duanka` command."""

from duanka.cli import main

raise SystemExit(main())
