/**
 * pycc's agent desktop: the login, the agent's status, the browser phone's controls, the
 * details of the call at hand and the wrap-up after it; beside them the tabs of desk.js
 * (customer, tickets, knowledge base, recent calls, profile), which are handed every change
 * of a call. Admins get the administration console (console.js); other users who are not
 * agents (supervisors, operators) get the supervisor view (supervisor.js).
 *
 * The page talks to pycc on its own origin: `/ui/session` for the cookie session (the page
 * only ever sees the CSRF token, sent back on every unsafe request), `/v1/...` for the
 * agent, `/v1/events` for live agent events and `/v1/phone` for the phone (phone.js).
 * Anything from the server or the user reaches the page as textContent, never as markup.
 */

import {
  applyTranslations, getLanguage, has, initialLanguage, onLanguageChange, setLanguage, t,
} from "./i18n.js";
import { startConsole } from "./console.js";
import { startDesk } from "./desk.js";
import { clearErrors, fieldError } from "./forms.js";
import { startKnowledgeBase } from "./knowledge.js";
import { Backoff, Phone, socketUrl } from "./phone.js";
import { startSupervisor } from "./supervisor.js";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const NOTES_MAX = 2000;
const DIAL_NUMBER = /^\+?[0-9*#]+$/;
/** What people type between digits and the server does not want. */
const NUMBER_PUNCTUATION = /[\s().-]/g;
const TIMER_TICK_MS = 500;

function element(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`index.html has no #${id}`);
  return found;
}

const ui = Object.fromEntries([
  "connection-lost", "who", "who-tenant", "lang", "logout", "app-error",
  "login-view", "login-form", "login-user", "login-password", "login-submit", "login-error",
  "not-agent", "not-agent-role", "not-agent-logout", "desktop", "sup-kb",
  "agent", "agent-status", "agent-state", "agent-extension", "agent-reason-row",
  "agent-reason", "agent-calls-today", "agent-error",
  "state-login", "state-ready", "state-not-ready", "not-ready-reason", "state-logout",
  "phone", "phone-status", "phone-error",
  "incoming", "incoming-peer", "incoming-info", "answer", "reject",
  "call", "call-peer", "call-direction", "call-state", "call-timer", "call-info", "call-none",
  "hangup", "hold", "mute", "transfer-form", "transfer-target", "transfer",
  "dial-form", "dial-number", "dial",
  "consult", "consult-held", "consult-transfer", "consult-conference",
  "wrapup-form", "wrapup-call", "wrapup-code", "wrapup-notes", "wrapup-notes-count",
  "wrapup-callback-row", "wrapup-callback", "wrapup-error", "wrapup-submit", "wrapup-skip",
  "wrapup-pending", "wrapup-done", "remote-audio", "announcements-bar",
].map((id) => [id, element(id)]));

const keypad = [...document.querySelectorAll(".keypad [data-digit]")];

/** Everything the page knows; `generation` changes at every login and logout so that
 * answers to requests of an earlier session are dropped. */
const app = {
  generation: 0,
  session: null,
  agent: null,
  agentLoading: false,
  agentStale: false,
  stateBusy: false,
  dispositions: [],
  dispositionsError: null,
  events: null,
  phone: null,
  phoneState: "offline",
  wrapup: null,
  wrapupQueue: [],
  lost: { events: false, phone: false },
  offline: false,
  timer: null,
  announcementTimer: null,
  supervisor: null,
  supervisorKb: null,
  console: null,
  desk: null,
};

window.pycc = { phone: null, session: null, lastWrapup: null };

// ---------------------------------------------------------------------------- requests

class Problem extends Error {
  /** A failed request: `status` 0 when the server could not be reached. */
  constructor(status, body) {
    const problem = body !== null && typeof body === "object" ? body : {};
    const detail = typeof problem.detail === "string" && problem.detail ? problem.detail
      : typeof problem.title === "string" && problem.title ? problem.title
        : status === 0 ? t("error.network") : t("error.unknown", { status });
    super(detail);
    this.status = status;
    this.problem = problem;
  }

  /** `[field, message]` per wrong field, the field being the last part of its location. */
  fields() {
    const errors = Array.isArray(this.problem.errors) ? this.problem.errors : [];
    return errors.filter((e) => e !== null && typeof e === "object").map((e) => {
      // RFC 9457 documents from pycc name the place as `loc` (a list) or `field` (dotted).
      const where = Array.isArray(e.loc) ? e.loc
        : typeof e.field === "string" ? e.field.split(".") : [];
      const message = e.msg ?? e.message ?? "";
      return [String(where.at(-1) ?? ""), String(message)];
    });
  }
}

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE.has(method) && app.session?.csrf) headers["X-CSRF-Token"] = app.session.csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Problem(0, null);
  }
  const text = response.status === 204 ? "" : await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      // A proxy's HTML error page: the status alone has to say what went wrong.
    }
  }
  if (!response.ok) throw new Problem(response.status, data);
  return data;
}

