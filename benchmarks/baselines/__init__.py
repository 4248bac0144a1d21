"""Baselines re-implemented for the benchmarks only (never registered as product methods)."""
