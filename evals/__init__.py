"""Benchmarks and evaluations: datasets, metrics, runners writing results.json and PNG plots."""