/** A request to the API; a 401 means the session ended, and the page goes back to login. */
async function api(method, path, body) {
  const generation = app.generation;
  try {
    return await request(method, path, body);
  } catch (error) {
    if (error instanceof Problem && error.status === 401 && generation === app.generation) {
      sessionEnded();
    }
    throw error;
  }
}

function agentPath(suffix = "") {
  return `/v1/agents/${encodeURIComponent(app.session.agent)}${suffix}`;
}

// ---------------------------------------------------------------------------- forms

/** Show a failed request: its detail on the form's line, each field's message by the field. */
function showProblem(form, line, error) {
  line.textContent = error.message;
  if (error instanceof Problem) {
    for (const [field, message] of error.fields()) fieldError(form, field, message);
  }
}

function show(el, visible) {
  el.hidden = !visible;
}

// ---------------------------------------------------------------------------- session

async function boot() {
  setLanguage(initialLanguage(), { remember: false });
  ui.lang.value = getLanguage();
  wire();
  try {
    startDesktop(await request("GET", "/ui/session"));
  } catch (error) {
    showLogin(error instanceof Problem && error.status === 401 ? "" : error.message);
  }
}

function showLogin(message = "") {
  show(ui["login-view"], true);
  ui["login-error"].textContent = message;
  ui["login-user"].focus();
}

async function submitLogin(event) {
  event.preventDefault();
  const form = ui["login-form"];
  clearErrors(form, ui["login-error"]);
  const user = ui["login-user"].value.trim();
  const password = ui["login-password"].value;
  if (!user || !password) {
    if (!user) fieldError(form, "user", t("error.required"));
    if (!password) fieldError(form, "password", t("error.required"));
    ui["login-error"].textContent = t("login.missing");
    (user ? ui["login-password"] : ui["login-user"]).focus();
    return;
  }
  ui["login-submit"].disabled = true;
  try {
    const session = await request("POST", "/ui/session", { user, password });
    ui["login-password"].value = "";
    startDesktop(session);
  } catch (error) {
    showProblem(form, ui["login-error"], error);
    if (error instanceof Problem && error.status === 401) {
      if (!error.problem.detail) ui["login-error"].textContent = t("login.failed");
      ui["login-password"].select();
    }
  } finally {
    ui["login-submit"].disabled = false;
  }
}

async function logout() {
  ui["app-error"].hidden = true;
  try {
    await request("DELETE", "/ui/session");
  } catch (error) {
    // 401: the session was already gone, which is what logging out wants.
    if (!(error instanceof Problem && error.status === 401)) {
      ui["app-error"].textContent = error.message;
      ui["app-error"].hidden = false;
      return;
    }
  }
  stopDesktop();
  showLogin();
}

function sessionEnded() {
  stopDesktop();
  showLogin(t("login.expired"));
}

function startDesktop(session) {
  if (session === null || typeof session !== "object" || typeof session.user !== "string") {
    showLogin(t("error.unknown", { status: 200 }));
    return;
  }
  stopDesktop();
  app.session = {
    user: session.user,
    tenant: String(session.tenant ?? ""),
    role: String(session.role ?? ""),
    agent: session.agent == null || session.agent === "" ? null : String(session.agent),
    csrf: String(session.csrf ?? ""),
  };
  window.pycc.session = app.session;
  show(ui["login-view"], false);
  ui["login-error"].textContent = "";
  ui.who.textContent = app.session.user;
  ui["who-tenant"].textContent = app.session.tenant
    ? t("header.tenant", { tenant: app.session.tenant }) : "";
  show(ui.who, true);
  show(ui["who-tenant"], Boolean(app.session.tenant));
  show(ui.logout, true);
  if (app.session.role === "admin") {
    startConsoleView();
    return;
  }
  if (app.session.agent === null && app.session.role !== "agent") {
    startSupervisorView();
    return;
  }
  if (app.session.agent === null) {
    renderNotAgent();
    show(ui["not-agent"], true);
    return;
  }
  show(ui.desktop, true);
  app.desk = startDesk({
    api,
    session: app.session,
    logout,
    agent: () => app.agent,
    dispositions: () => app.dispositions,
    dial: dialNumber,
  });
  renderAll();
  refreshAgent();
  loadDispositions();
  startEvents();
  startPhone();
  app.timer = setInterval(renderTimer, TIMER_TICK_MS);
}

