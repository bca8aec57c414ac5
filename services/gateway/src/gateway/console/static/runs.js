// The runs list (live over every run's status events) and the form that starts a run.
import {
  STATUS_EVENTS, api, follow, h, latest, money, notify, setDuration, setStatus, tickDurations,
  when,
} from "./console.js";

const rows = new Map(); // run id → the row's cells
const tbody = document.getElementById("run-rows");

function createRow(run) {
  const cells = {
    link: h("a", { href: `/runs/${encodeURIComponent(run.id)}` }, h("code", {}, run.id.slice(0, 8))),
    status: h("span"),
    plan: h("td", { class: "mono" }),
    mode: h("td"),
    bar: h("progress", { max: 1, value: 0, "aria-hidden": "true" }),
    progress: h("span"),
    cost: h("td", { class: "num" }),
    started: h("time"),
    duration: h("td", { class: "num" }),
  };
  cells.row = h(
    "tr",
    { "data-run-id": run.id },
    h("td", {}, cells.link),
    h("td", {}, cells.status),
    cells.plan,
    cells.mode,
    h("td", { class: "num" }, cells.bar, cells.progress),
    cells.cost,
    h("td", {}, cells.started),
    cells.duration,
  );
  return cells;
}

function fillRow(cells, run) {
  const counts = run.counts || {};
  const done = counts.succeeded || 0;
  const total = counts.total || 0;
  const failed = counts.failed || 0;
  cells.created = run.created_at;
  setStatus(cells.status, run.status);
  cells.plan.textContent = run.plan_path;
  cells.plan.title = run.plan_path;
  cells.mode.textContent = run.mode;
  cells.bar.max = Math.max(total, 1);
  cells.bar.value = done;
  cells.progress.textContent = `${done}/${total}${failed ? ` (${failed} failed)` : ""}`;
  cells.cost.textContent = money(run.cost_usd);
  cells.started.dateTime = run.created_at;
  cells.started.textContent = when(run.created_at);
  setDuration(cells.duration, run.created_at, run.finished_at);
}

function upsert(run) {
  document.getElementById("no-runs")?.remove();
  let cells = rows.get(run.id);
  if (!cells) {
    cells = createRow(run);
    rows.set(run.id, cells);
    // newest first: before the first row of a run created earlier than this one
    const older = [...tbody.children].find((tr) => (rows.get(tr.dataset.runId)?.created || "") < run.created_at);
    tbody.insertBefore(cells.row, older || null);
  }
  fillRow(cells, run);
}

async function loadAll() {
  const list = await api("/api/v1/runs?limit=200");
  for (const run of list.items.slice().reverse()) upsert(run);
  if (!list.items.length && !rows.size) {
    tbody.replaceChildren(h("tr", { id: "no-runs" }, h("td", { colspan: 8, class: "empty" }, "No runs yet.")));
  }
  tbody.dataset.loaded = "true";
}

// One refresh per run at a time; a burst of its events becomes one or two requests, each
// answered once the read model holds the newest event seen (wait_for_event).
const refreshers = new Map();
function refresh(runId, seq) {
  if (!refreshers.has(runId)) {
    refreshers.set(
      runId,
      latest(async (upTo) => {
        const query = upTo ? `?wait_for_event=${upTo}` : "";
        upsert(await api(`/api/v1/runs/${encodeURIComponent(runId)}${query}`));
      }),
    );
  }
  refreshers.get(runId)(seq);
}

let loaded = false;
follow("/api/v1/events", ["ready", ...STATUS_EVENTS], {
  onEvent(type, data, seq) {
    if (type === "ready") {
      // The feed is open: the list now misses nothing that happens from here on.
      if (!loaded) loadAll().then(() => (loaded = true), (e) => notify(e.message));
      return;
    }
    if (type === "task.progress" || !data.run_id) return; // changes nothing the list shows
    refresh(data.run_id, seq);
  },
});
tickDurations();

// --- starting a run -------------------------------------------------------------------------
const form = document.getElementById("start-form");
const preview = document.getElementById("preview");
const selects = {
  start: document.getElementById("start-batch"),
  end: document.getElementById("end-batch"),
  phase: document.getElementById("phase"),
};

function options(select, first, values) {
  select.replaceChildren(h("option", { value: "" }, first), ...values.map(([v, label]) => h("option", { value: v }, label)));
}

function showPreview(plan) {
  const batches = plan.batches || [];
  const label = (b) => `${b.phase ? `phase ${b.phase} ` : ""}batch ${b.number}: ${b.title}`;
  const items = batches.map((b) =>
    h("li", {}, label(b), h("span", { class: "muted" }, ` — ${b.tasks.length} task${b.tasks.length === 1 ? "" : "s"}`)),
  );
  const warnings = (plan.warnings || []).map((w) => h("li", {}, `line ${w.line}: ${w.message}`));
  const notes = (plan.notes || []).map((n) => h("li", {}, `batch ${n.batch}: ${n.message}`));
  const parts = [
    h("h2", {}, plan.title || "The plan"),
    h("ul", { class: "batches" }, items.length ? items : h("li", { class: "empty" }, "no batches")),
    warnings.length ? [h("h3", {}, `Warnings (${warnings.length})`), h("ul", { class: "warnings" }, warnings)] : null,
    notes.length ? [h("h3", {}, "Tasks that wait for others (overlapping files)"), h("ul", { class: "notes" }, notes)] : null,
  ];
  preview.replaceChildren(...parts.flat().filter(Boolean));
  preview.hidden = false;
  const numbers = [...new Set(batches.map((b) => b.number))].map((n) => [n, n]);
  options(selects.start, "first", numbers);
  options(selects.end, "last", numbers);
  const phases = [...new Set(batches.map((b) => b.phase).filter(Boolean))].map((p) => [p, p]);
  options(selects.phase, "any", phases);
}

document.getElementById("preview-button").addEventListener("click", async () => {
  const planPath = form.plan_path.value.trim();
  if (!planPath) {
    notify("Give the plan's path first.");
    form.plan_path.focus();
    return;
  }
  try {
    showPreview(await api("/api/v1/plans/parse", { method: "POST", body: { plan_path: planPath } }));
  } catch (error) {
    preview.hidden = true;
    notify(error.message);
  }
});

form.agent.addEventListener("change", () => {
  document.getElementById("argv-label").hidden = form.agent.value !== "command";
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { plan_path: form.plan_path.value.trim(), execution_mode: form.execution_mode.value, land: form.land.value };
  if (!body.plan_path) {
    notify("Give the plan's path.");
    form.plan_path.focus();
    return;
  }
  for (const [key, select] of [["start_batch", selects.start], ["end_batch", selects.end], ["phase", selects.phase]]) {
    if (select.value) body[key] = select.value;
  }
  if (form.agent.value) body.agent = form.agent.value;
  if (form.agent.value === "command") {
    body.agent_argv = form.agent_argv.value.split("\n").map((a) => a.trim()).filter(Boolean);
  }
  const button = document.getElementById("start-button");
  button.disabled = true;
  try {
    const created = await api("/api/v1/runs", { method: "POST", body });
    notify(`Run ${created.id.slice(0, 8)} started: ${created.tasks_scheduled} tasks in ${created.batches_scheduled.length} batches.`, "info");
    refresh(created.id, 0);
  } catch (error) {
    notify(error.message);
  } finally {
    button.disabled = false;
  }
});
