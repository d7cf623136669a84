"""Benchmarks of the pipeline at several sizes (docs/benchmarks.md): `make bench`, `make bench-daily`."""