function stopDesktop() {
  app.generation += 1;
  clearInterval(app.timer);
  app.timer = null;
  app.supervisor?.stop();
  app.supervisor = null;
  app.supervisorKb?.stop();
  app.supervisorKb = null;
  app.console?.stop();
  app.console = null;
  app.desk?.stop();
  app.desk = null;
  app.events?.stop();
  app.events = null;
  clearTimeout(app.announcementTimer);
  ui["announcements-bar"].replaceChildren();
  show(ui["announcements-bar"], false);
  app.phone?.stop();
  app.phone = null;
  app.phoneState = "offline";
  app.session = null;
  app.agent = null;
  app.agentLoading = false;
  app.agentStale = false;
  app.stateBusy = false;
  app.dispositions = [];
  app.dispositionsError = null;
  app.wrapup = null;
  app.wrapupQueue = [];
  app.lost = { events: false, phone: false };
  window.pycc.phone = null;
  window.pycc.session = null;
  for (const id of ["desktop", "not-agent", "who", "who-tenant", "logout", "app-error",
    "wrapup-form", "wrapup-done", "incoming", "call"]) {
    show(ui[id], false);
  }
  for (const id of ["agent-error", "phone-error", "wrapup-error"]) ui[id].textContent = "";
  renderBanner();
  renderTitle();
}

/** The wallboard and monitoring view, fed the page's requests, session and banner. */
function startSupervisorView() {
  const generation = app.generation;
  app.supervisor = startSupervisor({
    api,
    sessionEnded() {
      if (generation === app.generation) sessionEnded();
    },
    checkSession: () => checkSession(generation),
    setLost(name, lost) {
      if (generation !== app.generation) return;
      app.lost[name] = lost;
      renderBanner();
    },
    phoneErrorText,
  });
  // Supervisors write the knowledge base the agents read (admins do it in the console).
  app.supervisorKb = startKnowledgeBase(ui["sup-kb"], {
    session: app.session,
    sessionEnded() {
      if (generation === app.generation) sessionEnded();
    },
  });
  renderTitle();
}

/** The administration console; its wallboard tab gets what the supervisor view gets. */
function startConsoleView() {
  const generation = app.generation;
  app.console = startConsole({
    api,
    session: app.session,
    sessionEnded() {
      if (generation === app.generation) sessionEnded();
    },
    checkSession: () => checkSession(generation),
    setLost(name, lost) {
      if (generation !== app.generation) return;
      app.lost[name] = lost;
      renderBanner();
    },
    phoneErrorText,
  });
  renderTitle();
}

function renderNotAgent() {
  if (!app.session) return;
  ui["not-agent-role"].textContent = t("notAgent.role", {
    user: app.session.user, role: app.session.role,
  });
}

// ---------------------------------------------------------------------------- agent

/** A server word in the page's language; a word this page does not know shows as it is. */
function word(prefix, value) {
  const key = `${prefix}.${value}`;
  return has(key) ? t(key) : String(value);
}

async function refreshAgent() {
  // Events come in bursts; one request at a time, and one more if any came meanwhile.
  if (app.agentLoading) {
    app.agentStale = true;
    return;
  }
  const generation = app.generation;
  app.agentLoading = true;
  try {
    do {
      app.agentStale = false;
      const agent = await api("GET", agentPath());
      if (generation !== app.generation) return;
      app.agent = agent;
      renderAgent();
    } while (app.agentStale);
  } catch (error) {
    if (generation === app.generation) ui["agent-error"].textContent = error.message;
  } finally {
    if (generation === app.generation) app.agentLoading = false;
  }
}

async function changeState(action) {
  const generation = app.generation;
  const body = { action };
  if (action === "not_ready") body.reason = ui["not-ready-reason"].value;
  ui["agent-error"].textContent = "";
  app.stateBusy = true;
  renderAgent();
  try {
    const agent = await api("POST", agentPath("/state"), body);
    if (generation !== app.generation) return;
    app.agent = agent;
  } catch (error) {
    if (generation === app.generation) ui["agent-error"].textContent = error.message;
  } finally {
    if (generation === app.generation) {
      app.stateBusy = false;
      renderAgent();
    }
  }
}

