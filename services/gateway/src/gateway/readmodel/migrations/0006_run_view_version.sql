-- The version of a run's view (its row, batches and tasks): a new value from one sequence
-- whenever any of them changes (the projector takes one with each event it applies, the start
-- request with the row it inserts), so a value is never reused, not even by a run rebuilt
-- from the stream. The gateway caches views and answers `ETag` by it.

CREATE SEQUENCE run_view_versions;

ALTER TABLE runs ADD COLUMN version bigint NOT NULL DEFAULT nextval('run_view_versions');
