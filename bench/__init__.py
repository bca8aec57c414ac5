"""CommandCenter's benchmark suite: each figure of the system measured beside a raw baseline.

Run it with `python -m bench` (or `make bench`); `bench/README.md` explains the method.
"""
