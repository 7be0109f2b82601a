"""Benchmarks of the serverless OCI registry (`make bench`, `make bench QUICK=1`).

Each figure is one section module (`bench/s_*.py`) run in its own Python
process by `python -m bench`, which then prints the table, writes
`bench/results.json`, the PNG plots in `docs/benchmarks/` and
`docs/benchmarks.md`. Everything talks to 127.0.0.1 only, with bounded
request counts and durations; nothing here is a pass/fail speed test.
"""
