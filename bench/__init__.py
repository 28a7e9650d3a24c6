"""Benchmarks, run by hand; figures go to BENCHMARKS.md."""
