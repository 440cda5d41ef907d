/**
 * pycc's supervisor view: the live wallboard (queues, agents, campaigns), listening to,
 * whispering to and barging in on an agent's call from the supervisor's own browser phone,
 * and forcing an agent's status.
 *
 * The wallboard is pushed by pycc over `/v1/wallboard` (a whole snapshot each time, at least
 * every 5 s); the page never polls. Monitoring uses pycc's feature codes: the supervisor's
 * phone dials the mode's code followed by the agent (`*34alice`), and once connected one key
 * on that call changes the mode (1 listen, 2 whisper, 3 barge). The supervisor has no
 * extension of its own, so the view asks for the one to use and remembers it.
 *
 * Nothing here touches the DOM until `startSupervisor`, so the pure parts (`readSnapshot`,
 * `formatWait`, `formatPercent`, `monitorTarget`) can be loaded anywhere. Anything from the
 * server reaches the page as textContent.
 */

import { applyTranslations, getLanguage, has, t } from "./i18n.js";
import { Backoff, Phone, socketUrl } from "./phone.js";
import { isObject, numberOrNull, textOf } from "./values.js";

export const MONITOR_MODES = Object.freeze(["listen", "whisper", "barge"]);

/** The key that switches a connected monitoring call to each mode. */
export const MODE_KEYS = Object.freeze({ listen: "1", whisper: "2", barge: "3" });

export const EXTENSION_KEY = "pycc.supExtension";
const EXTENSION = /^[0-9A-Za-z_.+-]{1,64}$/;

/** pycc sends at least every 5 s; this long without a word means the link is dead. */
const WALLBOARD_SILENCE_MS = 15000;
/** How long a hung-up monitoring call may take to end before the next one is dialed anyway. */
const HANGUP_WAIT_MS = 3000;

/** Phone closes that a reconnect cannot mend: forbidden, no such extension, taken over,
 * or no phone could be made for the extension (pycc said why in an `error` first). */
const PHONE_FINAL_CLOSES = new Set([4403, 4404, 4409, 1011]);

const QUEUE_FIELDS = Object.freeze([
  "waiting", "longest_wait", "answered", "abandoned", "overflowed", "service_level",
  "agents_logged_in", "agents_free",
]);
const AGENT_FIELDS = Object.freeze([
  "extension", "status", "state", "reason", "call", "calls_today", "monitor",
]);
const CAMPAIGN_FIELDS = Object.freeze([
  "running", "mode", "dial_level", "in_flight", "dialed", "answered", "connected",
  "abandoned", "abandon_rate", "contacts",
]);
const FORCE_ACTIONS = Object.freeze(["ready", "not_ready", "logout"]);

const NONE = "—";

// ---------------------------------------------------------------------------- pure parts

/** The items of `list` that are objects naming themselves in `key`, the first of each name. */
function named(list, key) {
  const seen = new Set();
  const items = [];
  for (const item of Array.isArray(list) ? list : []) {
    if (!isObject(item)) continue;
    const name = textOf(item[key]);
    if (name === "" || seen.has(name)) continue;
    seen.add(name);
    items.push(item);
  }
  return items;
}

/**
 * A wallboard message as the view uses it, or null when it is not a snapshot. Missing or
 * malformed values become null (numbers) or "" (words) rather than failing the whole picture.
 */
