"""The planner's domain: naming, planning and the run state machine. No NATS, no I/O."""
