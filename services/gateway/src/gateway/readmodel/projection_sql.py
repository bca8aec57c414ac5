"""The SQL of the projection (`projection` says which event runs which), with named parameters
(`sql.bind`). The status words are those of `commandcenter_contracts.vocabulary`.

Every status-carrying row keeps `status_seq`, the stream sequence of the event that set it, and
an older event never overwrites a newer one; task rows also keep the attempt (a newer attempt
wins). A run never leaves succeeded, failed or cancelled; the rows of a cancelled run change
only by a task's real outcome.
"""

from __future__ import annotations

# A new event moves its run's view to a new version (`runs.version`: the ETag of the view and
# the key of the gateway's cache of it), in the transaction that applies the event.
INSERT_EVENT = """
WITH inserted AS (
    INSERT INTO events (event_id, run_id, type, stream_seq, at, payload)
    VALUES (:event_id, :run_id, :type, :seq, :at, :payload::jsonb)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING run_id
), bumped AS (
    UPDATE runs SET version = nextval('run_view_versions')
    WHERE id IN (SELECT run_id FROM inserted)
)
SELECT 1 FROM inserted
"""

# --- runs -----------------------------------------------------------------------------------
INSERT_RUN = """
INSERT INTO runs (id, status, mode, plan_path, repo, agent, selection, requested_by,
                  created_at, updated_at, base_ref, integration_branch, merge_style, land,
                  max_cost_usd)
VALUES (:run_id, 'accepted', :mode, :plan_path, :repo, :agent, :selection::jsonb, :requested_by,
        :at, :at, :base_ref, :integration_branch, :merge_style, :land, :max_cost_usd)
ON CONFLICT (id) DO UPDATE
SET base_ref = EXCLUDED.base_ref, integration_branch = EXCLUDED.integration_branch,
    merge_style = EXCLUDED.merge_style, land = EXCLUDED.land,
    max_cost_usd = EXCLUDED.max_cost_usd
WHERE runs.integration_branch = ''
"""

# What an outcome's agent spent: added to the task's and the run's totals.
TASK_SPENT = """
UPDATE tasks SET cost_usd = cost_usd + :cost_usd, input_tokens = input_tokens + :input_tokens,
                 output_tokens = output_tokens + :output_tokens,
                 cache_read_tokens = cache_read_tokens + :cache_read_tokens,
                 cache_creation_tokens = cache_creation_tokens + :cache_creation_tokens,
                 turns = turns + :turns, model = COALESCE(:model, model),
                 fix_rounds = :fix_rounds
WHERE task_id = :task_id AND run_id = :run_id
"""
RUN_SPENT = "UPDATE runs SET cost_usd = cost_usd + :cost_usd WHERE id = :run_id"
RUN_BUDGET = "UPDATE runs SET max_cost_usd = :max_cost_usd WHERE id = :run_id"
# A run halted by its budget goes on.
RUN_RESUMED = """
UPDATE runs SET status = 'running', status_seq = :seq, updated_at = :at, finished_at = NULL,
                error = NULL
WHERE id = :run_id AND status = 'halted' AND status_seq < :seq
"""

# The run's integration tip only moves forward.
RUN_INTEGRATED = """
UPDATE runs SET integration_commit = :commit, integration_depth = :depth
WHERE id = :run_id AND (integration_commit IS NULL OR integration_depth < :depth)
"""

RUN_PULL_REQUEST = "UPDATE runs SET pull_request = :pull_request::jsonb WHERE id = :run_id"

RUN_LANDED = """
UPDATE runs SET landed_commit = :commit,
                pull_request = COALESCE(:pull_request::jsonb, pull_request)
WHERE id = :run_id
"""

# accepted/halted → running; a run already running is left alone (nothing to change).
RUN_RUNNING = """
UPDATE runs SET status = 'running', status_seq = :seq, updated_at = :at,
                finished_at = NULL, error = NULL
WHERE id = :run_id AND status_seq < :seq
  AND status NOT IN ('running', 'succeeded', 'failed', 'cancelled')
"""

RUN_TERMINAL = """
UPDATE runs SET status = :status, status_seq = :seq, updated_at = :at, finished_at = :at,
                error = :error
WHERE id = :run_id AND status_seq < :seq AND status NOT IN ('succeeded', 'failed', 'cancelled')
"""

