// One task: its agent's live log, then its commits; its state follows the run's events.
import {
  ENDED_TASK, FINAL_RUN, STATUS_EVENTS, api, follow, h, latest, money, pathParts, setDuration, setLive,
  setStatus, short, tickDurations,
} from "./console.js";

const [runId, , taskId] = pathParts("/runs/");
const $ = (id) => document.getElementById(id);
const runPath = `/api/v1/runs/${encodeURIComponent(runId)}`;
const logPath = `${runPath}/tasks/${encodeURIComponent(taskId)}/log`;
let task = null;
let runStatus = null;
let runSeq = 0;
let logSeq = 0;
let logSource = null;
let shownAttempt = 0;

$("run-link").href = `/runs/${encodeURIComponent(runId)}`;

function render(run) {
  runStatus = run.status;
  const found = run.batches.flatMap((b) => b.tasks).find((t) => t.task_id === taskId);
  if (!found) {
    $("task-title").textContent = `Task ${taskId} is not part of this run`;
    return;
  }
  task = found;
  document.title = `${task.plan_task_id} (${task.status}) · CommandCenter`;
  $("task-title").textContent = `${task.plan_task_id} ${task.title}`;
  setStatus($("task-status"), task.status);
  $("attempt").textContent = String(task.attempt);
  $("fix-rounds").textContent = String(task.fix_rounds);
  $("step").textContent = task.step || "–";
  setDuration($("duration"), task.started_at, task.finished_at);
  $("cost").textContent = money(task.cost_usd);
  const t = task.tokens;
  $("usage").textContent = `${task.turns} / ${t.input + t.output} (in ${t.input}, out ${t.output})`;
  $("model").textContent = task.model || "–";
  $("error").textContent = task.error_code ? `${task.error_code}${task.error ? `: ${task.error}` : ""}` : "–";
  // A replay the gateway accepted and the planner then refused (until a newer attempt is queued).
  const refused = task.replay_refused;
  $("refused-row").hidden = !refused;
  $("refused").textContent = refused ? refused.reason : "";
  $("branch").textContent = task.branch || "–";
  $("commit").textContent = task.commit ? `${short(task.commit)}${task.pushed ? " (pushed)" : ""}` : "–";
  $("commit").title = task.commit || "";
  $("integration-branch").textContent = run.integration_branch || "–";
  $("integrated").textContent = short(task.integrated_commit);
  $("integrated").title = task.integrated_commit || "";
  // A replayed task runs again: follow its log again, after the lines already shown.
  if (!ENDED_TASK.has(task.status) && (!logSource || logSource.readyState === EventSource.CLOSED)) {
    openLog();
  }
}

const refresh = latest(async (seq) => {
  render(await api(seq ? `${runPath}?wait_for_event=${seq}` : runPath));
});

// --- the log ----------------------------------------------------------------------------------
const log = $("log");

function append(line) {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  if (line.attempt !== shownAttempt) {
    shownAttempt = line.attempt;
    log.append(h("li", { class: "attempt" }, `— attempt ${line.attempt} —`));
  }
  log.append(h("li", { class: line.stream }, line.line));
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function openLog() {
  $("log-state").textContent = "following the agent's output…";
  const url = `${logPath}${logSeq ? `?last_event_id=${logSeq}` : ""}`;
  logSource = new EventSource(url); // sends Accept: text/event-stream, the log's SSE form
  logSource.addEventListener("log", (message) => {
    logSeq = Math.max(logSeq, Number(message.lastEventId) || 0);
    append(JSON.parse(message.data));
  });
  logSource.onerror = () => {
    // The server ends the log once the task has finished and nothing more arrives.
    if (!task || ENDED_TASK.has(task.status) || logSource.readyState === EventSource.CLOSED) {
      logSource.close();
      $("log-state").textContent = log.children.length ? "the end of the log" : "no output";
    }
  };
}

// --- following the run ------------------------------------------------------------------------
api(runPath).then(
  (run) => {
    // Named by a prefix of the run's id or by its plan id (1.2): go to the task's own address.
    const named = run.batches.flatMap((b) => b.tasks).filter((t) => [t.task_id, t.plan_task_id].includes(taskId));
    const task = named.length === 1 ? named[0].task_id : taskId;
    if (run.id !== runId || task !== taskId) {
      return location.replace(`/runs/${encodeURIComponent(run.id)}/tasks/${encodeURIComponent(task)}`);
    }
    render(run);
    if (!logSource) openLog();
    follow(`${runPath}/events`, STATUS_EVENTS, {
      onEvent(_type, _data, seq) {
        runSeq = Math.max(runSeq, seq);
        refresh(runSeq);
      },
      onDrop(source) {
        if (FINAL_RUN.has(runStatus)) {
          source.close();
          return `run ${runStatus}: nothing more to follow`;
        }
        return runStatus === "halted" ? "halted: waiting for a replay" : undefined;
      },
    });
  },
  (error) => {
    $("task-title").textContent = error.message;
    setLive("closed", "not following");
  },
);
tickDurations();