function renderAgent() {
  const agent = app.agent ?? {};
  const status = typeof agent.status === "string" ? agent.status : "";
  const state = typeof agent.state === "string" ? agent.state : "";
  const none = t("agent.none");
  ui["agent-status"].dataset.status = status;
  ui["agent-status"].textContent = status ? word("status", status) : none;
  ui["agent-state"].dataset.state = state;
  ui["agent-state"].textContent = state ? word("state", state) : none;
  ui.agent.dataset.status = status;
  ui.agent.dataset.state = state;
  ui["agent-extension"].textContent = agent.extension ? String(agent.extension) : none;
  const reason = status === "not_ready" && agent.reason ? String(agent.reason) : "";
  ui["agent-reason"].textContent = reason ? word("reason", reason) : "";
  show(ui["agent-reason-row"], Boolean(reason));
  ui["agent-calls-today"].textContent =
    Number.isFinite(agent.calls_today) ? String(agent.calls_today) : none;
  // The buttons offer what makes sense now; pycc has the last word (409) on the rest.
  const known = status !== "";
  const loggedIn = known && status !== "logged_out" && status !== "offline";
  ui["state-login"].disabled = app.stateBusy || (known && loggedIn);
  ui["state-ready"].disabled = app.stateBusy || !loggedIn || status === "available";
  ui["state-not-ready"].disabled = app.stateBusy || !loggedIn;
  ui["not-ready-reason"].disabled = app.stateBusy || !loggedIn;
  ui["state-logout"].disabled = app.stateBusy || !loggedIn;
}

// ---------------------------------------------------------------------------- events

/** The live agent events; any event about this agent means: read the agent again. */
class EventStream {
  constructor(url, { onMessage, onUp, onDown }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onUp = onUp;
    this.onDown = onDown;
    this.backoff = new Backoff();
    this.ws = null;
    this.retryTimer = null;
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
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "logged out");
  }

  retryNow() {
    if (this.stopped || this.ws || this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  connect() {
    this.retryTimer = null;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (ws !== this.ws) return;
      this.backoff.reset();
      this.onUp();
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      let message = null;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not an event; nothing to refresh
      }
      if (message !== null && typeof message === "object") this.onMessage(message);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.onDown(event);
      this.retryTimer = setTimeout(() => this.connect(), this.backoff.next());
    });
  }
}

/** What supervisors announced to every agent, newest first, until it expires. */
async function loadAnnouncements() {
  const generation = app.generation;
  let notices = [];
  try {
    const found = await api("GET", "/v1/announcements");
    notices = Array.isArray(found) ? found : [];
  } catch {
    return; // the bar keeps what it showed; the next event or reconnect tries again
  }
  if (generation !== app.generation) return;
  const bar = ui["announcements-bar"];
  bar.replaceChildren();
  for (const notice of notices) {
    if (notice === null || typeof notice !== "object") continue;
    const item = document.createElement("li");
    item.dataset.announcement = String(notice.id ?? "");
    const author = document.createElement("span");
    author.className = "meta";
    author.textContent = t("announcement.from", { author: String(notice.author ?? "") });
    const text = document.createElement("span");
    text.textContent = String(notice.text ?? "");
    item.append(author, text);
    bar.append(item);
  }
  show(bar, bar.childElementCount > 0);
  clearTimeout(app.announcementTimer);
  const ends = notices.map((n) => Number(n?.until) * 1000).filter(Number.isFinite);
  if (ends.length > 0) {
    // Gone from the bar when the first one expires (plus a second for clocks).
    const wait = Math.max(1000, Math.min(...ends) - Date.now() + 1000);
    app.announcementTimer = setTimeout(loadAnnouncements, Math.min(wait, 3_600_000));
  }
}

function startEvents() {
  const generation = app.generation;
  app.events = new EventStream(socketUrl("/v1/events?topics=agent.*,announcement"), {
    onMessage(message) {
      const data = message.data !== null && typeof message.data === "object" ? message.data : {};
      const about = data.agent === undefined || data.agent === app.session?.agent;
      if (message.topic === "announcement") {
        loadAnnouncements();
      } else if (typeof message.topic === "string" && message.topic.startsWith("agent.")
                 && about) {
        refreshAgent();
      }
    },
    onUp() {
      app.lost.events = false;
      renderBanner();
      // Events may have been missed while the socket was down.
      refreshAgent();
      loadAnnouncements();
    },
    onDown() {
      app.lost.events = true;
      renderBanner();
      // A refused handshake looks like any lost connection (1006): ask if the session lives.
      checkSession(generation);
    },
  });
  app.events.start();
}

