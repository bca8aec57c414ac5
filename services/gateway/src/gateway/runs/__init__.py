"""Runs: start one (the canonical call and the original one), list them, show one, and the
original clients' views of a run."""