export function readSnapshot(message) {
  if (!isObject(message) || message.op !== "snapshot") return null;
  const codes = isObject(message.feature_codes) ? message.feature_codes : {};
  return {
    time: numberOrNull(message.time),
    queues: named(message.queues, "queue").map((q) => ({
      queue: textOf(q.queue),
      ...Object.fromEntries(QUEUE_FIELDS.map((field) => [field, numberOrNull(q[field])])),
    })),
    agents: named(message.agents, "agent").map((a) => ({
      agent: textOf(a.agent),
      extension: textOf(a.extension),
      status: textOf(a.status),
      state: textOf(a.state),
      reason: textOf(a.reason),
      call: textOf(a.call),
      calls_today: numberOrNull(a.calls_today),
    })),
    campaigns: named(message.campaigns, "campaign").map((c) => ({
      campaign: textOf(c.campaign),
      running: typeof c.running === "boolean" ? c.running : null,
      mode: textOf(c.mode),
      dial_level: numberOrNull(c.dial_level),
      in_flight: numberOrNull(c.in_flight),
      dialed: numberOrNull(c.dialed),
      answered: numberOrNull(c.answered),
      connected: numberOrNull(c.connected),
      abandoned: numberOrNull(c.abandoned),
      abandon_rate: numberOrNull(c.abandon_rate),
      contacts: isObject(c.contacts)
        ? Object.entries(c.contacts)
          .filter(([, count]) => numberOrNull(count) !== null)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        : [],
    })),
    featureCodes: Object.fromEntries(MONITOR_MODES.map((mode) => [mode, textOf(codes[mode])])),
    monitors: (Array.isArray(message.monitors) ? message.monitors : [])
      .filter((m) => isObject(m) && MONITOR_MODES.includes(m.mode) && textOf(m.agent) !== "")
      .map((m) => ({ agent: textOf(m.agent), supervisor: textOf(m.supervisor), mode: m.mode })),
  };
}

/** Seconds as m:ss (minutes keep counting past the hour); "—" when unknown. */
/** A dial level (lines per agent) as the language writes numbers: "2.5". */
export function formatLevel(level, lang = "en") {
  const value = numberOrNull(level);
  if (value === null) return NONE;
  return new Intl.NumberFormat(lang, { maximumFractionDigits: 2 }).format(value);
}

export function formatWait(seconds) {
  const value = numberOrNull(seconds);
  if (value === null) return NONE;
  const whole = Math.max(0, Math.floor(value));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

/** A ratio 0..1 as a percentage in the page's language; "—" when unknown. */
export function formatPercent(ratio, lang = "en") {
  const value = numberOrNull(ratio);
  if (value === null) return NONE;
  return new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 })
    .format(value);
}

/** What a phone's outgoing call dialed as `{mode, agent}` when it is a monitoring call. */
export function monitorTarget(call, featureCodes) {
  if (!isObject(call) || call.direction !== "outgoing" || typeof call.peer !== "string") {
    return null;
  }
  // The peer is the number dialed; tolerate pycc reporting it as a SIP URI.
  const number = call.peer.replace(/^sips?:/, "").replace(/@.*$/, "");
  let best = null;
  for (const mode of MONITOR_MODES) {
    const code = textOf(featureCodes?.[mode]);
    if (code && number.startsWith(code) && number.length > code.length
        && (best === null || code.length > best.code.length)) {
      best = { mode, code };
    }
  }
  return best && { mode: best.mode, agent: number.slice(best.code.length) };
}

function loggedIn(status) {
  return status !== "" && status !== "offline" && status !== "logged_out";
}

/** A server word in the page's language; one the page does not know shows as it is. */
function word(prefix, value) {
  const key = `${prefix}.${value}`;
  return has(key) ? t(key) : String(value);
}

function countText(value) {
  return value === null ? NONE : String(value);
}

// ---------------------------------------------------------------------------- DOM helpers

function element(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`index.html has no #${id}`);
  return found;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** A cell's shown text, and the raw value tests and scripts can read in `data-value`. */
function setCell(cell, text, raw) {
  setText(cell, text);
  const value = raw === null || raw === undefined ? "" : String(raw);
  if (cell.dataset.value !== value) cell.dataset.value = value;
}

function makeRow(key, value, fields) {
  const row = document.createElement("tr");
  row.dataset[key] = value;
  const head = document.createElement("th");
  head.scope = "row";
  head.dataset.field = key;
  head.textContent = value;
  row.append(head);
  for (const field of fields) {
    const cell = document.createElement("td");
    cell.dataset.field = field;
    row.append(cell);
  }
  return row;
}

