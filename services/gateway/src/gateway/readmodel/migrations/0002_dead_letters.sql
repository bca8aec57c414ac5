-- Dead letters, projected from the CC_DEAD stream by the durable `gateway-dead-letters`, for
-- GET /api/v1/dead-letters (newest first, filtered by run).

CREATE TABLE dead_letters (
    id            text PRIMARY KEY,           -- the letter's event id (one row per letter)
    stream_seq    bigint      NOT NULL,       -- its position in CC_DEAD: the order of arrival
    subject       text        NOT NULL,       -- where the original message was consumed from
    error_code    text        NOT NULL,
    error         text        NOT NULL DEFAULT '',
    run_id        text,                       -- text, not uuid: a bad message may carry anything
    task_id       text,
    attempt       integer,
    num_delivered integer     NOT NULL DEFAULT 0,
    at            timestamptz NOT NULL,
    task          jsonb,                      -- the original task message, when there is one
    raw           text                        -- the original bytes when they were not a task
);
CREATE INDEX dead_letters_newest ON dead_letters (stream_seq DESC);
CREATE INDEX dead_letters_run ON dead_letters (run_id, stream_seq DESC);