_RUN_CANCELLED = "EXISTS (SELECT 1 FROM runs r WHERE r.id = :run_id AND r.status = 'cancelled')"
_NOT_CANCELLED_RUN = (
    "NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = tasks.run_id AND r.status = 'cancelled')"
)

# A newer attempt of a task re-opens a halted run.
_OLDER_ATTEMPT = (
    "EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = :task_id AND t.attempt < :attempt)"
)
RUN_REOPENED = f"""
UPDATE runs SET status = 'running', status_seq = :seq, updated_at = :at,
                finished_at = NULL, error = NULL
WHERE id = :run_id AND status = 'halted' AND status_seq < :seq AND {_OLDER_ATTEMPT}
"""

# --- batches --------------------------------------------------------------------------------
UPSERT_PLANNED_BATCH = """
INSERT INTO batches (run_id, index, phase, number, title, status)
VALUES (:run_id, :index, :phase, :number, :title, 'pending')
ON CONFLICT (run_id, index) DO UPDATE
SET phase = EXCLUDED.phase, number = EXCLUDED.number, title = EXCLUDED.title
"""

BATCH_STATUS = """
INSERT INTO batches (run_id, index, status, status_seq, started_at, finished_at)
VALUES (:run_id, :index, :status, :seq, :started_at, :finished_at)
ON CONFLICT (run_id, index) DO UPDATE
SET status = EXCLUDED.status, status_seq = EXCLUDED.status_seq,
    started_at = COALESCE(batches.started_at, EXCLUDED.started_at),
    finished_at = EXCLUDED.finished_at
WHERE batches.status_seq < EXCLUDED.status_seq AND batches.status <> 'cancelled'
  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = batches.run_id AND r.status = 'cancelled')
"""

BATCH_REOPENED = f"""
UPDATE batches SET status = 'running', status_seq = :seq, finished_at = NULL
WHERE run_id = :run_id AND index = :index AND status IN ('succeeded', 'failed')
  AND status_seq < :seq
  AND {_OLDER_ATTEMPT}
  AND NOT {_RUN_CANCELLED}
"""

BATCH_INTEGRATED = """
UPDATE batches SET integrated_commit = :commit WHERE run_id = :run_id AND index = :index
"""

BATCHES_CANCELLED = f"""
UPDATE batches SET status = 'cancelled', status_seq = :seq, finished_at = :at
WHERE run_id = :run_id AND status IN ('pending', 'running') AND status_seq < :seq
  AND {_RUN_CANCELLED}
"""

# --- tasks ----------------------------------------------------------------------------------
UPSERT_PLANNED_TASK = """
INSERT INTO tasks (task_id, run_id, batch_index, position, plan_task_id, title, branch, updated_at)
VALUES (:task_id, :run_id, :batch_index, :position, :plan_task_id, :title, :branch, :at)
ON CONFLICT (task_id) DO UPDATE
SET batch_index = EXCLUDED.batch_index, position = EXCLUDED.position,
    plan_task_id = EXCLUDED.plan_task_id, title = EXCLUDED.title,
    branch = CASE WHEN tasks.branch = '' THEN EXCLUDED.branch ELSE tasks.branch END
"""

# A newer attempt wins; within one attempt, a later event wins.
_NEWER = (
    "(EXCLUDED.attempt > tasks.attempt"
    " OR (EXCLUDED.attempt = tasks.attempt AND EXCLUDED.status_seq > tasks.status_seq))"
)

TASK_QUEUED = f"""
INSERT INTO tasks (task_id, run_id, batch_index, plan_task_id, branch, status, attempt,
                   updated_at, status_seq)
VALUES (:task_id, :run_id, :batch_index, :plan_task_id, :branch, 'queued', :attempt, :at, :seq)
ON CONFLICT (task_id) DO UPDATE
SET status = 'queued', attempt = EXCLUDED.attempt, batch_index = EXCLUDED.batch_index,
    plan_task_id = EXCLUDED.plan_task_id, branch = EXCLUDED.branch,
    step = NULL, error_code = NULL, error = NULL, commit = NULL, pushed = false,
    integrated_commit = NULL, started_at = NULL, finished_at = NULL,
    replay_refused_request = NULL, replay_refused_reason = NULL, replay_refused_at = NULL,
    updated_at = EXCLUDED.updated_at, status_seq = EXCLUDED.status_seq
WHERE {_NEWER} AND {_NOT_CANCELLED_RUN}
"""