function cellOf(row, field) {
  return row.querySelector(`[data-field="${field}"]`);
}

/**
 * Make `tbody` hold one row per item, in the items' order: rows are kept and updated in
 * place (a button under the pointer or in focus stays put), new ones are made, gone ones go.
 */
function syncRows(tbody, key, items, create, update) {
  const old = new Map([...tbody.rows].map((row) => [row.dataset[key], row]));
  const rows = items.map((item) => {
    const name = item[key];
    const row = old.get(name) ?? create(name);
    old.delete(name);
    update(row, item);
    return row;
  });
  for (const row of old.values()) row.remove();
  rows.forEach((row, index) => {
    if (tbody.rows[index] !== row) tbody.insertBefore(row, tbody.rows[index] ?? null);
  });
}

function badge(cell, attribute, value, text) {
  let span = cell.firstElementChild;
  if (!span) {
    span = document.createElement("span");
    span.className = "badge";
    cell.append(span);
  }
  cell.dataset[attribute] = value;
  span.dataset[attribute] = value;
  setText(span, text);
}

function actionButton(action, className = "") {
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.action = action;
  if (className) button.className = className;
  return button;
}

// ---------------------------------------------------------------------------- wallboard socket

/** The wallboard WebSocket: reconnects with back-off, except when pycc says it never will
 * let this session watch (4401: logged out, 4403: the role may not). */
class WallboardSocket {
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.backoff = new Backoff();
    this.ws = null;
    this.retryTimer = null;
    this.silenceTimer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.drop(1000, "logged out");
  }

  retryNow() {
    if (this.stopped || this.ws || this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  drop(code, reason) {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(code, reason);
  }

  connect() {
    this.retryTimer = null;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.watchSilence();
    ws.addEventListener("open", () => {
      if (ws === this.ws) this.handlers.onUp();
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      this.watchSilence();
      let message = null;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not a snapshot; the next one will be
      }
      const snapshot = readSnapshot(message);
      if (snapshot === null) return;
      // pycc talks to this page, so a quick reconnect is worth trying next time.
      this.backoff.reset();
      this.handlers.onSnapshot(snapshot);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearTimeout(this.silenceTimer);
      if (this.stopped) return;
      if (event.code === 4401 || event.code === 4403) {
        this.stopped = true;
        this.handlers.onRefused(event);
        return;
      }
      this.down(event.code);
    });
  }

  /** A connection that went silent (a dead network path) is given up and made again. */
  watchSilence() {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      if (this.stopped || this.ws === null) return;
      this.drop(4000, "silent");
      this.down(0);
    }, WALLBOARD_SILENCE_MS);
  }

  down(code) {
    this.handlers.onDown(code);
    this.retryTimer = setTimeout(() => this.connect(), this.backoff.next());
  }
}

// ---------------------------------------------------------------------------- the view

class SupervisorView {
  /**
   * @param {object} deps what the page gives the view: `api(method, path, body)` (throws a
   *   problem whose message is its detail), `sessionEnded()`, `checkSession()`,
   *   `setLost(name, lost)` for the connection banner, `phoneErrorText(detail)`.
   */
  constructor(deps) {
    this.deps = deps;
    this.el = Object.fromEntries([
      "supervisor", "sup-phone-form", "sup-extension", "sup-extension-error",
      "sup-phone-connect", "sup-phone-status", "sup-phone-error", "sup-monitor",
      "sup-remote-audio", "wallboard-time", "wallboard-error",
      "wallboard-queues", "wallboard-queues-none", "wallboard-agents",
      "wallboard-agents-none", "sup-agent-error", "wallboard-campaigns",
      "wallboard-campaigns-none",
    ].map((id) => [id, element(id)]));
    this.title = document.querySelector(".topbar-title");
    this.titleKey = this.title?.dataset.i18n ?? "";
    this.listeners = new AbortController();
    this.stopped = false;
    this.snapshot = null;
    this.refused = "";
    this.wallboard = null;
    this.phone = null;
    this.phoneExtension = "";
    this.phoneState = "offline";
    /** Monitoring calls on the phone by call id: `{agent, mode}` as this page placed them. */
    this.monitored = new Map();
    /** What the page dialed last and has not seen as a call yet. */
    this.dialing = null;
    /** A monitoring call waiting for the current one to end: `{after, agent, mode, timer}`. */
    this.next = null;
    /** A mode asked for while the monitoring call was still ringing: `{call, mode}`. */
    this.pendingKey = null;
    this.busy = new Set();
  }

