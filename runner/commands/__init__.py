"""One module per command group; each parses options, calls runner.core, prints the result."""
