-- What the agents spent: per task (every attempt and fix round added up) and per run, and the
-- run's budget. Projected from the usage on task.succeeded / task.failed and run.budget_changed.

ALTER TABLE tasks
    ADD COLUMN cost_usd              double precision NOT NULL DEFAULT 0,
    ADD COLUMN input_tokens          bigint           NOT NULL DEFAULT 0,
    ADD COLUMN output_tokens         bigint           NOT NULL DEFAULT 0,
    ADD COLUMN cache_read_tokens     bigint           NOT NULL DEFAULT 0,
    ADD COLUMN cache_creation_tokens bigint           NOT NULL DEFAULT 0,
    ADD COLUMN turns                 integer          NOT NULL DEFAULT 0,
    ADD COLUMN model                 text,
    ADD COLUMN fix_rounds            integer          NOT NULL DEFAULT 0;

ALTER TABLE runs
    ADD COLUMN cost_usd     double precision NOT NULL DEFAULT 0,
    ADD COLUMN max_cost_usd double precision;