/** Back to the login when the session has ended (a network failure says nothing). */
async function checkSession(generation) {
  try {
    await request("GET", "/ui/session");
  } catch (error) {
    if (error instanceof Problem && error.status === 401 && generation === app.generation) {
      sessionEnded();
    }
  }
}

function renderBanner() {
  const lost = app.session !== null && Object.values(app.lost).some(Boolean);
  show(ui["connection-lost"], app.offline || lost);
}

function wentOffline() {
  app.offline = true;
  renderBanner();
}

function cameOnline() {
  app.offline = false;
  renderBanner();
  app.events?.retryNow();
  app.phone?.retryNow();
  app.supervisor?.retryNow();
  app.console?.retryNow();
}

// ---------------------------------------------------------------------------- phone

function startPhone() {
  const generation = app.generation;
  const phone = new Phone({ url: socketUrl("/v1/phone"), audio: ui["remote-audio"] });
  app.phone = phone;
  app.phoneState = "connecting";
  window.pycc.phone = phone;
  phone.addEventListener("connection", ({ detail }) => {
    if (generation !== app.generation) return;
    app.lost.phone = !detail.up;
    app.phoneState = detail.up ? "connecting" : "offline";
    renderBanner();
    renderPhone();
    if (!detail.up && (detail.code === 4401 || detail.code === 4403)) checkSession(generation);
  });
  phone.addEventListener("ready", ({ detail }) => {
    if (generation !== app.generation) return;
    if (detail.ready) {
      app.phoneState = "ready";
      // "Not connected" is no longer true; a microphone warning still is.
      if (ui["phone-error"].dataset.code === "not-connected") ui["phone-error"].textContent = "";
    } else if (app.phoneState === "ready") {
      app.phoneState = "offline";
    }
    renderPhone();
  });
  phone.addEventListener("call", ({ detail }) => {
    if (generation !== app.generation) return;
    if (detail.state === "answered") show(ui["wrapup-done"], false);
    if (detail.state === "ended" && detail.answeredAt !== null && detail.pycc_call) {
      queueWrapup(detail);
    }
    renderPhone();
    app.desk?.callChanged(detail);
  });
  phone.addEventListener("mute", () => {
    if (generation === app.generation) renderPhone();
  });
  phone.addEventListener("error", ({ detail }) => {
    if (generation !== app.generation) return;
    ui["phone-error"].textContent = phoneErrorText(detail);
    ui["phone-error"].dataset.code = detail.code ?? "";
  });
  phone.start();
}

function phoneErrorText(detail) {
  const message = detail.message ?? "";
  switch (detail.code) {
    case "server": return message;
    case "microphone": return t("phone.micDenied", { message });
    case "media": return t("phone.mediaFailed", { message });
    case "unsupported": return t("phone.unsupported");
    case "not-connected": return t("phone.notConnected");
    case "digits": return t("phone.badDigits");
    default: return t("phone.badMessage");
  }
}

function calls() {
  return app.phone ? [...app.phone.calls.values()] : [];
}

/** The call the call panel shows: one being talked on, else one the agent is placing. */
function currentCall() {
  const all = calls();
  return all.find((c) => c.state === "answered")
    ?? all.find((c) => c.state === "held")
    ?? all.find((c) => c.direction === "outgoing" && c.state === "ringing")
    ?? null;
}

function ringingCall() {
  return calls().find((c) => c.direction === "incoming" && c.state === "ringing") ?? null;
}

function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const minutes = String(Math.floor(whole / 60)).padStart(2, "0");
  return `${minutes}:${String(whole % 60).padStart(2, "0")}`;
}