  start() {
    const { signal } = this.listeners;
    this.el["sup-phone-form"].addEventListener("submit", (e) => this.submitExtension(e),
      { signal });
    this.el["wallboard-agents"].tBodies[0].addEventListener("click", (e) => this.clicked(e),
      { signal });
    if (this.title) this.title.dataset.i18n = "sup.title";
    this.el.supervisor.hidden = false;
    applyTranslations(this.el.supervisor);
    if (this.title) applyTranslations(this.title.parentElement);

    this.wallboard = new WallboardSocket(socketUrl("/v1/wallboard"), {
      onSnapshot: (snapshot) => this.received(snapshot),
      onUp: () => this.deps.setLost("wallboard", false),
      onDown: () => {
        this.deps.setLost("wallboard", true);
        // A refused handshake looks like any lost connection: ask whether the session lives.
        this.deps.checkSession();
      },
      onRefused: (event) => {
        this.deps.setLost("wallboard", false);
        if (event.code === 4401) {
          this.deps.sessionEnded();
          return;
        }
        this.refused = "forbidden";
        this.render();
      },
    });
    this.wallboard.start();

    const remembered = readExtension();
    this.el["sup-extension"].value = remembered;
    if (remembered) this.connectPhone(remembered);
    this.render();
  }

  stop() {
    this.stopped = true;
    this.listeners.abort();
    this.wallboard?.stop();
    this.wallboard = null;
    clearTimeout(this.next?.timer);
    this.next = null;
    this.phone?.stop();
    this.phone = null;
    if (window.pycc) window.pycc.wallboard = null;
    this.deps.setLost("wallboard", false);
    this.deps.setLost("supPhone", false);
    for (const table of ["wallboard-queues", "wallboard-agents", "wallboard-campaigns"]) {
      this.el[table].tBodies[0].replaceChildren();
    }
    for (const id of ["sup-phone-error", "sup-agent-error", "wallboard-error",
      "sup-extension-error", "wallboard-time"]) {
      this.el[id].textContent = "";
    }
    this.el["wallboard-time"].dataset.time = "";
    this.el["sup-extension"].removeAttribute("aria-invalid");
    this.el.supervisor.hidden = true;
    if (this.title) {
      this.title.dataset.i18n = this.titleKey;
      applyTranslations(this.title.parentElement);
    }
  }

  retryNow() {
    this.wallboard?.retryNow();
    this.phone?.retryNow();
  }

  // -------------------------------------------------------------------------- wallboard

  received(snapshot) {
    if (this.stopped) return;
    this.snapshot = snapshot;
    if (window.pycc) window.pycc.wallboard = snapshot;
    this.render();
  }

  render() {
    if (this.stopped) return;
    const snapshot = this.snapshot;
    const time = this.el["wallboard-time"];
    if (snapshot?.time != null) {
      time.dataset.time = String(snapshot.time);
      setText(time, t("sup.updated", {
        time: new Date(snapshot.time * 1000).toLocaleTimeString(getLanguage()),
      }));
    } else {
      time.dataset.time = "";
      setText(time, this.refused ? "" : t("sup.waiting"));
    }
    setText(this.el["wallboard-error"], this.refused ? t("sup.forbidden") : "");
    this.renderQueues();
    this.renderAgents();
    this.renderCampaigns();
    this.renderPhone();
  }

