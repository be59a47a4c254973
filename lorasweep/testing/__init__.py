"""Helpers for lorasweep's own tests and benchmarks (and for anyone testing code that runs
lorasweep against a real Ray cluster): nothing in the package imports them."""