# A refused replay stays on the task until a newer attempt is queued (which clears it). Like
# every task change, one older than the task's last status change is not applied.
TASK_REPLAY_REFUSED = """
UPDATE tasks
SET replay_refused_request = :request_id, replay_refused_reason = :reason,
    replay_refused_at = :at
WHERE task_id = :task_id AND run_id = :run_id AND status_seq < :seq
"""

TASK_STARTED = f"""
INSERT INTO tasks (task_id, run_id, status, attempt, started_at, updated_at, status_seq)
VALUES (:task_id, :run_id, 'running', :attempt, :at, :at, :seq)
ON CONFLICT (task_id) DO UPDATE
SET status = 'running', attempt = EXCLUDED.attempt, started_at = EXCLUDED.started_at,
    step = NULL, error_code = NULL, error = NULL, commit = NULL, pushed = false,
    integrated_commit = NULL, finished_at = NULL, updated_at = EXCLUDED.updated_at,
    status_seq = EXCLUDED.status_seq
WHERE {_NEWER} AND {_NOT_CANCELLED_RUN}
"""

# Progress records the step; it moves a task to `running` but never out of a final state.
TASK_PROGRESS = f"""
INSERT INTO tasks (task_id, run_id, status, attempt, step, started_at, updated_at, status_seq)
VALUES (:task_id, :run_id, 'running', :attempt, :step, :at, :at, :seq)
ON CONFLICT (task_id) DO UPDATE
SET status = CASE WHEN EXCLUDED.attempt > tasks.attempt
                    OR tasks.status IN ('pending', 'queued') THEN 'running'
                  ELSE tasks.status END,
    started_at = COALESCE(
        CASE WHEN EXCLUDED.attempt > tasks.attempt THEN NULL ELSE tasks.started_at END,
        EXCLUDED.started_at),
    attempt = EXCLUDED.attempt, step = EXCLUDED.step, updated_at = EXCLUDED.updated_at,
    status_seq = EXCLUDED.status_seq
WHERE (EXCLUDED.attempt > tasks.attempt
       OR (EXCLUDED.attempt = tasks.attempt AND EXCLUDED.status_seq > tasks.status_seq
           AND tasks.status NOT IN ('succeeded', 'failed', 'cancelled')))
  AND {_NOT_CANCELLED_RUN}
"""

TASK_SUCCEEDED = f"""
INSERT INTO tasks (task_id, run_id, status, attempt, branch, commit, pushed, finished_at,
                   updated_at, status_seq, integrated_commit)
VALUES (:task_id, :run_id, 'succeeded', :attempt, :branch, :commit, :pushed, :at, :at, :seq,
        :integrated_commit)
ON CONFLICT (task_id) DO UPDATE
SET status = 'succeeded', attempt = EXCLUDED.attempt, branch = EXCLUDED.branch,
    commit = EXCLUDED.commit, pushed = EXCLUDED.pushed, error_code = NULL, error = NULL,
    integrated_commit = COALESCE(EXCLUDED.integrated_commit, tasks.integrated_commit),
    finished_at = EXCLUDED.finished_at, updated_at = EXCLUDED.updated_at,
    status_seq = EXCLUDED.status_seq
WHERE {_NEWER}
"""

TASK_FAILED = f"""
INSERT INTO tasks (task_id, run_id, status, attempt, error_code, error, finished_at,
                   updated_at, status_seq)
VALUES (:task_id, :run_id, :status, :attempt, :error_code, :error, :at, :at, :seq)
ON CONFLICT (task_id) DO UPDATE
SET status = EXCLUDED.status, attempt = EXCLUDED.attempt, error_code = EXCLUDED.error_code,
    error = EXCLUDED.error, finished_at = EXCLUDED.finished_at,
    updated_at = EXCLUDED.updated_at, status_seq = EXCLUDED.status_seq
WHERE {_NEWER}
"""


# The task's work is on the integration branch; its status comes with task.succeeded.
TASK_INTEGRATED = """
UPDATE tasks SET integrated_commit = :commit WHERE task_id = :task_id AND attempt <= :attempt
"""

# Every task of a cancelled run that had not finished.
TASKS_CANCELLED = f"""
UPDATE tasks SET status = 'cancelled', error_code = 'CANCELLED', error = :error,
                 finished_at = :at, updated_at = :at, status_seq = :seq
WHERE run_id = :run_id AND status NOT IN ('succeeded', 'failed', 'cancelled')
  AND status_seq < :seq AND {_RUN_CANCELLED}
"""