  renderQueues() {
    const queues = this.snapshot?.queues ?? [];
    const lang = getLanguage();
    syncRows(this.el["wallboard-queues"].tBodies[0], "queue", queues,
      (name) => makeRow("queue", name, QUEUE_FIELDS),
      (row, q) => {
        row.dataset.waiting = (q.waiting ?? 0) > 0 ? "yes" : "no";
        for (const field of QUEUE_FIELDS) {
          const value = q[field];
          const text = field === "longest_wait" ? formatWait(value)
            : field === "service_level" ? formatPercent(value, lang) : countText(value);
          setCell(cellOf(row, field), text, value);
        }
      });
    this.el["wallboard-queues-none"].hidden = this.snapshot === null || queues.length > 0;
  }

  renderCampaigns() {
    const campaigns = this.snapshot?.campaigns ?? [];
    const lang = getLanguage();
    syncRows(this.el["wallboard-campaigns"].tBodies[0], "campaign", campaigns,
      (name) => makeRow("campaign", name, CAMPAIGN_FIELDS),
      (row, c) => {
        row.dataset.running = c.running === null ? "" : c.running ? "yes" : "no";
        for (const field of CAMPAIGN_FIELDS) {
          const value = c[field];
          const cell = cellOf(row, field);
          if (field === "running") {
            setCell(cell, value === null ? NONE : t(value ? "sup.running.yes" : "sup.running.no"),
              value);
          } else if (field === "mode") {
            setCell(cell, value ? word("campaignMode", value) : NONE, value);
          } else if (field === "dial_level") {
            setCell(cell, value === null ? NONE : formatLevel(value, lang), value);
          } else if (field === "abandon_rate") {
            setCell(cell, formatPercent(value, lang), value);
          } else if (field === "contacts") {
            const text = value.map(([state, count]) => `${word("contactState", state)} ${count}`)
              .join(" · ");
            setCell(cell, text || NONE, JSON.stringify(Object.fromEntries(value)));
          } else {
            setCell(cell, countText(value), value);
          }
        }
      });
    this.el["wallboard-campaigns-none"].hidden =
      this.snapshot === null || campaigns.length > 0;
  }

  renderAgents() {
    const agents = this.snapshot?.agents ?? [];
    syncRows(this.el["wallboard-agents"].tBodies[0], "agent", agents,
      (name) => this.makeAgentRow(name),
      (row, a) => this.updateAgentRow(row, a));
    this.el["wallboard-agents-none"].hidden = this.snapshot === null || agents.length > 0;
  }

  makeAgentRow(name) {
    const row = makeRow("agent", name, AGENT_FIELDS);
    const cell = document.createElement("td");
    cell.dataset.field = "actions";
    const monitor = document.createElement("span");
    monitor.className = "row-actions";
    for (const mode of MONITOR_MODES) monitor.append(actionButton(mode, "toggle"));
    monitor.append(actionButton("stop", "danger"));
    const force = document.createElement("span");
    force.className = "row-actions";
    force.append(actionButton("ready", "good"), actionButton("not_ready", "warn"),
      actionButton("logout", "quiet"));
    const actions = document.createElement("div");
    actions.className = "agent-actions";
    actions.append(monitor, force);
    cell.append(actions);
    row.append(cell);
    return row;
  }

