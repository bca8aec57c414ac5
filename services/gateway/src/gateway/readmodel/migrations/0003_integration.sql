-- Integration: every run combines its tasks' work on one integration branch and may land it
-- (a pull request, or a fast-forward of the base branch). Projected from task.integrated,
-- batch.integrated, run.pull_request and run.landed.

ALTER TABLE runs
    ADD COLUMN base_ref           text    NOT NULL DEFAULT 'HEAD',
    ADD COLUMN integration_branch text    NOT NULL DEFAULT '',
    ADD COLUMN integration_commit text,
    -- first-parent depth of integration_commit: a later integration never loses to an earlier
    ADD COLUMN integration_depth  integer NOT NULL DEFAULT 0,
    ADD COLUMN merge_style        text    NOT NULL DEFAULT 'squash',
    ADD COLUMN land               text    NOT NULL DEFAULT 'branch',
    ADD COLUMN landed_commit      text,
    ADD COLUMN pull_request       jsonb;

ALTER TABLE batches ADD COLUMN integrated_commit text;

ALTER TABLE tasks ADD COLUMN integrated_commit text;
