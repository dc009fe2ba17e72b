"""Pure functions: numbers in, numbers out; no Flask, no I/O."""
