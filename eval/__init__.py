"""Metrics and benchmark scripts that write BENCHMARKS.md."""
