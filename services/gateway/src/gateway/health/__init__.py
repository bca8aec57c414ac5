"""Liveness, readiness and the executors alive now."""
