-- Every gateway keeps the views of runs that ended (`gateway.runs.view_cache`) and serves
-- them without asking PostgreSQL, dropping one the moment it hears the run changed: any
-- change to an ended run's row (each event applied bumps `runs.version`, whoever applies it)
-- is told on `cc_run_changed`. Runs still going are never cached, so they stay silent.

CREATE FUNCTION cc_notify_ended_run_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cc_run_changed', OLD.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER ended_runs_changed
AFTER UPDATE OR DELETE ON runs
FOR EACH ROW
WHEN (OLD.status IN ('succeeded', 'halted', 'failed', 'cancelled'))
EXECUTE FUNCTION cc_notify_ended_run_changed();
