"""Programs the benchmarks run as child processes (so time and peak RSS are the run's own)."""
