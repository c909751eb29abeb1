"""The benchmarks: every public module here registers with `benchmarks.registry.benchmark`."""
