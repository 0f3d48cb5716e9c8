"""duanka's services: the detection worker, its command line and its tools."""