function infoValue(key, value) {
  if (key === "queue_wait" && Number.isFinite(Number(value))) return clock(Number(value));
  if (key === "ivr_path" && Array.isArray(value)) return value.map(String).join(" › ");
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function addRow(list, label, value, className = "") {
  const row = document.createElement("div");
  if (className) row.className = className;
  const term = document.createElement("dt");
  term.textContent = label;
  const description = document.createElement("dd");
  description.textContent = value;
  row.append(term, description);
  list.append(row);
}

const INFO_ORDER = ["queue", "queue_wait", "ivr_path", "campaign"];

/** What pycc knows of a call (queue, wait, IVR path, campaign, the customer) as a list. */
function renderInfo(list, call, { withPeer = false } = {}) {
  list.replaceChildren();
  if (!call) return;
  if (withPeer) {
    addRow(list, t("info.peer"), call.peer || t("call.unknownPeer"));
    addRow(list, t("info.direction"), word("direction", call.direction));
  }
  const info = call.info ?? {};
  const present = (key) => Object.hasOwn(info, key) && info[key] !== null && info[key] !== "";
  const others = Object.keys(info).filter((key) => !INFO_ORDER.includes(key) && key !== "contact");
  for (const key of [...INFO_ORDER, ...others]) {
    if (present(key)) addRow(list, word("info", key), infoValue(key, info[key]));
  }
  const contact = info.contact;
  if (contact !== null && typeof contact === "object" && !Array.isArray(contact)) {
    const entries = Object.entries(contact).filter(([, value]) => value !== null && value !== "");
    if (entries.length > 0) {
      const heading = document.createElement("div");
      heading.className = "info-heading";
      const term = document.createElement("dt");
      term.textContent = t("info.contact");
      heading.append(term);
      list.append(heading);
      for (const [field, value] of entries) addRow(list, field, infoValue(field, value), "contact");
    }
  }
}

function renderPhone() {
  const status = ui["phone-status"];
  const ready = app.phoneState === "ready";
  status.dataset.ready = ready ? "yes" : "no";
  status.dataset.state = app.phoneState;
  status.textContent = ready ? t("phone.ready", { extension: app.phone?.extension ?? "" })
    : app.phoneState === "connecting" ? t("phone.connecting") : t("phone.offline");

  const ringing = ringingCall();
  show(ui.incoming, ringing !== null);
  ui.incoming.dataset.call = ringing?.call ?? "";
  ui["incoming-peer"].textContent = ringing ? (ringing.peer || t("call.unknownPeer")) : "";
  renderInfo(ui["incoming-info"], ringing);

  const call = currentCall();
  show(ui.call, call !== null);
  ui.call.dataset.call = call?.call ?? "";
  const talking = call !== null && (call.state === "answered" || call.state === "held");
  ui["call-peer"].textContent = call ? (call.peer || t("call.unknownPeer")) : "";
  ui["call-direction"].textContent = call ? word("direction", call.direction) : "";
  ui["call-state"].dataset.state = call?.state ?? "";
  ui["call-state"].textContent = call ? word("callstate", call.state) : "";
  ui.hold.setAttribute("aria-pressed", String(call?.state === "held"));
  ui.hold.disabled = !talking;
  ui.mute.setAttribute("aria-pressed", String(Boolean(app.phone?.muted)));
  ui.hangup.disabled = call === null;
  for (const button of keypad) button.disabled = call?.state !== "answered";
  ui["transfer-target"].disabled = !talking;
  ui.transfer.disabled = !talking;

  // A caller on hold and a second call answered: the agent consulted someone.
  const held = calls().find((c) => c.state === "held") ?? null;
  const consulted = calls().find((c) => c.state === "answered" && c !== held) ?? null;
  show(ui.consult, held !== null && consulted !== null);
  ui.consult.dataset.held = held?.call ?? "";
  ui.consult.dataset.consulted = consulted?.call ?? "";
  ui["consult-held"].textContent = held
    ? t("consult.held", { peer: held.peer || t("call.unknownPeer") }) : "";

  const shown = call ?? ringing;
  renderInfo(ui["call-info"], shown, { withPeer: true });
  show(ui["call-none"], shown === null);
  renderTimer();
  renderTitle();
}

function renderTimer() {
  const call = currentCall();
  const since = call?.answeredAt ?? null;
  ui["call-timer"].textContent = since === null ? "00:00" : clock((Date.now() - since) / 1000);
}

/** A ringing call shows in the tab's title too, for an agent working in another window. */
function renderTitle() {
  if (app.console) {
    document.title = t("console.title");
    return;
  }
  if (app.supervisor) {
    document.title = t("sup.title");
    return;
  }
  const ringing = app.session ? ringingCall() : null;
  document.title = ringing
    ? `${t("incoming.title")}: ${ringing.peer || t("call.unknownPeer")} · ${t("app.title")}`
    : t("app.title");
}

/** Run a phone action on the call a panel shows; errors of the last action give way. */
function onCall(panel, action) {
  const id = panel.dataset.call;
  if (!app.phone || !id) return;
  ui["phone-error"].textContent = "";
  action(app.phone, id);
}

function cleanNumber(text) {
  return text.trim().replace(NUMBER_PUNCTUATION, "");
}

/** Call `text` (as typed, or a customer's number as stored) from the agent's phone; false,
 * with the reason on the phone's error line, when it could not. */
function dialNumber(text) {
  ui["phone-error"].textContent = "";
  if (!app.phone) {
    ui["phone-error"].textContent = t("phone.notConnected");
    return false;
  }
  const number = cleanNumber(String(text ?? ""));
  if (!number) {
    ui["phone-error"].textContent = t("phone.noNumber");
    return false;
  }
  if (!DIAL_NUMBER.test(number)) {
    ui["phone-error"].textContent = t("phone.badNumber");
    return false;
  }
  return app.phone.dial(number);
}

function submitDial(event) {
  event.preventDefault();
  if (dialNumber(ui["dial-number"].value)) ui["dial-number"].value = "";
}

function submitTransfer(event) {
  event.preventDefault();
  const target = cleanNumber(ui["transfer-target"].value);
  if (!target) {
    ui["phone-error"].textContent = t("phone.noTarget");
    return;
  }
  onCall(ui.call, (phone, id) => {
    if (phone.transfer(id, target)) ui["transfer-target"].value = "";
  });
}

// ---------------------------------------------------------------------------- wrap-up

async function loadDispositions() {
  const generation = app.generation;
  try {
    const list = await api("GET", "/v1/dispositions");
    if (generation !== app.generation) return;
    app.dispositions = (Array.isArray(list) ? list : [])
      .filter((d) => d !== null && typeof d === "object" && typeof d.code === "string")
      .map((d) => ({ code: d.code, label: String(d.label ?? d.code), callback: d.callback === true }));
    app.dispositionsError = null;
  } catch (error) {
    if (generation === app.generation) app.dispositionsError = error.message;
  }
  if (generation === app.generation) renderDispositions();
}

function renderDispositions() {
  const select = ui["wrapup-code"];
  const chosen = select.value;
  const placeholder = select.options[0];
  select.replaceChildren(placeholder);
  for (const { code, label } of app.dispositions) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = label;
    select.append(option);
  }
  select.value = app.dispositions.some((d) => d.code === chosen) ? chosen : "";
  if (app.wrapup && app.dispositionsError && app.dispositions.length === 0) {
    ui["wrapup-error"].textContent = t("wrapup.noDispositions", { detail: app.dispositionsError });
  }
  renderCallbackField();
}

