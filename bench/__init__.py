"""Load and latency benchmarks (`make bench`); figures in bench/REPORT.md."""
