// One run: its batches in order, a card per task, live over the run's status events.
import {
  FINAL_RUN, REPLAYABLE_TASK, STATUS_EVENTS, api, confirmAction, follow, h, latest, money,
  notify, pathParts, setDuration, setLive, setStatus, short, tickDurations, when,
} from "./console.js";

const [runId] = pathParts("/runs/");
const $ = (id) => document.getElementById(id);
const runPath = `/api/v1/runs/${encodeURIComponent(runId)}`;
let view = null;
let lastSeq = 0;
let source = null;

$("run-id").textContent = runId.slice(0, 8);
$("run-id").title = runId;
$("dead-letters-link").href = `/dead-letters?run_id=${encodeURIComponent(runId)}`;

// --- rendering ------------------------------------------------------------------------------
const BANNERS = {
  halted: "Halted:",
  failed: "Failed:",
  cancelled: "Cancelled:",
};

function renderRun(run) {
  document.title = `Run ${runId.slice(0, 8)} (${run.status}) · CommandCenter`;
  setStatus($("run-status"), run.status);
  const banner = $("banner");
  banner.hidden = !BANNERS[run.status];
  if (BANNERS[run.status]) {
    banner.dataset.status = run.status;
    $("banner-title").textContent = BANNERS[run.status];
    $("banner-text").textContent = run.error || (run.status === "cancelled" ? "the run was cancelled" : "no reason given");
  }
  $("plan").textContent = run.plan_path;
  $("mode").textContent = run.mode;
  $("agent").textContent = run.agent;
  $("land").textContent = run.land;
  const c = run.counts;
  $("progress").textContent = `${c.succeeded}/${c.total} succeeded${c.failed ? `, ${c.failed} failed` : ""}${c.running ? `, ${c.running} running` : ""}`;
  $("cost").textContent = `${money(run.cost_usd)}${run.max_cost_usd ? ` of ${money(run.max_cost_usd)}` : ""}`;
  $("started").dateTime = run.created_at;
  $("started").textContent = when(run.created_at);
  setDuration($("duration"), run.created_at, run.finished_at);
  $("integration").textContent = run.integration_branch
    ? `${run.integration_branch} @ ${short(run.integration_commit)}`
    : "–";
  const pr = run.pull_request;
  $("pull-request").replaceChildren(
    pr ? h("a", { href: pr.url, rel: "noopener noreferrer" }, `#${pr.number} (${pr.state})`) : "–",
  );
  $("cancel-run").disabled = FINAL_RUN.has(run.status);
  const replayable = run.batches.some((b) => b.tasks.some((t) => REPLAYABLE_TASK.has(t.status)));
  $("replay-failed").hidden = !replayable || run.status === "cancelled";
}

const batchEls = new Map(); // batch key → {section, status, commit, list}
const cardEls = new Map(); // task id → the card's parts

function batchKey(batch) {
  return String(batch.index ?? batch.number);
}

function batchSection(batch) {
  const key = batchKey(batch);
  if (batchEls.has(key)) return batchEls.get(key);
  const id = `batch-${key}`;
  const parts = { status: h("span"), commit: h("span", { class: "muted mono" }), list: h("ol", { class: "cards" }) };
  const title = `${batch.phase ? `Phase ${batch.phase}, b` : "B"}atch ${batch.number}: ${batch.title}`;
  parts.section = h(
    "section",
    { class: "batch", "aria-labelledby": id, "data-batch": key },
    h("header", {}, h("h2", { id }, title), parts.status, parts.commit),
    parts.list,
  );
  batchEls.set(key, parts);
  return parts;
}

function fact(label, key) {
  const dd = h("dd", { "data-fact": key });
  return { el: h("div", {}, h("dt", {}, label), dd), dd };
}

function taskCard(task) {
  if (cardEls.has(task.task_id)) return cardEls.get(task.task_id);
  const href = `/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(task.task_id)}`;
  const facts = {
    attempt: fact("Attempt", "attempt"),
    fixRounds: fact("Fix rounds", "fix-rounds"),
    branch: fact("Branch", "branch"),
    integrated: fact("Integrated", "integrated"),
    cost: fact("Cost", "cost"),
    duration: fact("Duration", "duration"),
  };
  facts.branch.dd.className = "mono";
  facts.integrated.dd.className = "mono";
  const parts = {
    facts,
    status: h("span"),
    error: h("p", { class: "error", hidden: true }),
    refused: h("p", { class: "refused", hidden: true }),
    replay: h("button", { type: "button", class: "secondary", hidden: true }, "Replay"),
  };
  parts.replay.setAttribute("aria-label", `Replay task ${task.plan_task_id}`);
  parts.replay.addEventListener("click", () => replayTask(parts.task)); // as it is now
  parts.card = h(
    "li",
    { class: "card", "data-task-id": task.task_id, "data-plan-task-id": task.plan_task_id },
    h("header", {}, h("h3", {}, h("a", { href }, `${task.plan_task_id} ${task.title}`)), parts.status),
    h("dl", { class: "facts" }, Object.values(facts).map((f) => f.el)),
    parts.error,
    parts.refused,
    h("div", { class: "buttons" }, parts.replay, h("a", { href }, "Log and commits")),
  );
  cardEls.set(task.task_id, parts);
  return parts;
}