function queueWrapup(call) {
  const known = app.wrapup?.pycc_call === call.pycc_call
    || app.wrapupQueue.some((c) => c.pycc_call === call.pycc_call);
  if (known) return;
  app.wrapupQueue.push({ pycc_call: call.pycc_call, peer: call.peer });
  if (app.wrapup === null) openNextWrapup();
  else renderWrapupPending();
}

function openNextWrapup() {
  const form = ui["wrapup-form"];
  app.wrapup = app.wrapupQueue.shift() ?? null;
  if (app.wrapup === null) {
    show(form, false);
    return;
  }
  clearErrors(form, ui["wrapup-error"]);
  ui["wrapup-code"].value = "";
  ui["wrapup-notes"].value = "";
  ui["wrapup-callback"].value = "";
  ui["wrapup-submit"].disabled = false;
  renderWrapup();
  show(form, true);
  if (app.dispositions.length === 0) loadDispositions();
  ui["wrapup-code"].focus({ preventScroll: true });
}

function renderWrapup() {
  if (app.wrapup === null) return;
  ui["wrapup-call"].textContent = t("wrapup.call", {
    peer: app.wrapup.peer || t("call.unknownPeer"),
  });
  renderNotesCount();
  renderCallbackField();
  renderWrapupPending();
}

function renderNotesCount() {
  ui["wrapup-notes-count"].textContent = t("wrapup.count", {
    count: ui["wrapup-notes"].value.length, max: NOTES_MAX,
  });
}

/** Whether the disposition ``code`` asks for a time to call the customer back. */
function needsCallback(code) {
  return app.dispositions.some((d) => d.code === code && d.callback === true);
}

function renderCallbackField() {
  show(ui["wrapup-callback-row"], needsCallback(ui["wrapup-code"].value));
}

function renderWrapupPending() {
  const count = app.wrapupQueue.length;
  ui["wrapup-pending"].textContent = count ? t("wrapup.pending", { count }) : "";
  show(ui["wrapup-pending"], count > 0);
}

/** The callback time as unix seconds, null when none; undefined when it is not a time. */
function callbackSeconds() {
  if (!needsCallback(ui["wrapup-code"].value)) return null;
  const text = ui["wrapup-callback"].value;
  if (!text) return null;
  // Not valueAsNumber: for datetime-local it reads the wall-clock time as if it were UTC,
  // while Date reads an ISO date-time without offset as the agent's local time.
  const millis = new Date(text).getTime();
  return Number.isFinite(millis) ? Math.floor(millis / 1000) : undefined;
}

