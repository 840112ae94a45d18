"""Benchmark suite: ``python -m benchmarks NAME [--quick] [--out DIR]`` (see docs/benchmarks.md)."""