function renderTask(task) {
  const parts = taskCard(task);
  parts.task = task;
  parts.card.dataset.status = task.status;
  setStatus(parts.status, task.status);
  const f = parts.facts;
  f.attempt.dd.textContent = String(task.attempt);
  f.fixRounds.dd.textContent = String(task.fix_rounds);
  f.branch.dd.textContent = task.branch || "–";
  f.branch.dd.title = task.branch || "";
  f.integrated.dd.textContent = short(task.integrated_commit);
  f.integrated.dd.title = task.integrated_commit || "";
  f.cost.dd.textContent = money(task.cost_usd);
  setDuration(f.duration.dd, task.started_at, task.finished_at);
  const error = task.error_code ? `${task.error_code}${task.error ? `: ${task.error}` : ""}` : "";
  parts.error.hidden = !error || task.status === "succeeded";
  parts.error.textContent = error;
  // A replay the gateway accepted and the planner then refused: say why here.
  const refused = task.replay_refused;
  parts.refused.hidden = !refused;
  parts.refused.textContent = refused ? `replay refused: ${refused.reason}` : "";
  parts.replay.hidden = !REPLAYABLE_TASK.has(task.status);
  return parts.card;
}

function render(run) {
  view = run;
  renderRun(run);
  if (FINAL_RUN.has(run.status) && source && source.readyState !== EventSource.OPEN) {
    stop(source); // the stream ended with the run, before this view said it had
  }
  const container = $("batches");
  if (!run.batches.length) {
    container.replaceChildren(h("p", { class: "empty" }, "Not planned yet."));
    return;
  }
  container.querySelector(".empty")?.remove();
  for (const batch of run.batches) {
    const parts = batchSection(batch);
    setStatus(parts.status, batch.status);
    parts.commit.textContent = batch.integrated_commit ? `integrated @ ${short(batch.integrated_commit)}` : "";
    if (parts.section.parentNode !== container) container.append(parts.section);
    for (const task of batch.tasks) {
      const card = renderTask(task);
      if (card.parentNode !== parts.list) parts.list.append(card);
    }
  }
}

// --- following --------------------------------------------------------------------------------
const refresh = latest(async (seq) => {
  render(await api(seq ? `${runPath}?wait_for_event=${seq}` : runPath));
});

function open(afterSeq) {
  // A new source resumes with last_event_id (the browser's own reconnects send the header).
  const url = `${runPath}/events${afterSeq ? `?last_event_id=${afterSeq}` : ""}`;
  source = follow(url, STATUS_EVENTS, {
    onEvent(_type, _data, seq) {
      lastSeq = Math.max(lastSeq, seq);
      refresh(lastSeq);
    },
    onDrop(s) {
      // The server ends the stream once the run is over; a final run never changes again,
      // a halted one goes on if a task is replayed (the browser keeps asking).
      if (view && FINAL_RUN.has(view.status)) return stop(s);
      return view && view.status === "halted" ? "halted: waiting for a replay" : undefined;
    },
  });
}

function stop(s) {
  s.close();
  const said = `run ${view.status}: nothing more to follow`;
  setLive("closed", said);
  return said;
}

/** After an action, follow again at once (a halted run's stream may be between reconnects). */
function reopen() {
  if (source && source.readyState === EventSource.OPEN) return;
  if (source) source.close();
  open(lastSeq);
}

// --- actions ----------------------------------------------------------------------------------
async function act(question, yes, call, done) {
  if (!(await confirmAction(question, yes))) return;
  try {
    const answer = await call();
    notify(done(answer), "info");
    reopen();
    refresh(lastSeq);
  } catch (error) {
    notify(error.message);
  }
}

function replayTask(task) {
  act(
    `Replay task ${task.plan_task_id} (${task.title}) as attempt ${task.attempt + 1}?`,
    "Replay",
    () => api(`/api/v1/tasks/${encodeURIComponent(task.task_id)}/replay`, { method: "POST", body: {} }),
    (a) => `Task ${task.plan_task_id}: attempt ${a.attempt} queued.`,
  );
}

$("replay-failed").addEventListener("click", () =>
  act(
    "Replay every failed or cancelled task of this run as a new attempt?",
    "Replay failed",
    () => api(`${runPath}/replay-failed`, { method: "POST", body: {} }),
    () => "The failed tasks are queued again.",
  ),
);

$("cancel-run").addEventListener("click", () =>
  act(
    "Cancel this run? Running agents are stopped and nothing new starts; this cannot be undone.",
    "Cancel run",
    () => api(`${runPath}/cancel`, { method: "POST", body: { reason: "cancelled from the dashboard" } }),
    () => "Cancelling the run.",
  ),
);

api(runPath).then(
  (run) => {
    // Named by a prefix of its id: go to the run's own address, which everything here uses.
    if (run.id !== runId) return location.replace(`/runs/${encodeURIComponent(run.id)}`);
    render(run);
    open(0);
  },
  (error) => {
    $("batches").replaceChildren(h("p", { class: "empty" }, error.message));
    setLive("closed", "not following");
  },
);
tickDurations();
