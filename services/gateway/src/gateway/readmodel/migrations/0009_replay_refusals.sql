-- A person's replay the planner did not carry out (`task.replay_refused`), kept on the task
-- until its next attempt is queued: the run view says why, and the CLI stops waiting for it.
ALTER TABLE tasks
    ADD COLUMN replay_refused_request text,
    ADD COLUMN replay_refused_reason  text,
    ADD COLUMN replay_refused_at      timestamptz;