async function submitWrapup(event) {
  event.preventDefault();
  const form = ui["wrapup-form"];
  const item = app.wrapup;
  if (item === null) return;
  clearErrors(form, ui["wrapup-error"]);
  show(ui["wrapup-done"], false);
  const code = ui["wrapup-code"].value;
  const notes = ui["wrapup-notes"].value.trim();
  const callbackAt = callbackSeconds();
  const wrong = [];
  if (!code) wrong.push(["code", t("wrapup.noCode")]);
  if (notes.length > NOTES_MAX) wrong.push(["notes", t("wrapup.tooLong", { max: NOTES_MAX })]);
  if (callbackAt === undefined) wrong.push(["callback_at", t("wrapup.badCallback")]);
  if (wrong.length > 0) {
    for (const [field, message] of wrong) fieldError(form, field, message);
    return;
  }
  const generation = app.generation;
  ui["wrapup-submit"].disabled = true;
  try {
    await api("POST", agentPath("/wrapup"), {
      call: item.pycc_call, code, notes, callback_at: callbackAt,
    });
    if (generation !== app.generation) return;
    window.pycc.lastWrapup = item.pycc_call;
    ui["wrapup-done"].textContent = t("wrapup.saved");
    show(ui["wrapup-done"], true);
    openNextWrapup();
  } catch (error) {
    if (generation === app.generation) showProblem(form, ui["wrapup-error"], error);
  } finally {
    if (generation === app.generation) ui["wrapup-submit"].disabled = false;
  }
}

// ---------------------------------------------------------------------------- wiring

function renderAll() {
  applyTranslations();
  renderNotAgent();
  if (app.session) {
    ui["who-tenant"].textContent = app.session.tenant
      ? t("header.tenant", { tenant: app.session.tenant }) : "";
  }
  renderAgent();
  renderPhone();
  renderWrapup();
  renderNotesCount();
  if (!ui["wrapup-done"].hidden) ui["wrapup-done"].textContent = t("wrapup.saved");
  app.supervisor?.render();
  app.supervisorKb?.render();
  app.console?.render();
  app.desk?.render();
  renderTitle();
}

function wire() {
  applyTranslations();
  renderNotesCount();
  renderTitle();
  onLanguageChange(() => {
    ui.lang.value = getLanguage();
    renderAll();
  });
  ui.lang.addEventListener("change", () => setLanguage(ui.lang.value));

  ui["login-form"].addEventListener("submit", submitLogin);
  ui.logout.addEventListener("click", logout);
  ui["not-agent-logout"].addEventListener("click", logout);

  ui["state-login"].addEventListener("click", () => changeState("login"));
  ui["state-ready"].addEventListener("click", () => changeState("ready"));
  ui["state-not-ready"].addEventListener("click", () => changeState("not_ready"));
  ui["state-logout"].addEventListener("click", () => changeState("logout"));

  ui.answer.addEventListener("click", () => onCall(ui.incoming, (p, id) => p.answer(id)));
  ui.reject.addEventListener("click", () => onCall(ui.incoming, (p, id) => p.hangup(id)));
  ui.hangup.addEventListener("click", () => onCall(ui.call, (p, id) => p.hangup(id)));
  ui.hold.addEventListener("click", () => onCall(ui.call, (p, id) => {
    p.hold(id, ui.hold.getAttribute("aria-pressed") !== "true");
  }));
  ui.mute.addEventListener("click", () => {
    if (!app.phone) return;
    ui["phone-error"].textContent = "";
    app.phone.setMute(!app.phone.muted);
  });
  for (const button of keypad) {
    button.addEventListener("click", () => onCall(ui.call, (p, id) => {
      p.dtmf(id, button.dataset.digit);
    }));
  }
  ui["dial-form"].addEventListener("submit", submitDial);
  for (const [button, action] of [["consult-transfer", "completeTransfer"],
                                  ["consult-conference", "conference"]]) {
    ui[button].addEventListener("click", () => {
      const { held, consulted } = ui.consult.dataset;
      if (!app.phone || !held || !consulted) return;
      ui["phone-error"].textContent = "";
      app.phone[action](held, consulted);
    });
  }
  ui["transfer-form"].addEventListener("submit", submitTransfer);

  ui["wrapup-form"].addEventListener("submit", submitWrapup);
  ui["wrapup-code"].addEventListener("change", renderCallbackField);
  ui["wrapup-notes"].addEventListener("input", renderNotesCount);
  ui["wrapup-skip"].addEventListener("click", openNextWrapup);

  window.addEventListener("offline", wentOffline);
  window.addEventListener("online", cameOnline);
}

boot();
