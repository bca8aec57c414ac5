"""Fault-injection scenarios (marker `faults`) and their checker."""
