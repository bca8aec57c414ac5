// What every page of the console shares: the API, building elements, states as words,
// following an event stream, asking for confirmation. Plain ES modules, no dependencies.

export const FINAL_RUN = new Set(["succeeded", "failed", "cancelled"]);
export const ENDED_TASK = new Set(["succeeded", "failed", "cancelled"]);
export const REPLAYABLE_TASK = new Set(["failed", "cancelled"]);

// Every status event type: EventSource delivers named events only to listeners of that name.
export const STATUS_EVENTS = [
  "run.accepted", "run.planned", "run.started", "run.succeeded", "run.failed", "run.halted",
  "run.cancelled", "run.budget_changed", "run.resumed", "run.landed", "run.pull_request",
  "batch.started", "batch.completed", "batch.integrated", "task.queued", "task.started",
  "task.progress", "task.integrated", "task.succeeded", "task.failed", "task.replay_refused",
];

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function describe(status, body, text) {
  if (body && typeof body.detail === "string") {
    const extra = Array.isArray(body.extra)
      ? body.extra.map((e) => (e.key ? `${e.key}: ${e.message}` : e.message)).join("; ")
      : "";
    return extra && !body.detail.includes(extra) ? `${body.detail} (${extra})` : body.detail;
  }
  return `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ""}`;
}

/** A JSON call to the gateway's API; an answer that is not 2xx throws an ApiError. */
export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) signIn();
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, describe(response.status, data, text));
  return data;
}

/** To the sign-in page (no token, or a revoked one), and back here afterwards. */
export function signIn() {
  location.assign(`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
}

/** "signed in as NAME" and a Sign out button in the header (none with CC_AUTH=off). */
async function showAccount() {
  const header = document.querySelector("header.top");
  if (!header) return;
  let me;
  try {
    me = await api("/api/v1/session");
  } catch {
    return; // signIn() is on its way, or the gateway is away: the page says so
  }
  if (!me.auth) return;
  const out = h("button", { type: "button", class: "secondary", id: "sign-out" }, "Sign out");
  out.addEventListener("click", async () => {
    await fetch("/api/v1/session", { method: "DELETE" });
    location.assign("/sign-in");
  });
  header.append(h("p", { class: "account", id: "account" }, `signed in as ${me.name}`, out));
}

showAccount();

/** An element: h("a", {href: "/", class: "x", onclick: f}, "text", child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

/** A state shown as a word and a colour (never the colour alone). */
export function setStatus(el, status) {
  el.className = `status status-${status}`;
  el.textContent = status;
  el.dataset.status = status;
  return el;
}

export const statusBadge = (status) => setStatus(h("span"), status);

export function money(usd) {
  if (usd === null || usd === undefined) return "–";
  const value = Number(usd);
  return `$${value > 0 && value < 0.01 ? value.toFixed(4) : value.toFixed(2)}`;
}

export function when(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function duration(startIso, endIso) {
  if (!startIso) return "–";
  const ms = Math.max(0, (endIso ? new Date(endIso) : new Date()) - new Date(startIso));
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** A time element showing a duration that goes on while it has no end (see tickDurations). */
export function setDuration(el, startIso, endIso) {
  el.textContent = duration(startIso, endIso);
  if (startIso && !endIso) el.dataset.since = startIso;
  else delete el.dataset.since;
}

export function tickDurations() {
  setInterval(() => {
    for (const el of document.querySelectorAll("[data-since]")) {
      el.textContent = duration(el.dataset.since, null);
    }
  }, 1000);
}

export const short = (sha) => (sha ? sha.slice(0, 10) : "–");

/** The header's connection indicator. */
export function setLive(state, text) {
  const el = document.getElementById("live");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = text || state;
}

/**
 * Follow a stream of Server-Sent Events. The browser reconnects by itself after a drop and
 * sends Last-Event-ID, so the stream resumes after the last event seen.
 * `onEvent(type, data, id)` gets each event; `onDrop(source)` runs when the connection ends:
 * it may close the source (nothing more can come) and return what to show instead of
 * "reconnecting…" (e.g. a halted run, whose stream the browser keeps asking for).
 */
export function follow(url, types, { onEvent, onDrop, onOpen } = {}) {
  const source = new EventSource(url);
  source.onopen = () => {
    setLive("live");
    if (onOpen) onOpen(source);
  };
  source.onerror = () => {
    const said = onDrop ? onDrop(source) : undefined;
    if (source.readyState === EventSource.CLOSED) {
      // Refused for good (e.g. a 401 after a revocation): ask whether we are still signed in.
      api("/api/v1/session").catch(() => {});
      setLive("closed", said || "not following");
    } else if (said) setLive("waiting", said);
    else setLive("reconnecting", "reconnecting…");
  };
  for (const type of types) {
    source.addEventListener(type, (message) => {
      let data = null;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      onEvent(type, data, Number(message.lastEventId) || 0);
    });
  }
  return source;
}

/** Run `task(arg)` with the latest arg asked for, never two at once (bursts of events → one). */
export function latest(task) {
  let running = false;
  let pending = null;
  const run = async (arg) => {
    if (running) {
      pending = { arg };
      return;
    }
    running = true;
    try {
      await task(arg);
    } catch (error) {
      notify(error.message);
    } finally {
      running = false;
      if (pending) {
        const next = pending.arg;
        pending = null;
        run(next);
      }
    }
  };
  return run;
}

/** Ask before doing something: a modal <dialog>, keyboard first (Escape says no). */
export function confirmAction(question, yes) {
  let dialog = document.getElementById("confirm");
  if (!dialog) {
    dialog = h(
      "dialog",
      { id: "confirm", "aria-labelledby": "confirm-text" },
      h(
        "form",
        { method: "dialog" },
        h("p", { id: "confirm-text" }),
        h(
          "div",
          { class: "buttons" },
          h("button", { value: "no", class: "secondary", id: "confirm-no" }, "Keep it"),
          h("button", { value: "yes", class: "danger", id: "confirm-yes" }),
        ),
      ),
    );
    document.body.append(dialog);
  }
  dialog.querySelector("#confirm-text").textContent = question;
  dialog.querySelector("#confirm-yes").textContent = yes;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
    dialog.querySelector("#confirm-no").focus();
  });
}

let noticeTimer = null;

/** Say something to the person (errors stay until the next message; news fades). */
export function notify(message, kind = "error") {
  const el = document.getElementById("notice");
  if (!el) return;
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (el.hidden = true), kind === "error" ? 12000 : 5000);
}

/** The path's segments after a prefix: /runs/ID/tasks/TASK → ["ID", "tasks", "TASK"]. */
export function pathParts(prefix) {
  return location.pathname.slice(prefix.length).split("/").filter(Boolean).map(decodeURIComponent);
}
