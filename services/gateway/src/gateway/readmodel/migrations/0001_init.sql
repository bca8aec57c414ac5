-- The gateway's read model: runs, their batches and tasks, and every status event projected.
-- Written only by the projector (and the run row by POST /runs); rebuilt from CC_STATUS if lost.

CREATE TABLE runs (
    id           uuid PRIMARY KEY,
    status       text        NOT NULL DEFAULT 'accepted',
    mode         text        NOT NULL DEFAULT 'local',
    plan_path    text        NOT NULL DEFAULT '',
    repo         text        NOT NULL DEFAULT '',
    agent        text        NOT NULL DEFAULT '',
    selection    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    requested_by text        NOT NULL DEFAULT 'anonymous',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    error        text,
    -- stream sequence of the event that last set `status`: older events never win.
    status_seq   bigint      NOT NULL DEFAULT 0
);
CREATE INDEX runs_created_at ON runs (created_at DESC);
CREATE INDEX runs_status ON runs (status, created_at DESC);

CREATE TABLE batches (
    run_id      uuid        NOT NULL,
    index       integer     NOT NULL,
    phase       text,
    number      text        NOT NULL DEFAULT '',
    title       text        NOT NULL DEFAULT '',
    status      text        NOT NULL DEFAULT 'pending',
    started_at  timestamptz,
    finished_at timestamptz,
    status_seq  bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, index)
);

CREATE TABLE tasks (
    task_id      text PRIMARY KEY,
    run_id       uuid        NOT NULL,
    batch_index  integer,
    position     integer     NOT NULL DEFAULT 0,
    plan_task_id text        NOT NULL DEFAULT '',
    title        text        NOT NULL DEFAULT '',
    branch       text        NOT NULL DEFAULT '',
    status       text        NOT NULL DEFAULT 'pending',
    attempt      integer     NOT NULL DEFAULT 0,
    step         text,
    error_code   text,
    error        text,
    commit       text,
    pushed       boolean     NOT NULL DEFAULT false,
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    status_seq   bigint      NOT NULL DEFAULT 0
);
CREATE INDEX tasks_run ON tasks (run_id, batch_index, position);

CREATE TABLE events (
    event_id   text PRIMARY KEY,
    run_id     uuid        NOT NULL,
    type       text        NOT NULL,
    stream_seq bigint      NOT NULL,
    at         timestamptz NOT NULL,
    payload    jsonb       NOT NULL
);
CREATE INDEX events_run ON events (run_id, stream_seq);

-- POST /runs with an Idempotency-Key: the same key returns the same run.
CREATE TABLE idempotency_keys (
    key          text PRIMARY KEY,
    run_id       uuid        NOT NULL,
    request_hash text        NOT NULL,
    response     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