  updateAgentRow(row, a) {
    const name = a.agent;
    row.dataset.status = a.status;
    row.dataset.state = a.state;
    setCell(cellOf(row, "extension"), a.extension || NONE, a.extension);
    badge(cellOf(row, "status"), "status", a.status, a.status ? word("status", a.status) : NONE);
    badge(cellOf(row, "state"), "state", a.state, a.state ? word("state", a.state) : NONE);
    const reason = a.status === "not_ready" ? a.reason : "";
    setCell(cellOf(row, "reason"), reason ? word("reason", reason) : "", reason);
    setCell(cellOf(row, "call"), a.call || NONE, a.call);
    setCell(cellOf(row, "calls_today"), countText(a.calls_today), a.calls_today);

    const watching = (this.snapshot?.monitors ?? []).filter((m) => m.agent === name);
    const mine = this.myMonitor();
    const myMode = mine?.agent === name ? this.modeOf(mine) : "";
    const monitorCell = cellOf(row, "monitor");
    monitorCell.dataset.mode = myMode || (watching[0]?.mode ?? "");
    setText(monitorCell, watching.map((m) => t("sup.monitoring", {
      mode: t(`sup.monitoring.${m.mode}`), supervisor: m.supervisor || NONE,
    })).join(" · "));

    const codes = this.snapshot?.featureCodes ?? {};
    const canMonitor = a.state === "on_call" && this.phoneState === "ready";
    for (const mode of MONITOR_MODES) {
      const button = row.querySelector(`button[data-action="${mode}"]`);
      button.disabled = !canMonitor || !codes[mode];
      button.setAttribute("aria-pressed", String(myMode === mode));
      this.label(button, `sup.action.${mode}`, name);
    }
    const stop = row.querySelector('button[data-action="stop"]');
    stop.disabled = mine?.agent !== name;
    this.label(stop, "sup.action.stop", name);

    const busy = this.busy.has(name);
    const inQueues = loggedIn(a.status);
    const enabled = {
      ready: inQueues && a.status !== "available",
      not_ready: inQueues && a.status !== "not_ready",
      logout: inQueues,
    };
    for (const action of FORCE_ACTIONS) {
      const button = row.querySelector(`button[data-action="${action}"]`);
      // The buttons offer what makes sense now; pycc has the last word (409) on the rest.
      button.disabled = busy || !enabled[action];
      this.label(button, `sup.action.${action}`, name);
    }
  }

  label(button, key, agent) {
    setText(button, t(key));
    const aria = t(`${key}.aria`, { agent });
    if (button.getAttribute("aria-label") !== aria) button.setAttribute("aria-label", aria);
  }

  clicked(event) {
    const button = event.target.closest("button[data-action]");
    const row = button?.closest("tr[data-agent]");
    if (!button || !row || button.disabled) return;
    const agent = row.dataset.agent;
    const action = button.dataset.action;
    if (MONITOR_MODES.includes(action)) this.monitor(agent, action);
    else if (action === "stop") this.stopMonitor(agent);
    else if (FORCE_ACTIONS.includes(action)) this.forceState(agent, action);
  }

  async forceState(agent, action) {
    if (this.busy.has(agent)) return;
    this.busy.add(agent);
    this.el["sup-agent-error"].textContent = "";
    this.renderAgents();
    try {
      await this.deps.api("POST", `/v1/agents/${encodeURIComponent(agent)}/state`,
        { action, reason: "supervisor" });
    } catch (error) {
      if (!this.stopped) {
        this.el["sup-agent-error"].textContent = t("sup.forceFailed", {
          agent, detail: error.message,
        });
      }
    } finally {
      this.busy.delete(agent);
      // The change itself shows with the next snapshot, which pycc pushes at once.
      if (!this.stopped) this.renderAgents();
    }
  }

  // -------------------------------------------------------------------------- phone

  submitExtension(event) {
    event.preventDefault();
    const input = this.el["sup-extension"];
    const extension = input.value.trim();
    const problem = !extension ? t("sup.phone.noExtension")
      : !EXTENSION.test(extension) ? t("sup.phone.badExtension") : "";
    this.el["sup-extension-error"].textContent = problem;
    if (problem) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    input.value = extension;
    try {
      window.localStorage.setItem(EXTENSION_KEY, extension);
    } catch {
      // Storage disabled by policy: the phone connects, it is just not remembered.
    }
    this.connectPhone(extension);
  }

