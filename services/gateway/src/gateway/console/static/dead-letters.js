// The dead letters, newest first (optionally one run's: ?run_id=…); resolved ones (their task
// has succeeded since) only when "Show resolved" is ticked.
import { api, h, notify, when } from "./console.js";

const runId = new URLSearchParams(location.search).get("run_id");
const tbody = document.getElementById("letters");
const showResolved = document.getElementById("show-resolved");

function runLink(id) {
  return id ? h("a", { href: `/runs/${encodeURIComponent(id)}` }, h("code", {}, id.slice(0, 8))) : "–";
}

function row(letter) {
  const task = letter.task_id && letter.run_id
    ? h("a", { href: `/runs/${encodeURIComponent(letter.run_id)}/tasks/${encodeURIComponent(letter.task_id)}` }, letter.task_id)
    : letter.task_id || "–";
  return h(
    "tr",
    {},
    h("td", {}, h("time", { datetime: letter.at }, when(letter.at))),
    h("td", {}, h("code", {}, letter.error_code), letter.resolved ? [" ", h("span", { class: "muted" }, "resolved")] : []),
    h("td", {}, letter.error || "–"),
    h("td", {}, runLink(letter.run_id)),
    h("td", { class: "mono" }, task),
    h("td", { class: "num" }, letter.attempt ?? "–"),
    h("td", { class: "num" }, String(letter.num_delivered)),
    h("td", { class: "mono hide-narrow" }, letter.subject),
  );
}

async function load() {
  const params = new URLSearchParams({ limit: "500" });
  if (runId) params.set("run_id", runId);
  if (showResolved.checked) params.set("include_resolved", "true");
  const query = `?${params}`;
  try {
    const list = await api(`/api/v1/dead-letters${query}`);
    tbody.replaceChildren(
      ...(list.items.length
        ? list.items.map(row)
        : [h("tr", {}, h("td", { colspan: 8, class: "empty" }, showResolved.checked ? "No dead letters." : "No unresolved dead letters."))]),
    );
  } catch (error) {
    notify(error.message);
  }
}

if (runId) {
  document.getElementById("filter").replaceChildren("Of run ", runLink(runId), " · ", h("a", { href: "/dead-letters" }, "all runs"));
}
document.getElementById("refresh").addEventListener("click", load);
showResolved.addEventListener("change", load);
load();
