"""`python -m services` is the `duanka` command."""

from services.cli import main

raise SystemExit(main())
