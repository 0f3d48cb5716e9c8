"""The console: the web page where an anti-fraud centre's analysts work cases, served by
every worker at `/console/` (`pages`), from what the case linker holds (`case_view`)."""