  connectPhone(extension) {
    this.phone?.stop();
    clearTimeout(this.next?.timer);
    this.next = null;
    this.pendingKey = null;
    this.dialing = null;
    this.monitored.clear();
    this.el["sup-phone-error"].textContent = "";
    const phone = new Phone({
      url: socketUrl(`/v1/phone?extension=${encodeURIComponent(extension)}`),
      audio: this.el["sup-remote-audio"],
    });
    this.phone = phone;
    this.phoneExtension = extension;
    this.phoneState = "connecting";
    if (window.pycc) window.pycc.phone = phone;
    const mine = () => phone === this.phone && !this.stopped;
    phone.addEventListener("connection", ({ detail }) => {
      if (!mine()) return;
      if (detail.up) {
        this.phoneState = "connecting";
        this.deps.setLost("supPhone", false);
      } else if (PHONE_FINAL_CLOSES.has(detail.code)) {
        this.phoneState = "offline";
        this.deps.setLost("supPhone", false);
        this.phoneClosedForGood(phone, extension, detail);
      } else {
        this.phoneState = "offline";
        this.deps.setLost("supPhone", true);
        if (detail.code === 4401) this.deps.checkSession();
      }
      this.render();
    });
    phone.addEventListener("ready", ({ detail }) => {
      if (!mine()) return;
      if (detail.ready) {
        this.phoneState = "ready";
        const error = this.el["sup-phone-error"];
        if (error.dataset.code === "not-connected") error.textContent = "";
      } else if (this.phoneState === "ready") {
        this.phoneState = "offline";
      }
      this.render();
    });
    phone.addEventListener("call", ({ detail }) => {
      if (mine()) this.callChanged(detail);
    });
    phone.addEventListener("error", ({ detail }) => {
      if (!mine()) return;
      const error = this.el["sup-phone-error"];
      error.textContent = this.deps.phoneErrorText(detail);
      error.dataset.code = detail.code ?? "";
    });
    phone.start();
    this.render();
  }

  /** pycc will not give this page a phone on that extension: say why, stop retrying. */
  phoneClosedForGood(phone, extension, detail) {
    const reason = detail.reason ? ` (${detail.reason})` : "";
    const error = this.el["sup-phone-error"];
    const key = { 4403: "sup.phone.forbidden", 4404: "sup.phone.notFound",
      4409: "sup.phone.takenOver" }[detail.code];
    // After a 1011, pycc's own `error` message (already shown) says what went wrong.
    if (key || !error.textContent) {
      error.textContent = key ? t(key, { extension }) + reason
        : t("sup.phone.failed", { extension }) + reason;
      error.dataset.code = String(detail.code);
    }
    // Not stopped right here: the phone schedules its reconnect after this event.
    queueMicrotask(() => {
      if (phone === this.phone) phone.stop();
    });
  }

  calls() {
    return this.phone ? [...this.phone.calls.values()] : [];
  }

  /** The monitoring call on the supervisor's phone as `{call, agent, mode}`, or null. */
  myMonitor() {
    for (const call of this.calls()) {
      const known = this.monitored.get(call.call);
      if (known) return { call, agent: known.agent, mode: known.mode };
    }
    return null;
  }

  /** The mode pycc reports for this supervisor's monitoring, else the one last asked for. */
  modeOf(mine) {
    const supervisor = this.phone?.extension || this.phoneExtension;
    const reported = (this.snapshot?.monitors ?? [])
      .find((m) => m.agent === mine.agent && m.supervisor === supervisor);
    return reported?.mode ?? mine.mode;
  }

  callChanged(call) {
    if (call.state === "ended") {
      this.monitored.delete(call.call);
      if (this.pendingKey?.call === call.call) this.pendingKey = null;
      if (this.next?.after === call.call) this.dialNext();
    } else if (!this.monitored.has(call.call)) {
      const target = monitorTarget(call, this.snapshot?.featureCodes)
        ?? (call.direction === "outgoing" && this.dialing && call.peer === this.dialing.number
          ? this.dialing : null);
      if (target) {
        this.monitored.set(call.call, { agent: target.agent, mode: target.mode });
        this.dialing = null;
      }
    }
    if (call.state === "answered" && this.pendingKey?.call === call.call) {
      const { mode } = this.pendingKey;
      this.pendingKey = null;
      this.sendMode(call.call, mode);
    }
    this.render();
  }

