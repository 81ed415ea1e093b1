"""The benchmark of `make bench` (see docs/benchmarks.md)."""
