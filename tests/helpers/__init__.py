"""Helpers shared by tests and benchmarks (fixture writers)."""
