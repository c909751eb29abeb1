"""Throughput, overhead and storage benchmarks; run as `python -m benchmarks.<name>`."""