  monitor(agent, mode) {
    const phone = this.phone;
    if (!phone || this.phoneState !== "ready") {
      this.el["sup-phone-error"].textContent = t("phone.notConnected");
      this.el["sup-phone-error"].dataset.code = "not-connected";
      return;
    }
    this.el["sup-phone-error"].textContent = "";
    const mine = this.myMonitor();
    if (mine === null) {
      this.dial(agent, mode);
    } else if (mine.agent === agent) {
      if (mine.call.state === "answered" || mine.call.state === "held") {
        this.sendMode(mine.call.call, mode);
      } else {
        // Keys cannot go down a call that is not connected yet: sent once it is.
        this.pendingKey = { call: mine.call.call, mode };
        this.monitored.get(mine.call.call).mode = mode;
      }
    } else {
      clearTimeout(this.next?.timer);
      this.next = {
        after: mine.call.call, agent, mode,
        timer: setTimeout(() => this.dialNext(), HANGUP_WAIT_MS),
      };
      phone.hangup(mine.call.call);
    }
    this.render();
  }

  sendMode(call, mode) {
    if (this.phone?.dtmf(call, MODE_KEYS[mode])) {
      const known = this.monitored.get(call);
      if (known) known.mode = mode;
    }
  }

  dial(agent, mode) {
    const code = this.snapshot?.featureCodes?.[mode] ?? "";
    if (!code) {
      this.el["sup-phone-error"].textContent = t("sup.noCode", { mode: t(`sup.action.${mode}`) });
      return;
    }
    const number = `${code}${agent}`;
    if (this.phone?.dial(number)) this.dialing = { number, agent, mode };
  }

  dialNext() {
    const next = this.next;
    if (next === null) return;
    clearTimeout(next.timer);
    this.next = null;
    if (this.stopped || this.phoneState !== "ready") return;
    // Another call may have been made meanwhile; the newest wish wins, once.
    const mine = this.myMonitor();
    if (mine !== null && mine.call.call !== next.after) return;
    this.dial(next.agent, next.mode);
    this.render();
  }

  stopMonitor(agent) {
    const mine = this.myMonitor();
    if (mine === null || mine.agent !== agent) return;
    clearTimeout(this.next?.timer);
    this.next = null;
    this.pendingKey = null;
    this.phone?.hangup(mine.call.call);
  }

  renderPhone() {
    const status = this.el["sup-phone-status"];
    const ready = this.phoneState === "ready";
    status.dataset.ready = ready ? "yes" : "no";
    status.dataset.state = this.phoneState;
    setText(status, ready ? t("phone.ready", { extension: this.phone?.extension ?? "" })
      : this.phoneState === "connecting" ? t("phone.connecting") : t("phone.offline"));

    const line = this.el["sup-monitor"];
    const mine = this.myMonitor();
    if (mine === null) {
      line.dataset.mode = "";
      line.dataset.agent = "";
      setText(line, this.phone ? t("sup.monitor.none") : t("sup.phone.hint"));
      return;
    }
    const mode = this.modeOf(mine);
    line.dataset.mode = mode;
    line.dataset.agent = mine.agent;
    const connected = mine.call.state === "answered" || mine.call.state === "held";
    setText(line, t(connected ? "sup.monitor.active" : "sup.monitor.calling", {
      mode: t(`sup.monitoring.${mode}`), agent: mine.agent,
    }));
  }
}

function readExtension() {
  try {
    const stored = window.localStorage.getItem(EXTENSION_KEY) ?? "";
    return EXTENSION.test(stored) ? stored : "";
  } catch {
    return "";
  }
}

/**
 * Show the supervisor view and start its wallboard (and the phone, when an extension is
 * remembered). Returns the view: `stop()` at logout, `render()` after a language change,
 * `retryNow()` when the network is back.
 */
export function startSupervisor(deps) {
  const view = new SupervisorView(deps);
  view.start();
  return view;
}
