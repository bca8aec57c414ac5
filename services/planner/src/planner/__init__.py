"""The planner service: turns phase-start requests into batches of task dispatches and moves
runs on from the executors' status events. Run it with `python -m planner`."""
