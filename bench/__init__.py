"""Emma's benchmarks: `make bench` runs bench/run.py. See bench/README.md."""
