/**
 * pycc's administration console, for users with the `admin` role: one tab per part of the
 * call center. The configuration tabs edit the sections of the `pycc apply` file one entry
 * at a time over `/v1/config/{section}` (and phones' extensions over `/v1/extensions`);
 * the others run campaigns and their contact imports, the do-not-call list, users and their
 * API tokens, reports, recordings, the switch's health and alarms, announcements to the
 * agents, the skill groups (skillgroups.js), the knowledge base (knowledge.js), and the
 * supervisor's wallboard (supervisor.js), which an admin may watch too.
 *
 * Every configuration write carries the `If-Match` of the version its entry was read at.
 * When pycc answers 412 (someone else changed the configuration meanwhile) the console
 * reads the section again: if the entry itself is as it was, the write is sent again on the
 * new version; if not, the user is told and the edit stays in the editor. Problems pycc
 * names by field (`body.ring_timeout`) show by that field, the rest on the form's line.
 *
 * Nothing here touches the DOM until `startConsole`, so the pure parts can be loaded
 * anywhere. Anything from the server or the user reaches the page as textContent.
 */

import { when } from "./desk.js";
import { drawGraph, flowGraph, layoutGraph, stepAt } from "./flowgraph.js";
import { clearErrors, fieldError } from "./forms.js";
import { applyTranslations, getLanguage, has, t } from "./i18n.js";
import { KnowledgeTab } from "./knowledge.js";
import { SkillGroupsTab } from "./skillgroups.js";
import { formatPercent, startSupervisor } from "./supervisor.js";
import { isObject, numberOrNull, textOf } from "./values.js";

export const TABS = Object.freeze([
  "wallboard", "extensions", "agents", "skills", "queues", "ivr", "routes", "trunks",
  "campaigns", "dnc", "rates", "dispositions", "users", "reports", "recordings", "monitoring",
  "announcements", "kb",
]);

export const TAB_KEY = "pycc.consoleTab";

/** The queue strategies pycc knows (`pycc.ccs.strategies`). */
export const STRATEGIES = Object.freeze([
  "longest-idle", "round-robin", "fewest-calls", "least-talk-time", "ring-all", "random",
  "linear", "skill-weighted",
]);
export const ROLES = Object.freeze(["admin", "supervisor", "agent"]);
/** The SIP transports a trunk may use (`pycc.sip.address.TRANSPORTS`). */
export const TRANSPORTS = Object.freeze(["udp", "tcp", "tls"]);

const RANGE = ["since", "until"];
const FILTERS = [...RANGE, "agent", "queue", "campaign"];
const LISTING = ["limit", "tz"];
/** The options each report takes (`pycc.aaa.reports.registry`); pycc refuses the others. */
export const REPORT_OPTIONS = Object.freeze({
  calls: [...FILTERS, ...LISTING],
  records: [...FILTERS, ...LISTING],
  "summary-hourly": [...FILTERS, "tz"],
  "summary-daily": [...FILTERS, "tz"],
  agents: [...RANGE, "agent"],
  "agent-sessions": [...RANGE, "agent", ...LISTING],
  "agent-work": [...RANGE, "agent", ...LISTING],
  "agent-hourly": [...RANGE, "agent", "tz"],
  wrapup: FILTERS,
  customers: [...FILTERS, ...LISTING],
  "service-level": [...RANGE, "queue", "campaign", "threshold"],
  "ivr-keys": [],
  campaign: ["since", "campaign"],
  results: ["since", "campaign"],
  billing: [...RANGE, "campaign", "tz"],
});
export const REPORT_OPTION_NAMES = Object.freeze([
  "since", "until", "agent", "queue", "campaign", "tz", "limit", "threshold",
]);
/** Reports with a chart (`format=svg`). */
export const CHARTED_REPORTS = Object.freeze(["summary-daily"]);
/** Report columns that are epoch seconds, shown as dates. */
const TIME_COLUMNS = new Set(["start", "ring", "answer", "end", "queue_enter", "queue_exit",
  "agent_answer", "login", "logout", "first_call", "last_call"]);
export const PERIODS = Object.freeze(["custom", "today", "yesterday", "last7", "last30",
  "thisMonth", "lastMonth"]);

export const ANNOUNCEMENT_MAX = 500;
export const ANNOUNCEMENT_MINUTES_MAX = 1440;
/** What pycc takes in one contact import (`routes_campaigns.MAX_IMPORT_BYTES`). */
export const IMPORT_MAX_BYTES = 20 * 1024 * 1024;

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const PAGE = 100;
const POLL_MS = 5000;
/** Polls of the live tabs per tick: campaigns every tick, health every second one. */
const HEALTH_TICKS = 2;
/** How long a delete button waits for its second click. */
const CONFIRM_MS = 5000;
export const NONE = "—";

// ---------------------------------------------------------------------------- pure parts

/** A server word in the page's language; one the page does not know shows as it is. */
function word(prefix, value) {
  const key = `${prefix}.${value}`;
  return has(key) ? t(key) : String(value);
}

/** JSON with the keys of every object sorted: equal values give equal text. */
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isObject(value)) {
    return `{${Object.keys(value).sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** `{value}` of JSON text, or `{error}` saying where it is wrong. */
export function parseJson(text) {
  try {
    return { value: JSON.parse(String(text)) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The errors of an RFC 9457 problem from pycc as `{field, path, message}`: `path` as pycc
 * wrote it (`body.skills.sales`), `field` its first part after `body`, `query`, `path` or
 * `header` (`skills`), "" when the problem is about the whole body.
 */
export function problemList(problem) {
  const errors = isObject(problem) && Array.isArray(problem.errors) ? problem.errors : [];
  return errors.filter(isObject).map((e) => {
    const path = Array.isArray(e.loc) ? e.loc.map(String).join(".") : textOf(e.field);
    const parts = path.split(/[.[]/);
    const rest = ["body", "query", "path", "header"].includes(parts[0]) ? parts.slice(1) : parts;
    return { field: rest[0] ?? "", path, message: textOf(e.msg ?? e.message) };
  });
}

/** Skill levels as the console writes them: `sales:5, support:2`. */
export function skillsText(skills) {
  if (!isObject(skills)) return "";
  return Object.entries(skills).map(([skill, level]) => `${skill}:${textOf(level)}`)
    .join(", ");
}

/** `{skills}` of `sales:5, support:2` (commas, semicolons, `=` too), or `{problem}`. */
export function parseSkills(text) {
  const skills = {};
  const parts = String(text ?? "").split(/[,，;；\n]/).map((p) => p.trim()).filter(Boolean);
  for (const part of parts) {
    const match = /^([^:=\s]+)\s*[:=：]\s*(-?\d+)$/.exec(part);
    if (!match) return { problem: t("console.badSkill", { part }) };
    skills[match[1]] = Number(match[2]);
  }
  return { skills };
}

/** A one-target mapping (`{queue: sales}`) as `queue:sales`; null for anything else. */
export function targetText(value) {
  if (!isObject(value)) return null;
  const keys = Object.keys(value);
  if (keys.length !== 1) return null;
  const name = textOf(value[keys[0]]);
  return name === "" && value[keys[0]] !== "" ? null : `${keys[0]}:${name}`;
}

/** `{target}` of `queue:sales`, or `{problem}`. */
export function parseTarget(text) {
  const match = /^([a-z_]+)\s*:\s*(.+)$/.exec(String(text ?? "").trim());
  if (!match) return { problem: t("console.badTarget") };
  return { target: { [match[1]]: match[2].trim() } };
}

/**
 * What an input of `type` means for the entry: `{value}` to set, `{remove: true}` to leave
 * the key out, or `{problem}`.
 */
export function fieldValue(type, text, checked = false) {
  const value = String(text ?? "").trim();
  switch (type) {
    case "checkbox":
      return checked ? { value: true } : { remove: true };
    case "number": {
      if (value === "") return { remove: true };
      const number = Number(value);
      return Number.isFinite(number) ? { value: number } : { problem: t("console.notNumber") };
    }
    case "skills": {
      if (value === "") return { remove: true };
      const { skills, problem } = parseSkills(value);
      return problem ? { problem } : { value: skills };
    }
    case "target": {
      if (value === "") return { remove: true };
      const { target, problem } = parseTarget(value);
      return problem ? { problem } : { value: target };
    }
    default:
      return value === "" ? { remove: true } : { value };
  }
}

/** An entry's value as an input of `type` shows it; null when the input cannot. */
export function fieldText(type, value) {
  if (value === undefined || value === null) return "";
  switch (type) {
    case "checkbox":
      return value === true ? "true" : "";
    case "skills":
      return isObject(value) && Object.values(value).every((v) => textOf(v) !== "")
        ? skillsText(value) : null;
    case "target":
      return targetText(value);
    default:
      return typeof value === "string" || typeof value === "number" ? String(value) : null;
  }
}

/** The names pycc gives routes: their `name`, else their `match` (`#2`... for repeats). */
export function routeNames(routes) {
  const list = Array.isArray(routes) ? routes : [];
  const used = new Set(list.filter((r) => isObject(r) && typeof r.name === "string")
    .map((r) => r.name));
  return list.map((route) => {
    if (isObject(route) && typeof route.name === "string") return route.name;
    const base = isObject(route) && route.match !== undefined ? String(route.match) : "route";
    let candidate = base;
    for (let repeat = 2; used.has(candidate); repeat += 1) candidate = `${base}#${repeat}`;
    used.add(candidate);
    return candidate;
  });
}

/** A short text for a table cell: scalars as they are, one-target mappings as `kind:name`. */
export function cellText(value) {
  if (value === undefined || value === null || value === "") return NONE;
  if (typeof value === "boolean") return t(value ? "console.yes" : "console.no");
  if (typeof value === "string" || typeof value === "number") return String(value);
  const target = targetText(value);
  if (target !== null) return target;
  if (Array.isArray(value) && value.every((v) => isObject(v))) {
    const targets = value.map(targetText);
    if (targets.every((v) => v !== null)) return targets.join(", ");
  }
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(", ");
  return JSON.stringify(value);
}

/** A `datetime-local` value as epoch seconds (the browser's zone), null when empty,
 * undefined when it is not a time. */
export function localSeconds(text) {
  if (!text) return null;
  const millis = new Date(text).getTime();
  return Number.isFinite(millis) ? Math.floor(millis / 1000) : undefined;
}

function pad(number) {
  return String(number).padStart(2, "0");
}

/** A Date as a `datetime-local` value in the browser's zone. */
export function localInput(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`
    + `T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** The `[since, until]` Dates of a named period around `now` (until: null = now). */
export function periodRange(period, now) {
  const day = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const daysBack = (n) => new Date(day.getFullYear(), day.getMonth(), day.getDate() - n);
  switch (period) {
    case "today": return [day, null];
    case "yesterday": return [daysBack(1), day];
    case "last7": return [daysBack(6), null];
    case "last30": return [daysBack(29), null];
    case "thisMonth": return [new Date(day.getFullYear(), day.getMonth(), 1), null];
    case "lastMonth":
      return [new Date(day.getFullYear(), day.getMonth() - 1, 1),
        new Date(day.getFullYear(), day.getMonth(), 1)];
    default: return null;
  }
}

/**
 * The query of report `name` in `format` from the form's `values` (text by option name):
 * only the options the report takes (all of them for a report this page does not know),
 * only those given; times as epoch seconds.
 */
export function reportQuery(name, values, format = "json") {
  const takes = REPORT_OPTIONS[name] ?? REPORT_OPTION_NAMES;
  const query = new URLSearchParams();
  for (const option of takes) {
    let value = String(values[option] ?? "").trim();
    if (value === "") continue;
    if (option === "since" || option === "until") {
      const seconds = localSeconds(value);
      if (seconds === undefined || seconds === null) continue;
      value = String(seconds);
    }
    query.set(option, value);
  }
  query.set("format", format);
  return query.toString();
}

/** An import's answer as the rows pycc refused, by line: `{line, kind, reason}`. */
export function refusedRows(answer) {
  const rows = [];
  for (const kind of ["rejected", "duplicates", "do_not_call"]) {
    const list = isObject(answer) && Array.isArray(answer[kind]) ? answer[kind] : [];
    for (const row of list) {
      if (!isObject(row)) continue;
      rows.push({ line: numberOrNull(row.line), kind, reason: textOf(row.reason) });
    }
  }
  return rows.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/** The checks of `GET /health` as `{name, status, detail}` (a mapping or a list). */
export function healthChecks(health) {
  const checks = isObject(health) ? health.checks : null;
  const items = Array.isArray(checks) ? checks.filter(isObject).map((c) => [textOf(c.name), c])
    : isObject(checks) ? Object.entries(checks).filter(([, c]) => isObject(c)) : [];
  return items.map(([name, check]) => ({
    name, status: textOf(check.status), detail: textOf(check.detail),
  }));
}

/** Alarms as the console shows them, whichever names pycc gives their fields. */
export function alarmsOf(list) {
  return (Array.isArray(list) ? list : []).filter(isObject).map((a) => ({
    kind: textOf(a.kind),
    key: textOf(a.key ?? a.subject),
    severity: textOf(a.severity),
    text: textOf(a.text ?? a.message),
    since: numberOrNull(a.since ?? a.raised_at),
  }));
}

/** An announcement's form values as pycc's body, and `[field, message]` for each wrong one. */
export function checkAnnouncement(text, minutes) {
  const wrong = [];
  const body = { text: String(text ?? "").trim(), minutes: Number(String(minutes ?? "").trim()) };
  if (!body.text) wrong.push(["text", t("error.required")]);
  else if (body.text.length > ANNOUNCEMENT_MAX) {
    wrong.push(["text", t("console.tooLong", { max: ANNOUNCEMENT_MAX })]);
  }
  if (!Number.isInteger(body.minutes) || body.minutes < 1
      || body.minutes > ANNOUNCEMENT_MINUTES_MAX) {
    wrong.push(["minutes", t("console.announce.badMinutes", { max: ANNOUNCEMENT_MINUTES_MAX })]);
  }
  return { body, wrong };
}

/** The numbers typed in one box: one a line, or separated by commas or semicolons. */
export function splitNumbers(text) {
  return String(text ?? "").split(/[\n,，;；]/).map((n) => n.trim()).filter(Boolean);
}

/** A fresh `Idempotency-Key`. */
export function newKey() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function formatSeconds(value) {
  const seconds = numberOrNull(value);
  if (seconds === null) return NONE;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}:${pad(whole % 60)}`;
}

function formatBytes(value) {
  const size = numberOrNull(value);
  if (size === null) return NONE;
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}

// ---------------------------------------------------------------------------- the sections

/**
 * How each configuration section is edited: the field naming an entry (`key`), the form's
 * inputs (`fields`; `detached` ones are not part of the entry's JSON), the table's columns,
 * and what a new entry starts as.
 */
export const SECTIONS = Object.freeze({
  extensions: {
    key: "number",
    fields: [
      { name: "number", type: "text", key: true },
      { name: "name", type: "text" },
      { name: "password", type: "password", detached: true },
    ],
    columns: ["number", "name"],
    template: {},
  },
  agents: {
    key: "id",
    fields: [
      { name: "id", type: "text", key: true },
      { name: "extension", type: "text", list: "console-extension-numbers" },
      { name: "skills", type: "skills", hint: "console.hint.skills" },
      { name: "name", type: "text" },
    ],
    columns: ["id", "extension", "skills", "name"],
    template: {},
  },
  queues: {
    key: "name",
    fields: [
      { name: "name", type: "text", key: true },
      { name: "skill", type: "text" },
      { name: "strategy", type: "select", options: STRATEGIES },
      { name: "ring_timeout", type: "number" },
      { name: "wrapup", type: "number" },
      { name: "max_wait", type: "number" },
      { name: "max_size", type: "number" },
      { name: "service_level", type: "number" },
      { name: "music", type: "text", hint: "console.hint.prompt" },
      { name: "overflow", type: "target", hint: "console.hint.target" },
      { name: "no_agents", type: "target", hint: "console.hint.target" },
    ],
    columns: ["name", "skill", "strategy", "ring_timeout", "wrapup", "music"],
    template: {},
  },
  dispositions: {
    key: "code",
    fields: [
      { name: "code", type: "text", key: true },
      { name: "label", type: "text" },
      { name: "callback", type: "checkbox" },
    ],
    columns: ["code", "label", "callback"],
    template: {},
  },
  ivr: {
    key: "name",
    fields: [],
    columns: ["name", "steps"],
    template: { name: "", steps: ["answer", { play: "tts:Welcome" }, "hangup"] },
  },
  routes: {
    key: "name",
    // A route without a name goes by its match, so the name is not a key field here.
    fields: [
      { name: "match", type: "text", hint: "console.hint.match" },
      { name: "to", type: "target", hint: "console.hint.routeTarget" },
      { name: "name", type: "text", hint: "console.hint.routeName" },
    ],
    columns: ["name", "match", "to"],
    template: { match: "", to: { queue: "" } },
  },
  dids: {
    key: "number",
    fields: [],
    columns: ["number", "to"],
    template: { number: "", to: { ivr: "" } },
  },
  calendars: {
    key: "name",
    fields: [{ name: "name", type: "text", key: true, detached: true }],
    columns: ["name", "dates"],
    template: [],
  },
  trunks: {
    key: "name",
    fields: [
      { name: "name", type: "text", key: true },
      { name: "host", type: "text", hint: "console.hint.host" },
      { name: "transport", type: "select", options: TRANSPORTS },
      { name: "register", type: "checkbox" },
      { name: "username", type: "text" },
      { name: "password", type: "password" },
      { name: "options_interval", type: "number", hint: "console.hint.optionsInterval" },
      { name: "max_calls", type: "number" },
    ],
    columns: ["name", "host", "transport", "register"],
    template: { name: "", host: "" },
  },
  campaigns: {
    key: "name",
    fields: [],
    columns: ["name", "mode", "queue", "trunk"],
    template: { name: "", mode: "progressive", queue: "", trunk: "" },
  },
});

/** The name an entry of `section` goes by (calendars come as `{name, value}`). */
export function entryName(section, entry, index = 0, all = []) {
  if (section === "routes") {
    return all.length > 0 ? routeNames(all)[index] : routeNames([entry])[0];
  }
  if (section === "calendars") return textOf(entry?.name);
  return isObject(entry) ? textOf(entry[SECTIONS[section].key]) : "";
}

// ---------------------------------------------------------------------------- requests

export class ApiProblem extends Error {
  /** A failed request: `status` 0 when pycc could not be reached. */
  constructor(status, body) {
    const problem = isObject(body) ? body : {};
    const detail = textOf(problem.detail) || textOf(problem.title)
      || (status === 0 ? t("error.network") : t("error.unknown", { status }));
    super(detail);
    this.status = status;
    this.problem = problem;
  }
}

/** The entry changed on the server since the editor read it. */
class Conflict extends Error {}

/** Requests of the console: the session's CSRF value on every change, a 401 ends the
 * session, and the answer's ETag is handed back with its data. */
export class Client {
  constructor(deps) {
    this.deps = deps;
    this.stopped = false;
  }

  /** `accept`: statuses that answer with the document asked for although they are not 2xx. */
  async send(method, path, { json, body, type, headers = {}, accept = [] } = {}) {
    const sent = { Accept: "application/json", ...headers };
    let payload;
    if (json !== undefined) {
      sent["Content-Type"] = "application/json";
      payload = JSON.stringify(json);
    } else if (body !== undefined) {
      sent["Content-Type"] = type;
      payload = body;
    }
    const csrf = this.deps.session?.csrf;
    if (UNSAFE.has(method) && csrf) sent["X-CSRF-Token"] = csrf;
    let response;
    try {
      response = await fetch(path, { method, headers: sent, body: payload,
        credentials: "same-origin" });
    } catch {
      throw new ApiProblem(0, null);
    }
    const text = response.status === 204 ? "" : await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        // Not JSON (a proxy's error page): the status has to say what went wrong.
      }
    }
    if (!response.ok && !accept.includes(response.status)) {
      if (response.status === 401 && !this.stopped) this.deps.sessionEnded();
      throw new ApiProblem(response.status, data);
    }
    return { status: response.status, data, etag: response.headers.get("ETag") };
  }

  async get(path) {
    return (await this.send("GET", path)).data;
  }
}

// ---------------------------------------------------------------------------- DOM helpers

function element(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`index.html has no #${id}`);
  return found;
}

/** An element with attributes (`text` its textContent, `i18n` its data-i18n key) and
 * children (strings become text). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "i18n") el.dataset.i18n = value;
    else if (key === "i18nAria") el.dataset.i18nAriaLabel = value;
    else if (key === "i18nPlaceholder") el.dataset.i18nPlaceholder = value;
    else if (key === "data") Object.assign(el.dataset, value);
    else if (key === "hidden") el.hidden = true;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function button(i18n, props = {}) {
  return h("button", { type: "button", i18n, ...props });
}

/** A table with a head of translated column names; `num` columns align right. */
export function table(id, columns, { actions = false, num = [] } = {}) {
  const head = columns.map((c) => h("th", { scope: "col", i18n: c.label,
    class: num.includes(c.name) ? "num" : null }));
  if (actions) head.push(h("th", { scope: "col", i18n: "console.actions" }));
  return h("table", { id, class: "list-table" }, h("thead", {}, h("tr", {}, head)), h("tbody"));
}

export function cell(text, { field = null, raw, num = false } = {}) {
  const td = h("td", { class: num ? "num" : null, text });
  if (field) td.dataset.field = field;
  if (raw !== undefined) td.dataset.value = raw === null ? "" : String(raw);
  return td;
}

export function rowHead(text) {
  return h("th", { scope: "row", text });
}

/** A message line made of several lines of text. */
export function setLines(line, messages) {
  line.replaceChildren(...messages.filter(Boolean)
    .map((m) => h("span", { class: "line", text: m })));
}

/** One labelled input with its error line: `[label, input, hint?, error]`. */
export function inputRow(prefix, spec) {
  const id = `${prefix}-${spec.name.replaceAll("_", "-")}`;
  const errorId = `${id}-error`;
  const label = spec.label ?? `console.field.${spec.name}`;
  let input;
  if (spec.type === "select") {
    input = h("select", { id, name: spec.name },
      spec.empty === false ? null : h("option", { value: "", i18n: "console.default" }),
      ...spec.options.map((option) => (typeof option === "string"
        ? h("option", { value: option, text: option })
        : h("option", { value: option.value, i18n: option.i18n }))));
  } else if (spec.type === "textarea") {
    input = h("textarea", { id, name: spec.name, rows: spec.rows ?? 3, maxlength: spec.max,
      spellcheck: spec.code ? "false" : null, class: spec.code ? "code" : null });
  } else {
    const type = { password: "password", checkbox: "checkbox", file: "file",
      datetime: "datetime-local" }[spec.type] ?? "text";
    input = h("input", {
      id, name: spec.name, type, autocomplete: type === "password" ? "new-password" : "off",
      spellcheck: type === "text" ? "false" : null, list: spec.list,
      inputmode: spec.type === "number" ? "decimal" : null, maxlength: spec.max,
      accept: spec.accept, autocapitalize: type === "text" ? "none" : null,
    });
  }
  input.setAttribute("aria-describedby", errorId);
  const error = h("p", { id: errorId, class: "field-error", data: { errorFor: spec.name } });
  const hint = spec.hint ? h("p", { class: "hint", i18n: spec.hint }) : null;
  if (spec.type === "checkbox") {
    return h("div", { class: "field", data: { field: spec.name } },
      h("label", { class: "check" }, input, h("span", { i18n: label })), hint, error);
  }
  return h("div", { class: "field", data: { field: spec.name } },
    h("label", { for: id, i18n: label }), input, hint, error);
}

/** Whether `form` has a place for the errors of `field`. */
function hasErrorPlace(form, field) {
  return [...form.querySelectorAll("[data-error-for]")]
    .some((el) => el.dataset.errorFor === field);
}

/**
 * Show a failed request: each field's message by its field, the whole body's by `whole`.
 * A part of the body the form has no input for (a field of an entry edited as JSON:
 * `body.tables[0].rates[0].price`) is shown by `whole` too, with its path; the rest goes on
 * the form's line. Returns the fields shown.
 */
export function showProblem(form, line, error, { whole = null } = {}) {
  const items = error instanceof ApiProblem ? problemList(error.problem) : [];
  const shown = new Map();
  const rest = [];
  for (const { field, path, message } of items) {
    const own = field === "" ? whole : field;
    let name = null;
    let text = message;
    if (own && hasErrorPlace(form, own)) {
      name = own;
    } else if (whole && /^body([.[]|$)/.test(path) && hasErrorPlace(form, whole)) {
      name = whole;
      const inner = path.replace(/^body\.?/, "");
      if (inner) text = `${inner}: ${message}`;
    }
    if (name === null) rest.push(path ? `${path}: ${message}` : message);
    else shown.set(name, [...(shown.get(name) ?? []), text]);
  }
  for (const [name, messages] of shown) fieldError(form, name, messages.join("\n"));
  const intro = items.length === 0 ? (error?.message ?? String(error))
    : rest.length > 0 ? t("console.refused") : t("console.fixFields");
  setLines(line, [intro, ...rest]);
  return [...shown.keys()];
}

/** Messages by the fields they name, the first such field in focus. */
export function showWrong(form, wrong) {
  for (const [field, message] of wrong) fieldError(form, field, message);
  const first = wrong.length > 0 ? form.elements.namedItem(wrong[0][0]) : null;
  if (first && typeof first.focus === "function") first.focus();
}

/**
 * A delete button that asks once more: the first click turns it into "Really delete?",
 * a second within a few seconds runs `action`.
 */
export function confirmed(btn, action) {
  if (btn.dataset.confirm === "yes") {
    clearTimeout(Number(btn.dataset.timer));
    btn.dataset.confirm = "";
    btn.textContent = t(btn.dataset.i18nKey);
    action();
    return;
  }
  btn.dataset.i18nKey = btn.dataset.i18nKey || btn.dataset.i18n || "console.delete";
  btn.dataset.confirm = "yes";
  btn.textContent = t("console.confirmDelete");
  btn.dataset.timer = String(setTimeout(() => {
    btn.dataset.confirm = "";
    btn.textContent = t(btn.dataset.i18nKey);
  }, CONFIRM_MS));
}

export function rowButton(action, i18n, className, label) {
  const b = h("button", { type: "button", class: `small ${className}`.trim(), i18n,
    data: { action } });
  b.textContent = t(i18n);
  if (label) b.setAttribute("aria-label", label);
  return b;
}

// ---------------------------------------------------------------------------- entries

/**
 * One configuration section: its entries in a table, and an editor of one entry (a form of
 * the common fields where the section has them, and the whole entry as JSON).
 */
class EntrySection {
  constructor(view, section, { withGraph = false } = {}) {
    this.view = view;
    this.client = view.client;
    this.section = section;
    this.spec = SECTIONS[section];
    this.withGraph = withGraph;
    this.entries = [];
    this.names = [];
    this.etag = null;
    this.loaded = false;
    this.loading = null;
    this.editing = { name: null, base: undefined };
    this.dirty = new Set();
    this.problems = new Map();
    this.graph = null;
    this.busy = false;
  }

  get jsonOnly() {
    return this.spec.fields.every((f) => f.detached);
  }

  path(name) {
    if (this.section === "extensions") {
      return name === undefined ? "/v1/extensions" : `/v1/extensions/${encodeURIComponent(name)}`;
    }
    const base = `/v1/config/${this.section}`;
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  build() {
    const s = this.section;
    const prefix = `console-${s}`;
    const columns = this.spec.columns.map((name) => ({ name, label: `console.field.${name}` }));
    this.table = table(`${prefix}-list`, columns, { actions: true });
    this.none = h("p", { class: "muted empty", i18n: "console.none", hidden: true });
    this.error = h("p", { id: `${prefix}-error`, class: "error", role: "alert" });
    this.title = h("h3", { id: `${prefix}-form-title` });
    this.entryInput = h("textarea", { id: `${prefix}-entry`, name: "entry", class: "code",
      rows: this.jsonOnly ? 14 : 8, spellcheck: "false",
      "aria-describedby": `${prefix}-entry-error`,
      i18nAria: this.jsonOnly ? null : "console.entryJson" });
    const entryError = h("p", { id: `${prefix}-entry-error`, class: "field-error",
      data: { errorFor: "entry" } });
    const entryLabel = h("label", { for: `${prefix}-entry`,
      i18n: s === "calendars" ? "console.calendarJson" : "console.entryJson" });
    const entryHint = h("p", { class: "hint", i18n: s === "calendars" ? "console.hint.calendar"
      : this.jsonOnly ? "console.hint.jsonOnly" : "console.hint.json" });
    this.advanced = this.jsonOnly ? null
      : h("details", { class: "advanced" }, h("summary", { i18n: "console.advanced" }),
        entryHint, this.entryInput, entryError);
    this.line = h("p", { id: `${prefix}-form-error`, class: "error", role: "alert" });
    this.saved = h("p", { id: `${prefix}-saved`, class: "hint", role: "status" });
    this.saveButton = h("button", { id: `${prefix}-save`, type: "submit", class: "primary",
      i18n: "console.save" });
    this.revertButton = button("console.revert", { id: `${prefix}-revert`, class: "quiet" });
    this.form = h("form", { id: `${prefix}-form`, class: "stack-form console-editor",
      novalidate: true, data: { entry: "" }, "aria-labelledby": `${prefix}-form-title` },
    this.title,
    this.spec.fields.map((f) => inputRow(prefix, f)),
    this.jsonOnly ? [entryLabel, entryHint, this.entryInput, entryError] : this.advanced,
    this.line,
    h("div", { class: "actions" }, this.saveButton, this.revertButton),
    this.saved);
    this.newButton = button("console.new", { id: `${prefix}-new`, class: "primary" });
    this.reloadButton = button("console.refresh", { id: `${prefix}-refresh`, class: "quiet" });
    let graph = null;
    if (this.withGraph) {
      this.graphStale = h("p", { id: "ivr-graph-stale", class: "hint", i18n: "console.ivr.stale",
        hidden: true });
      this.svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      this.svg.id = "ivr-graph";
      this.svg.setAttribute("class", "ivr-graph");
      graph = h("div", { class: "ivr-graph-block" },
        h("h3", { i18n: "console.ivr.graph" }), this.graphStale,
        h("div", { class: "ivr-graph-scroll" }, this.svg));
    }
    this.root = h("section", { id: `console-block-${s}`, class: "panel console-block" },
      h("div", { class: "panel-head" }, h("h2", { i18n: `console.section.${s}` }),
        h("span", { class: "head-actions" }, this.newButton, this.reloadButton)),
      h("p", { class: "hint", i18n: `console.about.${s}` }),
      this.error,
      h("div", { class: graph ? "console-split with-graph" : "console-split" },
        h("div", { class: "console-list" }, h("div", { class: "table-scroll console-scroll" },
          this.table), this.none),
        this.form,
        graph));
    this.wire();
    this.open(null);
    return this.root;
  }

  wire() {
    const on = this.view.on.bind(this.view);
    on(this.form, "submit", (event) => this.save(event));
    on(this.revertButton, "click", () => this.revert());
    on(this.newButton, "click", () => {
      this.open(null);
      this.focusFirst();
    });
    on(this.reloadButton, "click", () => this.load());
    on(this.table.tBodies[0], "click", (event) => this.clicked(event));
    on(this.entryInput, "input", () => this.jsonChanged());
    for (const spec of this.spec.fields) {
      const input = this.form.elements.namedItem(spec.name);
      const type = spec.type === "checkbox" || spec.type === "select" ? "change" : "input";
      on(input, type, () => this.fieldChanged(spec));
    }
  }

  focusFirst() {
    const first = this.spec.fields.find((f) => !f.detached || f.key) ?? null;
    const target = first ? this.form.elements.namedItem(first.name) : this.entryInput;
    target?.focus();
  }

  /** Read the section again (at most one read at a time). */
  load() {
    if (this.loading) return this.loading;
    this.loading = this.read().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  async read() {
    this.error.textContent = "";
    try {
      const answer = await this.client.send("GET", this.path());
      if (this.view.stopped) return;
      this.loaded = true;
      this.take(answer.data, answer.etag);
      // A flow opens at once, so that its graph shows.
      if (this.withGraph && this.editing.name === null && this.dirty.size === 0
          && !this.touched && this.entries.length > 0) {
        this.open(this.names[0]);
      }
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = error.message;
    }
  }

  take(data, etag) {
    if (this.section === "calendars") {
      this.entries = isObject(data) ? Object.entries(data).map(([name, value]) => ({ name, value }))
        : [];
    } else {
      this.entries = Array.isArray(data) ? data : [];
    }
    this.names = this.entries.map((entry, index) => entryName(this.section, entry, index,
      this.entries));
    if (etag) this.etag = etag;
    this.renderTable();
  }

  /** The entry called `name` in `entries` (as read), undefined when there is none. */
  find(name, entries = this.entries, names = this.names) {
    const index = names.indexOf(name);
    return index < 0 ? undefined : entries[index];
  }

  renderTable() {
    const body = this.table.tBodies[0];
    body.replaceChildren(...this.entries.map((entry, index) => {
      const name = this.names[index];
      const row = h("tr", { data: { name } });
      if (name === this.editing.name) row.setAttribute("aria-current", "true");
      row.append(rowHead(name || NONE));
      for (const column of this.spec.columns.slice(1)) {
        row.append(cell(this.columnText(entry, column), { field: column }));
      }
      row.append(h("td", { class: "cell-actions" },
        rowButton("edit", "console.edit", "", t("console.editAria", { name })),
        rowButton("delete", "console.delete", "danger", t("console.deleteAria", { name }))));
      return row;
    }));
    this.none.hidden = !this.loaded || this.entries.length > 0;
  }

  columnText(entry, column) {
    if (this.section === "calendars") {
      return column === "dates" && Array.isArray(entry.value) ? String(entry.value.length) : NONE;
    }
    if (!isObject(entry)) return cellText(entry);
    if (column === "skills") return skillsText(entry.skills) || cellText(entry.skills);
    if (column === "skill") {
      return entry.skill !== undefined ? cellText(entry.skill) : skillsText(entry.skills)
        || cellText(entry.skills);
    }
    if (column === "steps") return Array.isArray(entry.steps) ? String(entry.steps.length) : NONE;
    return cellText(entry[column]);
  }

  clicked(event) {
    const btn = event.target.closest("button[data-action]");
    const row = btn?.closest("tr[data-name]");
    if (!btn || !row) return;
    const name = row.dataset.name;
    if (btn.dataset.action === "edit") {
      this.open(name);
      this.focusFirst();
    } else if (btn.dataset.action === "delete") {
      confirmed(btn, () => this.remove(name));
    }
  }

  /** Show entry `name` (null: a new one) in the editor. */
  open(name) {
    const entry = name === null ? undefined : this.find(name);
    this.editing = { name: entry === undefined ? null : name, base: entry };
    this.dirty.clear();
    this.touched = false;
    this.problems.clear();
    clearErrors(this.form, this.line);
    this.saved.textContent = "";
    this.form.dataset.entry = this.editing.name ?? "";
    const value = this.section === "calendars" ? entry?.value : entry;
    const shown = value === undefined ? this.spec.template : value;
    this.entryInput.value = JSON.stringify(this.jsonPart(shown), null, 2);
    for (const spec of this.spec.fields) {
      const input = this.form.elements.namedItem(spec.name);
      if (spec.detached) {
        input.value = spec.key && this.editing.name !== null ? this.editing.name : "";
      }
      if (spec.key) {
        input.readOnly = this.editing.name !== null;
        input.setAttribute("aria-readonly", String(this.editing.name !== null));
      }
    }
    this.fillFields(shown);
    if (this.advanced) this.advanced.open = false;
    this.renderTitle();
    for (const row of this.table.tBodies[0].rows) {
      if (row.dataset.name === this.editing.name) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
    this.drawGraph();
  }

  /** What of an entry goes in the JSON box: all but the detached fields (the password). */
  jsonPart(value) {
    if (!isObject(value)) return value;
    const copy = { ...value };
    for (const spec of this.spec.fields) if (spec.detached) delete copy[spec.name];
    return copy;
  }

  fillFields(entry) {
    for (const spec of this.spec.fields) {
      if (spec.detached) continue;
      const input = this.form.elements.namedItem(spec.name);
      const text = fieldText(spec.type, isObject(entry) ? entry[spec.name] : undefined);
      if (spec.type === "checkbox") {
        input.checked = text === "true";
      } else {
        input.value = text ?? "";
        // A value the input cannot show (a skill schedule, say) stays in the JSON.
        if (text === null) input.setAttribute("placeholder", t("console.seeJson"));
        else input.removeAttribute("placeholder");
      }
      if (spec.type === "select" && text && ![...input.options].some((o) => o.value === text)) {
        input.append(h("option", { value: text, text }));
        input.value = text;
      }
    }
  }

  renderTitle() {
    const name = this.editing.name;
    this.title.textContent = name === null ? t(`console.new.${this.section}`)
      : t("console.editing", { name });
  }

  /** A form field changed: the JSON follows, when it reads. */
  fieldChanged(spec) {
    this.touched = true;
    fieldError(this.form, spec.name, "");
    this.form.elements.namedItem(spec.name).removeAttribute("aria-invalid");
    if (spec.detached) return;
    this.dirty.add(spec.name);
    const input = this.form.elements.namedItem(spec.name);
    const result = fieldValue(spec.type, input.value, input.checked);
    if (result.problem) return;
    const parsed = parseJson(this.entryInput.value);
    if (parsed.error || !isObject(parsed.value)) return;
    const entry = parsed.value;
    if (result.remove) delete entry[spec.name];
    else entry[spec.name] = result.value;
    this.entryInput.value = JSON.stringify(entry, null, 2);
  }

  /** The JSON changed: the form follows, when it reads. */
  jsonChanged() {
    this.touched = true;
    const parsed = parseJson(this.entryInput.value);
    if (!parsed.error) {
      fieldError(this.form, "entry", "");
      this.entryInput.removeAttribute("aria-invalid");
      if (isObject(parsed.value)) {
        this.fillFields(parsed.value);
        this.dirty.clear();
      }
    }
    this.drawGraph();
  }

  drawGraph() {
    if (!this.withGraph) return;
    const parsed = parseJson(this.entryInput.value);
    if (parsed.error) {
      this.graphStale.hidden = false;
      this.svg.dataset.stale = "yes";
      return;
    }
    this.graphStale.hidden = true;
    this.svg.dataset.stale = "";
    this.graph = flowGraph(parsed.value);
    const name = isObject(parsed.value) ? textOf(parsed.value.name) : "";
    drawGraph(this.svg, layoutGraph(this.graph), {
      title: t("console.ivr.graphTitle", { name: name || NONE }), problems: this.problems,
    });
    this.svg.dataset.flow = name;
  }

  revert() {
    this.open(this.editing.name);
  }

  /** The entry and its name as the editor holds them, or `wrong` fields. */
  collect() {
    const wrong = [];
    const parsed = parseJson(this.entryInput.value);
    if (parsed.error) wrong.push(["entry", t("console.badJson", { detail: parsed.error })]);
    else if (this.section !== "calendars" && !isObject(parsed.value)) {
      wrong.push(["entry", t("console.notObject")]);
    }
    for (const name of this.dirty) {
      const spec = this.spec.fields.find((f) => f.name === name);
      const input = this.form.elements.namedItem(name);
      const result = fieldValue(spec.type, input.value, input.checked);
      if (result.problem) wrong.push([name, result.problem]);
    }
    const value = parsed.value;
    let name = "";
    const keyField = this.spec.fields.find((f) => f.key) ?? null;
    if (this.section === "calendars") {
      name = this.form.elements.namedItem("name").value.trim();
    } else if (isObject(value)) {
      name = entryName(this.section, value);
    }
    const where = keyField ? keyField.name : "entry";
    if (wrong.length === 0 && !name) {
      wrong.push([where, t(this.section === "routes" ? "console.noMatch" : "error.required")]);
    } else if (wrong.length === 0 && this.editing.name !== null && name !== this.editing.name) {
      wrong.push([where, t("console.noRename", { name: this.editing.name })]);
    } else if (wrong.length === 0 && this.editing.name === null && this.names.includes(name)) {
      // PUT would replace the entry of that name: editing it is done from its row.
      wrong.push([where, t("console.exists", { name })]);
    }
    return { value, name, wrong };
  }

  async save(event) {
    event.preventDefault();
    if (this.busy) return;
    clearErrors(this.form, this.line);
    this.saved.textContent = "";
    this.problems.clear();
    const { value, name, wrong } = this.collect();
    if (wrong.length > 0) {
      if (wrong.some(([field]) => field === "entry") && this.advanced) this.advanced.open = true;
      showWrong(this.form, wrong);
      this.drawGraph();
      return;
    }
    this.busy = true;
    this.saveButton.disabled = true;
    try {
      await this.write("PUT", name, this.bodyOf(value));
      if (this.view.stopped) return;
      await this.load();
      const fresh = this.find(name);
      this.open(fresh === undefined ? null : name);
      this.saved.textContent = t("console.saved", { name });
      this.view.changed(this.section);
    } catch (error) {
      if (this.view.stopped) return;
      if (error instanceof Conflict) {
        setLines(this.line, [t("console.conflict", { name })]);
      } else {
        const placed = showProblem(this.form, this.line, error, { whole: "entry" });
        if (placed.includes("entry") && this.advanced) this.advanced.open = true;
        this.markSteps(error);
      }
    } finally {
      this.busy = false;
      this.saveButton.disabled = false;
    }
  }

  bodyOf(value) {
    if (this.section !== "extensions") return value;
    const body = {};
    // pycc keeps the name when none is sent: an emptied name is sent as "".
    if (isObject(value) && (Object.hasOwn(value, "name") || this.editing.base?.name)) {
      body.name = textOf(value.name);
    }
    const password = this.form.elements.namedItem("password").value;
    if (password) body.password = password;
    return body;
  }

  /** Problems inside an IVR flow mark its steps in the graph. */
  markSteps(error) {
    if (!this.withGraph || !(error instanceof ApiProblem) || this.graph === null) return;
    for (const { path, message } of problemList(error.problem)) {
      const label = stepAt(this.graph, path);
      if (label !== null) {
        this.problems.set(label, [this.problems.get(label), message].filter(Boolean).join("\n"));
      }
    }
    this.drawGraph();
  }

  /**
   * PUT or DELETE entry `name` on the version it was read at. On a 412 the section is read
   * again: an entry still as the editor read it is written again on the new version, else
   * `Conflict` (and the editor's base becomes the new version: saving again replaces it).
   */
  async write(method, name, body) {
    const options = method === "PUT" ? { json: body } : {};
    for (let attempt = 0; ; attempt += 1) {
      const headers = this.section !== "extensions" && this.etag ? { "If-Match": this.etag } : {};
      try {
        const answer = await this.client.send(method, this.path(name), { ...options, headers });
        if (answer.etag) this.etag = answer.etag;
        return answer;
      } catch (error) {
        if (!(error instanceof ApiProblem) || error.status !== 412 || attempt > 0) throw error;
        const base = method === "PUT" ? this.editing.base : this.find(name);
        await this.load();
        const now = this.find(name);
        if (canonical(now) !== canonical(base)) {
          if (method === "PUT") this.editing.base = now;
          throw new Conflict();
        }
      }
    }
  }

  async remove(name) {
    this.error.textContent = "";
    try {
      await this.write("DELETE", name);
      if (this.view.stopped) return;
      if (this.editing.name === name) this.open(null);
      await this.load();
      this.view.changed(this.section);
    } catch (error) {
      if (this.view.stopped) return;
      if (error instanceof Conflict) {
        setLines(this.error, [t("console.conflictDelete", { name })]);
      } else {
        const lines = problemList(error.problem).map(({ path, message }) =>
          (path ? `${path}: ${message}` : message));
        setLines(this.error, [error.message, ...lines.filter((l) => l !== error.message)]);
      }
    }
  }

  render() {
    this.renderTitle();
    this.renderTable();
    if (this.withGraph) this.drawGraph();
  }
}

/** A section that is one mapping (blacklist, limits, rates): one JSON editor. */
class MappingSection {
  constructor(view, section) {
    this.view = view;
    this.client = view.client;
    this.section = section;
    this.base = undefined;
    this.etag = null;
    this.busy = false;
  }

  build() {
    const s = this.section;
    const prefix = `console-${s}`;
    this.input = h("textarea", { id: `${prefix}-entry`, name: "entry", class: "code", rows: 14,
      spellcheck: "false", "aria-describedby": `${prefix}-entry-error` });
    this.line = h("p", { id: `${prefix}-form-error`, class: "error", role: "alert" });
    this.saved = h("p", { id: `${prefix}-saved`, class: "hint", role: "status" });
    this.saveButton = h("button", { id: `${prefix}-save`, type: "submit", class: "primary",
      i18n: "console.save" });
    this.revertButton = button("console.revert", { id: `${prefix}-revert`, class: "quiet" });
    this.form = h("form", { id: `${prefix}-form`, class: "stack-form console-editor wide",
      novalidate: true },
    h("label", { for: `${prefix}-entry`, i18n: "console.entryJson" }),
    this.input,
    h("p", { id: `${prefix}-entry-error`, class: "field-error", data: { errorFor: "entry" } }),
    this.line,
    h("div", { class: "actions" }, this.saveButton, this.revertButton),
    this.saved);
    this.reloadButton = button("console.refresh", { id: `${prefix}-refresh`, class: "quiet" });
    this.error = h("p", { id: `${prefix}-error`, class: "error", role: "alert" });
    this.root = h("section", { id: `console-block-${s}`, class: "panel console-block" },
      h("div", { class: "panel-head" }, h("h2", { i18n: `console.section.${s}` }),
        h("span", { class: "head-actions" }, this.reloadButton)),
      h("p", { class: "hint", i18n: `console.about.${s}` }),
      this.error,
      this.form);
    this.view.on(this.form, "submit", (event) => this.save(event));
    this.view.on(this.revertButton, "click", () => this.show());
    this.view.on(this.reloadButton, "click", () => this.load());
    return this.root;
  }

  async load() {
    this.error.textContent = "";
    try {
      const answer = await this.client.send("GET", `/v1/config/${this.section}`);
      if (this.view.stopped) return;
      this.base = answer.data ?? {};
      if (answer.etag) this.etag = answer.etag;
      this.show();
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = error.message;
    }
  }

  show() {
    clearErrors(this.form, this.line);
    this.saved.textContent = "";
    this.input.value = JSON.stringify(this.base ?? {}, null, 2);
  }

  async save(event) {
    event.preventDefault();
    if (this.busy) return;
    clearErrors(this.form, this.line);
    this.saved.textContent = "";
    const parsed = parseJson(this.input.value);
    if (parsed.error || !isObject(parsed.value)) {
      showWrong(this.form, [["entry", parsed.error ? t("console.badJson", { detail: parsed.error })
        : t("console.notObject")]]);
      return;
    }
    this.busy = true;
    this.saveButton.disabled = true;
    try {
      for (let attempt = 0; ; attempt += 1) {
        try {
          const answer = await this.client.send("PUT", `/v1/config/${this.section}`, {
            json: parsed.value, headers: this.etag ? { "If-Match": this.etag } : {},
          });
          if (answer.etag) this.etag = answer.etag;
          break;
        } catch (error) {
          if (!(error instanceof ApiProblem) || error.status !== 412 || attempt > 0) throw error;
          const fresh = await this.client.send("GET", `/v1/config/${this.section}`);
          if (fresh.etag) this.etag = fresh.etag;
          const changed = canonical(fresh.data ?? {}) !== canonical(this.base ?? {});
          this.base = fresh.data ?? {};
          if (changed) throw new Conflict();
        }
      }
      if (this.view.stopped) return;
      await this.load();
      this.saved.textContent = t("console.savedSection");
    } catch (error) {
      if (this.view.stopped) return;
      if (error instanceof Conflict) {
        setLines(this.line, [t("console.conflictSection")]);
      } else {
        showProblem(this.form, this.line, error, { whole: "entry" });
      }
    } finally {
      this.busy = false;
      this.saveButton.disabled = false;
    }
  }

  render() {}
}

// ---------------------------------------------------------------------------- tab views

/** A tab made of configuration sections. */
class SectionsTab {
  constructor(view, parts) {
    this.view = view;
    this.parts = parts;
    this.loaded = false;
  }

  build(panel) {
    panel.append(...this.parts.map((part) => part.build()));
  }

  show() {
    if (this.loaded) return;
    this.loaded = true;
    for (const part of this.parts) part.load();
  }

  render() {
    for (const part of this.parts) part.render();
  }
}

/** The supervisor's wallboard, moved into the console while an admin is logged in. */
class WallboardTab {
  constructor(view) {
    this.view = view;
    this.supervisor = null;
  }

  build(panel) {
    this.el = element("supervisor");
    this.home = { parent: this.el.parentNode, next: this.el.nextSibling };
    panel.append(this.el);
  }

  show() {
    if (this.supervisor !== null) return;
    const { deps } = this.view;
    this.supervisor = startSupervisor({
      api: deps.api,
      sessionEnded: deps.sessionEnded,
      checkSession: deps.checkSession,
      setLost: deps.setLost,
      phoneErrorText: deps.phoneErrorText,
    });
    // The supervisor view titles the page its way; the console keeps its own title.
    this.view.renderTitle();
  }

  render() {
    this.supervisor?.render();
  }

  retryNow() {
    this.supervisor?.retryNow();
  }

  stop() {
    this.supervisor?.stop();
    this.supervisor = null;
    this.el.hidden = true;
    this.home.parent.insertBefore(this.el, this.home.next);
  }
}

/** Campaigns: live figures with start and stop, contact imports and the contacts. */
class CampaignsTab {
  constructor(view) {
    this.view = view;
    this.client = view.client;
    this.config = new EntrySection(view, "campaigns");
    this.campaigns = [];
    this.loadedOnce = false;
    this.polling = false;
    this.busy = new Set();
    this.importKey = null;
    this.lastImport = null;
    this.contacts = { campaign: null, items: [], next: null };
  }

  build(panel) {
    const columns = ["campaign", "running", "mode", "in_flight", "dialed", "answered",
      "connected", "abandoned", "abandon_rate", "contacts"]
      .map((name) => ({ name, label: `sup.campaign.${name}` }));
    this.numeric = ["in_flight", "dialed", "answered", "connected", "abandoned", "abandon_rate"];
    this.live = table("campaigns-live", columns, { actions: true, num: this.numeric });
    this.liveNone = h("p", { id: "campaigns-live-none", class: "muted empty",
      i18n: "sup.campaigns.none", hidden: true });
    this.liveError = h("p", { id: "campaigns-live-error", class: "error", role: "alert" });
    this.refresh = button("console.refresh", { id: "campaigns-refresh", class: "quiet" });

    this.select = h("select", { id: "campaign-import-campaign", name: "campaign",
      "aria-describedby": "campaign-import-campaign-error" });
    this.file = h("input", { id: "campaign-import-file", name: "file", type: "file",
      accept: ".csv,text/csv,text/plain", "aria-describedby": "campaign-import-file-error" });
    this.importButton = h("button", { id: "campaign-import", type: "submit", class: "primary",
      i18n: "console.import.run" });
    this.importLine = h("p", { id: "campaign-import-error", class: "error", role: "alert" });
    this.importForm = h("form", { id: "campaign-import-form", class: "console-grid-form",
      novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "campaign-import-campaign", i18n: "console.import.campaign" }),
      this.select,
      h("p", { id: "campaign-import-campaign-error", class: "field-error",
        data: { errorFor: "campaign" } })),
    h("div", { class: "field" },
      h("label", { for: "campaign-import-file", i18n: "console.import.file" }),
      this.file,
      h("p", { id: "campaign-import-file-error", class: "field-error",
        data: { errorFor: "file" } })),
    h("div", { class: "field field-button" }, this.importButton),
    h("p", { class: "hint wide", i18n: "console.import.hint" }),
    this.importLine);
    this.result = h("p", { id: "campaign-import-result", class: "success", role: "status",
      hidden: true });
    this.errors = table("campaign-import-errors", [
      { name: "line", label: "console.import.line" },
      { name: "kind", label: "console.import.kind" },
      { name: "reason", label: "console.import.reason" },
    ], { num: ["line"] });
    this.errors.hidden = true;

    this.contactsTitle = h("h2", { id: "campaign-contacts-title" });
    this.contactsTable = table("campaign-contacts", ["id", "phone", "name", "state", "result",
      "attempts", "next_at"].map((name) => ({ name, label: `console.contact.${name}` })),
    { num: ["attempts"] });
    this.contactsError = h("p", { class: "error", role: "alert" });
    this.contactsMore = button("desk.more", { id: "campaign-contacts-more", class: "quiet more",
      hidden: true });
    this.contactsClose = button("desk.close", { id: "campaign-contacts-close", class: "quiet" });
    this.contactsBlock = h("section", { id: "campaign-contacts-block",
      class: "panel console-block", hidden: true },
    h("div", { class: "panel-head" }, this.contactsTitle,
      h("span", { class: "head-actions" }, this.contactsClose)),
    this.contactsError,
    h("div", { class: "table-scroll console-scroll" }, this.contactsTable),
    this.contactsMore);

    panel.append(
      h("section", { class: "panel console-block", id: "console-block-campaigns-live" },
        h("div", { class: "panel-head" }, h("h2", { i18n: "console.campaigns.live" }),
          h("span", { class: "head-actions" }, this.refresh)),
        this.liveError,
        h("div", { class: "table-scroll console-scroll" }, this.live),
        this.liveNone),
      h("section", { class: "panel console-block", id: "console-block-campaign-import" },
        h("h2", { i18n: "console.import.title" }),
        this.importForm, this.result,
        h("div", { class: "table-scroll console-scroll" }, this.errors)),
      this.contactsBlock,
      this.config.build());

    const on = this.view.on.bind(this.view);
    on(this.refresh, "click", () => this.loadLive());
    on(this.live.tBodies[0], "click", (event) => this.clicked(event));
    on(this.importForm, "submit", (event) => this.importContacts(event));
    on(this.file, "change", () => {
      this.importKey = null;
    });
    on(this.select, "change", () => {
      this.importKey = null;
    });
    on(this.contactsMore, "click", () => this.loadContacts(false));
    on(this.contactsClose, "click", () => {
      this.contactsBlock.hidden = true;
      this.contacts = { campaign: null, items: [], next: null };
    });
  }

  show() {
    this.loadLive();
    if (!this.config.loaded) this.config.load();
  }

  tick() {
    this.loadLive();
  }

  async loadLive() {
    if (this.polling) return;
    this.polling = true;
    try {
      const list = await this.client.get("/v1/campaigns");
      if (this.view.stopped) return;
      this.campaigns = (Array.isArray(list) ? list : []).filter((c) => isObject(c)
        && textOf(c.campaign) !== "");
      this.loadedOnce = true;
      this.liveError.textContent = "";
      this.renderLive();
      this.renderSelect();
    } catch (error) {
      if (!this.view.stopped) this.liveError.textContent = error.message;
    } finally {
      this.polling = false;
    }
  }

  renderLive() {
    const lang = getLanguage();
    const body = this.live.tBodies[0];
    const focused = document.activeElement;
    const keep = focused && body.contains(focused)
      ? [focused.closest("tr")?.dataset.campaign, focused.dataset.action] : null;
    body.replaceChildren(...this.campaigns.map((c) => {
      const name = textOf(c.campaign);
      const running = c.running === true;
      const row = h("tr", { data: { campaign: name, running: running ? "yes" : "no" } },
        rowHead(name));
      row.append(cell(t(running ? "sup.running.yes" : "sup.running.no"),
        { field: "running", raw: running }));
      row.append(cell(c.mode ? word("campaignMode", c.mode) : NONE,
        { field: "mode", raw: c.mode }));
      for (const field of ["in_flight", "dialed", "answered", "connected", "abandoned"]) {
        const value = numberOrNull(c[field]);
        row.append(cell(value === null ? NONE : String(value), { field, raw: value, num: true }));
      }
      row.append(cell(formatPercent(c.abandon_rate, lang), { field: "abandon_rate",
        raw: numberOrNull(c.abandon_rate), num: true }));
      const contacts = isObject(c.contacts) ? Object.entries(c.contacts)
        .filter(([, n]) => numberOrNull(n) !== null)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : [];
      const counts = contacts.map(([state, n]) => `${word("contactState", state)} ${n}`);
      row.append(cell(counts.join(" · ") || NONE,
        { field: "contacts", raw: JSON.stringify(Object.fromEntries(contacts)) }));
      const busy = this.busy.has(name);
      const start = rowButton("start", "console.campaign.start", "good",
        t("console.campaign.startAria", { name }));
      start.disabled = busy || running;
      const stop = rowButton("stop", "console.campaign.stop", "warn",
        t("console.campaign.stopAria", { name }));
      stop.disabled = busy || !running;
      const contactsButton = rowButton("contacts", "console.campaign.contacts", "quiet",
        t("console.campaign.contactsAria", { name }));
      row.append(h("td", { class: "cell-actions" }, start, stop, contactsButton));
      return row;
    }));
    this.liveNone.hidden = !this.loadedOnce || this.campaigns.length > 0;
    // A poll must not take the focus away from a button the user is on.
    if (keep) {
      const again = [...body.rows].find((r) => r.dataset.campaign === keep[0])
        ?.querySelector(`button[data-action="${keep[1]}"]`);
      again?.focus();
    }
  }

  renderSelect() {
    const chosen = this.select.value;
    const names = this.campaigns.map((c) => textOf(c.campaign));
    const current = [...this.select.options].map((o) => o.value);
    if (canonical(current) === canonical(names)) return;
    this.select.replaceChildren(...names.map((name) => h("option", { value: name, text: name })));
    if (names.includes(chosen)) this.select.value = chosen;
  }

  clicked(event) {
    const btn = event.target.closest("button[data-action]");
    const row = btn?.closest("tr[data-campaign]");
    if (!btn || !row || btn.disabled) return;
    const name = row.dataset.campaign;
    if (btn.dataset.action === "contacts") {
      this.contacts = { campaign: name, items: [], next: null };
      this.contactsBlock.hidden = false;
      this.renderContactsTitle();
      this.loadContacts(true);
    } else {
      this.run(name, btn.dataset.action);
    }
  }

  async run(name, action) {
    if (this.busy.has(name)) return;
    this.busy.add(name);
    this.liveError.textContent = "";
    this.renderLive();
    try {
      const status = await this.client.send("POST",
        `/v1/campaigns/${encodeURIComponent(name)}/${action}`);
      if (this.view.stopped) return;
      if (isObject(status.data)) {
        this.campaigns = this.campaigns.map((c) => (c.campaign === name ? status.data : c));
      }
    } catch (error) {
      if (!this.view.stopped) {
        this.liveError.textContent = t("console.campaign.failed", { name, detail: error.message });
      }
    } finally {
      this.busy.delete(name);
      if (!this.view.stopped) this.renderLive();
    }
  }

  async importContacts(event) {
    event.preventDefault();
    const form = this.importForm;
    clearErrors(form, this.importLine);
    const campaign = this.select.value;
    const file = this.file.files?.[0] ?? null;
    const wrong = [];
    if (!campaign) wrong.push(["campaign", t("console.import.noCampaign")]);
    if (!file) wrong.push(["file", t("console.import.noFile")]);
    else if (file.size > IMPORT_MAX_BYTES) {
      wrong.push(["file", t("console.import.tooBig", { mb: IMPORT_MAX_BYTES / 1024 / 1024 })]);
    }
    if (wrong.length > 0) {
      showWrong(form, wrong);
      return;
    }
    // The same key for a retry of the same file: pycc then answers it once.
    this.importKey ??= newKey();
    this.importButton.disabled = true;
    try {
      const answer = await this.client.send("POST",
        `/v1/campaigns/${encodeURIComponent(campaign)}/contacts`, {
          body: file, type: "text/csv", headers: { "Idempotency-Key": this.importKey },
        });
      if (this.view.stopped) return;
      this.importKey = null;
      this.lastImport = answer.data;
      this.renderImport();
      this.loadLive();
    } catch (error) {
      if (this.view.stopped) return;
      // A request pycc answered (other than a server failure) will not change: a new try
      // is a new request.
      if (error.status !== 0 && error.status < 500) this.importKey = null;
      showProblem(form, this.importLine, error, { whole: "file" });
    } finally {
      this.importButton.disabled = false;
    }
  }

  renderImport() {
    const answer = this.lastImport;
    if (!isObject(answer)) {
      this.result.hidden = true;
      this.errors.hidden = true;
      return;
    }
    const refused = refusedRows(answer);
    this.result.hidden = false;
    this.result.dataset.added = textOf(answer.added);
    this.result.dataset.skipped = textOf(answer.already_there);
    this.result.dataset.refused = String(refused.length);
    this.result.textContent = t("console.import.done", {
      campaign: textOf(answer.campaign), rows: textOf(answer.rows) || "0",
      added: textOf(answer.added) || "0", skipped: textOf(answer.already_there) || "0",
      refused: refused.length,
    });
    this.errors.tBodies[0].replaceChildren(...refused.map((r) => h("tr",
      { data: { line: r.line ?? "", kind: r.kind } },
      cell(r.line === null ? NONE : String(r.line), { field: "line", num: true }),
      cell(t(`console.import.kind.${r.kind}`), { field: "kind", raw: r.kind }),
      cell(r.reason, { field: "reason" }))));
    this.errors.hidden = refused.length === 0;
  }

  renderContactsTitle() {
    this.contactsTitle.textContent = t("console.contacts.title",
      { campaign: this.contacts.campaign ?? "" });
  }

  async loadContacts(fresh) {
    const { campaign } = this.contacts;
    if (campaign === null) return;
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (!fresh && this.contacts.next) query.set("after", this.contacts.next);
    this.contactsError.textContent = "";
    try {
      const page = await this.client.get(
        `/v1/campaigns/${encodeURIComponent(campaign)}/contacts?${query}`);
      if (this.view.stopped || this.contacts.campaign !== campaign) return;
      const items = Array.isArray(page?.items) ? page.items.filter(isObject) : [];
      this.contacts.items = fresh ? items : [...this.contacts.items, ...items];
      this.contacts.next = typeof page?.next === "string" && page.next ? page.next : null;
      this.renderContacts();
    } catch (error) {
      if (!this.view.stopped) this.contactsError.textContent = error.message;
    }
  }

  renderContacts() {
    const lang = getLanguage();
    this.contactsTable.tBodies[0].replaceChildren(...this.contacts.items.map((c) => h("tr",
      { data: { contact: textOf(c.id) } },
      rowHead(textOf(c.id) || NONE),
      cell(textOf(c.phone) || NONE),
      cell(textOf(c.name) || NONE),
      cell(c.state ? word("contactState", c.state) : NONE, { raw: textOf(c.state) }),
      cell(c.result ? word("contactState", c.result) : NONE, { raw: textOf(c.result) }),
      cell(textOf(c.attempts) || "0", { num: true }),
      cell(when(c.next_at, lang)))));
    this.contactsMore.hidden = this.contacts.next === null;
  }

  render() {
    this.renderLive();
    this.renderImport();
    this.renderContactsTitle();
    this.renderContacts();
    this.config.render();
  }
}

/** The do-not-call list: numbers added in bulk, listed in pages, taken off one by one. */
class DncTab {
  constructor(view) {
    this.view = view;
    this.client = view.client;
    this.items = [];
    this.next = null;
    this.loaded = false;
    this.rejected = [];
  }

  build(panel) {
    this.form = h("form", { id: "dnc-form", class: "stack-form console-editor", novalidate: true },
      inputRow("dnc", { name: "numbers", type: "textarea", rows: 5, code: true,
        label: "console.dnc.numbers", hint: "console.dnc.numbersHint" }),
      inputRow("dnc", { name: "country", type: "text", max: 2, label: "console.dnc.country",
        hint: "console.dnc.countryHint" }),
      this.line = h("p", { id: "dnc-form-error", class: "error", role: "alert" }),
      h("div", { class: "actions" }, this.addButton = h("button", { id: "dnc-add",
        type: "submit", class: "primary", i18n: "console.dnc.add" })),
      this.result = h("p", { id: "dnc-result", class: "hint", role: "status" }));
    this.rejectedTable = table("dnc-rejected", [
      { name: "line", label: "console.import.line" },
      { name: "number", label: "console.field.number" },
      { name: "reason", label: "console.import.reason" },
    ], { num: ["line"] });
    this.rejectedTable.hidden = true;
    this.list = table("dnc-list", [
      { name: "number", label: "console.field.number" },
      { name: "added", label: "console.dnc.added" },
    ], { actions: true });
    this.none = h("p", { class: "muted empty", i18n: "console.none", hidden: true });
    this.error = h("p", { id: "dnc-error", class: "error", role: "alert" });
    this.more = button("desk.more", { id: "dnc-more", class: "quiet more", hidden: true });
    this.refresh = button("console.refresh", { id: "dnc-refresh", class: "quiet" });
    panel.append(
      h("section", { class: "panel console-block", id: "console-block-dnc-add" },
        h("h2", { i18n: "console.dnc.addTitle" }), this.form,
        h("div", { class: "table-scroll console-scroll" }, this.rejectedTable)),
      h("section", { class: "panel console-block", id: "console-block-dnc" },
        h("div", { class: "panel-head" }, h("h2", { i18n: "console.section.dnc" }),
          h("span", { class: "head-actions" }, this.refresh)),
        this.error,
        h("div", { class: "table-scroll console-scroll" }, this.list), this.none, this.more));
    const on = this.view.on.bind(this.view);
    on(this.form, "submit", (event) => this.add(event));
    on(this.refresh, "click", () => this.load(true));
    on(this.more, "click", () => this.load(false));
    on(this.list.tBodies[0], "click", (event) => {
      const btn = event.target.closest("button[data-action=\"delete\"]");
      const row = btn?.closest("tr[data-number]");
      if (btn && row) confirmed(btn, () => this.remove(row.dataset.number));
    });
  }

  show() {
    if (!this.loaded) this.load(true);
  }

  async load(fresh) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (!fresh && this.next) query.set("after", this.next);
    this.error.textContent = "";
    try {
      const page = await this.client.get(`/v1/do-not-call?${query}`);
      if (this.view.stopped) return;
      const items = Array.isArray(page?.items) ? page.items.filter(isObject) : [];
      this.items = fresh ? items : [...this.items, ...items];
      this.next = typeof page?.next === "string" && page.next ? page.next : null;
      this.loaded = true;
      this.renderList();
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = error.message;
    }
  }

  renderList() {
    const lang = getLanguage();
    this.list.tBodies[0].replaceChildren(...this.items.map((item) => {
      const number = textOf(item.number);
      return h("tr", { data: { number } }, rowHead(number), cell(when(item.added, lang)),
        h("td", { class: "cell-actions" }, rowButton("delete", "console.delete", "danger",
          t("console.deleteAria", { name: number }))));
    }));
    this.none.hidden = !this.loaded || this.items.length > 0;
    this.more.hidden = this.next === null;
  }

  async add(event) {
    event.preventDefault();
    clearErrors(this.form, this.line);
    this.result.textContent = "";
    const numbers = splitNumbers(this.form.elements.namedItem("numbers").value);
    const country = this.form.elements.namedItem("country").value.trim().toUpperCase();
    const wrong = [];
    if (numbers.length === 0) wrong.push(["numbers", t("error.required")]);
    if (country && !/^[A-Z]{2}$/.test(country)) {
      wrong.push(["country", t("console.dnc.badCountry")]);
    }
    if (wrong.length > 0) {
      showWrong(this.form, wrong);
      return;
    }
    this.addButton.disabled = true;
    try {
      const body = { numbers };
      if (country) body.country = country;
      const answer = await this.client.send("POST", "/v1/do-not-call", { json: body });
      if (this.view.stopped) return;
      const data = isObject(answer.data) ? answer.data : {};
      this.rejected = (Array.isArray(data.rejected) ? data.rejected : []).filter(isObject)
        .map((r) => ({ line: numberOrNull(r.line), number: numbers[(numberOrNull(r.line) ?? 0) - 1]
          ?? "", reason: textOf(r.reason) }));
      this.added = numberOrNull(data.added) ?? 0;
      this.renderResult();
      if (this.rejected.length === 0) this.form.elements.namedItem("numbers").value = "";
      this.load(true);
    } catch (error) {
      if (!this.view.stopped) showProblem(this.form, this.line, error, { whole: "numbers" });
    } finally {
      this.addButton.disabled = false;
    }
  }

  renderResult() {
    if (this.added === undefined) return;
    this.result.textContent = t("console.dnc.done", { added: this.added,
      rejected: this.rejected.length });
    this.rejectedTable.tBodies[0].replaceChildren(...this.rejected.map((r) => h("tr", {},
      cell(r.line === null ? NONE : String(r.line), { num: true }), cell(r.number || NONE),
      cell(r.reason))));
    this.rejectedTable.hidden = this.rejected.length === 0;
  }

  async remove(number) {
    this.error.textContent = "";
    try {
      await this.client.send("DELETE", `/v1/do-not-call/${encodeURIComponent(number)}`);
      if (this.view.stopped) return;
      this.items = this.items.filter((item) => item.number !== number);
      this.renderList();
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = error.message;
    }
  }

  render() {
    this.renderList();
    this.renderResult();
  }
}

/** Users, their API tokens, and the audit log. */
class UsersTab {
  constructor(view) {
    this.view = view;
    this.client = view.client;
    this.users = [];
    this.loaded = false;
    this.tokensOf = null;
    this.tokens = [];
    this.audit = { items: [], next: null, loaded: false };
    this.busy = new Set();
  }

  build(panel) {
    this.list = table("users-list", ["name", "role", "agent", "enabled", "created"]
      .map((name) => ({ name, label: `console.user.${name}` })), { actions: true });
    this.error = h("p", { id: "users-error", class: "error", role: "alert" });
    this.refresh = button("console.refresh", { id: "users-refresh", class: "quiet" });
    this.form = h("form", { id: "user-form", class: "console-grid-form", novalidate: true },
      inputRow("user", { name: "name", type: "text", max: 64, label: "console.user.name" }),
      inputRow("user", { name: "role", type: "select", empty: false, label: "console.user.role",
        options: ROLES.map((role) => ({ value: role, i18n: `role.${role}` })) }),
      inputRow("user", { name: "agent", type: "text", max: 128, label: "console.user.agent",
        hint: "console.user.agentHint" }),
      inputRow("user", { name: "password", type: "password", max: 1024,
        label: "console.user.password" }),
      h("div", { class: "field field-button" }, this.addButton = h("button", { id: "user-add",
        type: "submit", class: "primary", i18n: "console.user.add" })),
      this.line = h("p", { id: "user-form-error", class: "error wide", role: "alert" }));
    this.form.elements.namedItem("role").value = "agent";

    this.tokensTitle = h("h2", { id: "tokens-title" });
    this.tokensTable = table("tokens-list", ["prefix", "label", "created", "expires",
      "last_used", "state"].map((name) => ({ name, label: `console.token.${name}` })),
    { actions: true });
    this.tokensError = h("p", { id: "tokens-error", class: "error", role: "alert" });
    this.tokenForm = h("form", { id: "token-form", class: "console-grid-form", novalidate: true },
      inputRow("token", { name: "label", type: "text", max: 200, label: "console.token.label" }),
      inputRow("token", { name: "expires_days", type: "number",
        label: "console.token.expiresDays", hint: "console.token.expiresHint" }),
      h("div", { class: "field field-button" }, this.issueButton = h("button", {
        id: "token-issue", type: "submit", class: "primary", i18n: "console.token.issue" })),
      this.tokenLine = h("p", { id: "token-form-error", class: "error wide", role: "alert" }));
    this.newToken = h("div", { id: "token-new", class: "success token-new", role: "status",
      hidden: true },
    h("p", { i18n: "console.token.once" }),
    this.newTokenValue = h("code", { id: "token-new-value", class: "secret" }));
    this.tokensClose = button("desk.close", { id: "tokens-close", class: "quiet" });
    this.tokensBlock = h("section", { id: "tokens-block", class: "panel console-block",
      hidden: true },
    h("div", { class: "panel-head" }, this.tokensTitle,
      h("span", { class: "head-actions" }, this.tokensClose)),
    this.tokensError,
    h("div", { class: "table-scroll console-scroll" }, this.tokensTable),
    h("h3", { i18n: "console.token.new" }), this.tokenForm, this.newToken);

    this.auditTable = table("audit-list", ["at", "actor", "action", "target", "source",
      "detail"].map((name) => ({ name, label: `console.audit.${name}` })));
    this.auditError = h("p", { id: "audit-error", class: "error", role: "alert" });
    this.auditMore = button("desk.more", { id: "audit-more", class: "quiet more", hidden: true });
    this.auditRefresh = button("console.refresh", { id: "audit-refresh", class: "quiet" });

    panel.append(
      h("section", { class: "panel console-block", id: "console-block-users" },
        h("div", { class: "panel-head" }, h("h2", { i18n: "console.section.users" }),
          h("span", { class: "head-actions" }, this.refresh)),
        this.error,
        h("div", { class: "table-scroll console-scroll" }, this.list),
        h("h3", { i18n: "console.user.new" }), this.form),
      this.tokensBlock,
      h("section", { class: "panel console-block", id: "console-block-audit" },
        h("div", { class: "panel-head" }, h("h2", { i18n: "console.audit.title" }),
          h("span", { class: "head-actions" }, this.auditRefresh)),
        this.auditError,
        h("div", { class: "table-scroll console-scroll" }, this.auditTable), this.auditMore));

    const on = this.view.on.bind(this.view);
    on(this.refresh, "click", () => this.load());
    on(this.form, "submit", (event) => this.add(event));
    on(this.list.tBodies[0], "click", (event) => this.clicked(event));
    on(this.tokenForm, "submit", (event) => this.issue(event));
    on(this.tokensTable.tBodies[0], "click", (event) => {
      const btn = event.target.closest("button[data-action=\"revoke\"]");
      const row = btn?.closest("tr[data-prefix]");
      if (btn && row) confirmed(btn, () => this.revoke(row.dataset.prefix));
    });
    on(this.tokensClose, "click", () => this.closeTokens());
    on(this.auditMore, "click", () => this.loadAudit(false));
    on(this.auditRefresh, "click", () => this.loadAudit(true));
  }

  show() {
    if (!this.loaded) this.load();
    if (!this.audit.loaded) this.loadAudit(true);
  }

  async load() {
    this.error.textContent = "";
    try {
      const users = await this.client.get("/v1/users");
      if (this.view.stopped) return;
      this.users = (Array.isArray(users) ? users : []).filter((u) => isObject(u)
        && textOf(u.name) !== "");
      this.loaded = true;
      this.renderUsers();
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = error.message;
    }
  }

  renderUsers() {
    const lang = getLanguage();
    const me = this.view.deps.session?.user;
    this.list.tBodies[0].replaceChildren(...this.users.map((u) => {
      const name = textOf(u.name);
      const enabled = u.enabled !== false;
      const busy = this.busy.has(name);
      const toggle = rowButton(enabled ? "disable" : "enable",
        enabled ? "console.user.disable" : "console.user.enable", enabled ? "warn" : "good",
        t(enabled ? "console.user.disableAria" : "console.user.enableAria", { name }));
      toggle.disabled = busy || name === me;
      const remove = rowButton("delete", "console.delete", "danger",
        t("console.deleteAria", { name }));
      remove.disabled = busy || name === me;
      return h("tr", { data: { user: name, enabled: enabled ? "yes" : "no" } },
        rowHead(name),
        cell(word("role", textOf(u.role)), { raw: textOf(u.role) }),
        cell(textOf(u.agent) || NONE),
        cell(t(enabled ? "console.yes" : "console.no"), { raw: enabled }),
        cell(when(u.created, lang)),
        h("td", { class: "cell-actions" },
          rowButton("tokens", "console.user.tokens", "quiet",
            t("console.user.tokensAria", { name })), toggle, remove));
    }));
  }

  clicked(event) {
    const btn = event.target.closest("button[data-action]");
    const row = btn?.closest("tr[data-user]");
    if (!btn || !row || btn.disabled) return;
    const name = row.dataset.user;
    const action = btn.dataset.action;
    if (action === "tokens") this.openTokens(name);
    else if (action === "enable" || action === "disable") {
      this.setEnabled(name, action === "enable");
    }
    else if (action === "delete") confirmed(btn, () => this.remove(name));
  }

  async add(event) {
    event.preventDefault();
    clearErrors(this.form, this.line);
    const value = (name) => this.form.elements.namedItem(name).value.trim();
    const body = { name: value("name"), role: value("role"),
      password: this.form.elements.namedItem("password").value };
    if (value("agent")) body.agent = value("agent");
    const wrong = [];
    if (!body.name) wrong.push(["name", t("error.required")]);
    if (!body.password) wrong.push(["password", t("error.required")]);
    if (body.role === "agent" && !body.agent) wrong.push(["agent", t("console.user.needsAgent")]);
    if (body.role !== "agent" && body.agent) wrong.push(["agent", t("console.user.noAgent")]);
    if (wrong.length > 0) {
      showWrong(this.form, wrong);
      return;
    }
    this.addButton.disabled = true;
    try {
      await this.client.send("POST", "/v1/users", { json: body });
      if (this.view.stopped) return;
      this.form.reset();
      this.form.elements.namedItem("role").value = "agent";
      this.load();
      this.loadAudit(true);
    } catch (error) {
      if (!this.view.stopped) showProblem(this.form, this.line, error);
    } finally {
      this.addButton.disabled = false;
    }
  }

  async setEnabled(name, enabled) {
    await this.userChange(name, () => this.client.send("PATCH",
      `/v1/users/${encodeURIComponent(name)}`, { json: { enabled } }));
  }

  async remove(name) {
    await this.userChange(name, () => this.client.send("DELETE",
      `/v1/users/${encodeURIComponent(name)}`));
    if (this.tokensOf === name && !this.users.some((u) => u.name === name)) this.closeTokens();
  }

  async userChange(name, request) {
    if (this.busy.has(name)) return;
    this.busy.add(name);
    this.error.textContent = "";
    this.renderUsers();
    try {
      await request();
      if (this.view.stopped) return;
      await this.load();
      this.loadAudit(true);
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = t("console.user.failed", { name,
        detail: error.message });
    } finally {
      this.busy.delete(name);
      if (!this.view.stopped) this.renderUsers();
    }
  }

  openTokens(name) {
    this.tokensOf = name;
    this.tokens = [];
    this.newToken.hidden = true;
    this.newTokenValue.textContent = "";
    clearErrors(this.tokenForm, this.tokenLine);
    this.tokenForm.reset();
    this.tokensBlock.hidden = false;
    this.renderTokens();
    this.loadTokens();
  }

  closeTokens() {
    this.tokensOf = null;
    this.tokens = [];
    this.newTokenValue.textContent = "";
    this.newToken.hidden = true;
    this.tokensBlock.hidden = true;
  }

  async loadTokens() {
    const user = this.tokensOf;
    if (user === null) return;
    this.tokensError.textContent = "";
    try {
      const tokens = await this.client.get(`/v1/tokens?${new URLSearchParams({ user })}`);
      if (this.view.stopped || this.tokensOf !== user) return;
      this.tokens = (Array.isArray(tokens) ? tokens : []).filter(isObject);
      this.renderTokens();
    } catch (error) {
      if (!this.view.stopped) this.tokensError.textContent = error.message;
    }
  }

  renderTokens() {
    const lang = getLanguage();
    this.tokensTitle.textContent = t("console.token.title", { user: this.tokensOf ?? "" });
    this.tokensTable.tBodies[0].replaceChildren(...this.tokens.map((token) => {
      const prefix = textOf(token.prefix);
      const revoked = token.revoked === true;
      const expired = numberOrNull(token.expires) !== null && token.expires * 1000 < Date.now();
      const state = revoked ? "revoked" : expired ? "expired" : "active";
      const revoke = rowButton("revoke", "console.token.revoke", "danger",
        t("console.token.revokeAria", { prefix }));
      revoke.disabled = revoked;
      return h("tr", { data: { prefix, state } }, rowHead(prefix),
        cell(textOf(token.label) || NONE), cell(when(token.created, lang)),
        cell(token.expires == null ? t("console.token.never") : when(token.expires, lang)),
        cell(when(token.last_used, lang)), cell(t(`console.token.${state}`), { raw: state }),
        h("td", { class: "cell-actions" }, revoke));
    }));
  }

  async issue(event) {
    event.preventDefault();
    const user = this.tokensOf;
    if (user === null) return;
    clearErrors(this.tokenForm, this.tokenLine);
    this.newToken.hidden = true;
    this.newTokenValue.textContent = "";
    const label = this.tokenForm.elements.namedItem("label").value.trim();
    const days = fieldValue("number", this.tokenForm.elements.namedItem("expires_days").value);
    if (days.problem || (days.value !== undefined && days.value <= 0)) {
      showWrong(this.tokenForm, [["expires_days", t("console.token.badDays")]]);
      return;
    }
    const body = { label };
    if (days.value !== undefined) body.expires_days = days.value;
    this.issueButton.disabled = true;
    try {
      const answer = await this.client.send("POST",
        `/v1/users/${encodeURIComponent(user)}/tokens`, { json: body });
      if (this.view.stopped || this.tokensOf !== user) return;
      // Shown this once: pycc keeps only a hash of it.
      this.newTokenValue.textContent = textOf(answer.data?.token);
      this.newToken.hidden = false;
      this.tokenForm.reset();
      this.loadTokens();
    } catch (error) {
      if (!this.view.stopped) showProblem(this.tokenForm, this.tokenLine, error);
    } finally {
      this.issueButton.disabled = false;
    }
  }

  async revoke(prefix) {
    this.tokensError.textContent = "";
    try {
      await this.client.send("DELETE", `/v1/tokens/${encodeURIComponent(prefix)}`);
      if (!this.view.stopped) this.loadTokens();
    } catch (error) {
      if (!this.view.stopped) this.tokensError.textContent = error.message;
    }
  }

  async loadAudit(fresh) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (!fresh && this.audit.next) query.set("after", this.audit.next);
    this.auditError.textContent = "";
    try {
      const page = await this.client.get(`/v1/audit?${query}`);
      if (this.view.stopped) return;
      const items = Array.isArray(page?.items) ? page.items.filter(isObject) : [];
      this.audit.items = fresh ? items : [...this.audit.items, ...items];
      this.audit.next = typeof page?.next === "string" && page.next ? page.next : null;
      this.audit.loaded = true;
      this.renderAudit();
    } catch (error) {
      if (!this.view.stopped) this.auditError.textContent = error.message;
    }
  }

  renderAudit() {
    const lang = getLanguage();
    this.auditTable.tBodies[0].replaceChildren(...this.audit.items.map((e) => h("tr",
      { data: { audit: textOf(e.id) } },
      cell(when(e.at, lang)), cell(textOf(e.actor) || NONE), cell(textOf(e.action) || NONE),
      cell([textOf(e.target_kind), textOf(e.target_id)].filter(Boolean).join(" ") || NONE),
      cell(textOf(e.source) || NONE),
      cell(isObject(e.detail) && Object.keys(e.detail).length === 0 ? ""
        : cellText(e.detail), { field: "detail" }))));
    this.auditMore.hidden = this.audit.next === null;
  }

  render() {
    this.renderUsers();
    if (this.tokensOf !== null) this.renderTokens();
    this.renderAudit();
  }
}

/** Reports: the options a report takes, its rows as a table, its chart, its CSV. */
class ReportsTab {
  constructor(view) {
    this.view = view;
    this.client = view.client;
    this.reports = {};
    this.loaded = false;
    this.rows = null;
    this.shown = "";
  }

  build(panel) {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    this.form = h("form", { id: "report-form", class: "console-grid-form report-form",
      novalidate: true },
    inputRow("report", { name: "name", type: "select", empty: false, options: [],
      label: "console.report.name" }),
    inputRow("report", { name: "period", type: "select", empty: false,
      label: "console.report.period",
      options: PERIODS.map((p) => ({ value: p, i18n: `console.period.${p}` })) }),
    inputRow("report", { name: "since", type: "datetime", label: "console.report.since" }),
    inputRow("report", { name: "until", type: "datetime", label: "console.report.until" }),
    inputRow("report", { name: "agent", type: "text", max: 128, label: "console.field.agent" }),
    inputRow("report", { name: "queue", type: "text", max: 128, label: "console.field.queue" }),
    inputRow("report", { name: "campaign", type: "text", max: 128,
      label: "console.field.campaign" }),
    inputRow("report", { name: "tz", type: "text", max: 64, label: "console.report.tz" }),
    inputRow("report", { name: "limit", type: "number", label: "console.report.limit" }),
    inputRow("report", { name: "threshold", type: "number",
      label: "console.report.threshold" }),
    h("div", { class: "field field-button" },
      this.runButton = h("button", { id: "report-run", type: "submit", class: "primary",
        i18n: "console.report.run" }),
      this.csv = h("a", { id: "report-csv", class: "button-link", hidden: true,
        i18n: "console.report.csv" })),
    this.line = h("p", { id: "report-form-error", class: "error wide", role: "alert" }));
    this.form.elements.namedItem("tz").value = zone;
    this.title = h("h2", { id: "report-title" });
    this.chart = h("img", { id: "report-chart", class: "report-chart", hidden: true });
    this.chartError = h("p", { class: "error", role: "alert" });
    this.table = h("table", { id: "report-table", class: "list-table" }, h("thead"), h("tbody"));
    this.none = h("p", { id: "report-none", class: "muted empty", i18n: "console.report.none",
      hidden: true });
    this.cut = h("p", { class: "hint", hidden: true });
    panel.append(
      h("section", { class: "panel console-block", id: "console-block-reports" },
        h("h2", { i18n: "console.section.reports" }), this.form),
      h("section", { class: "panel console-block", id: "console-block-report" },
        this.title, this.chartError, this.chart,
        h("div", { class: "table-scroll console-scroll tall" }, this.table), this.none, this.cut));
    const on = this.view.on.bind(this.view);
    on(this.form, "submit", (event) => this.run(event));
    on(this.form.elements.namedItem("name"), "change", () => this.renderOptions());
    on(this.form.elements.namedItem("period"), "change", () => this.applyPeriod());
    for (const name of ["since", "until"]) {
      on(this.form.elements.namedItem(name), "input", () => {
        this.form.elements.namedItem("period").value = "custom";
      });
    }
    on(this.chart, "error", () => {
      if (!this.chart.hidden) this.chartError.textContent = t("console.report.chartFailed");
      this.chart.hidden = true;
    });
  }

  show() {
    if (!this.loaded) this.load();
  }

  async load() {
    this.line.textContent = "";
    try {
      const reports = await this.client.get("/v1/reports");
      if (this.view.stopped) return;
      this.reports = isObject(reports) ? reports : {};
      this.loaded = true;
      const select = this.form.elements.namedItem("name");
      const chosen = select.value;
      select.replaceChildren(...Object.entries(this.reports).map(([name, title]) =>
        h("option", { value: name, text: `${name} — ${textOf(title)}` })));
      if (chosen && Object.hasOwn(this.reports, chosen)) select.value = chosen;
      this.renderOptions();
    } catch (error) {
      if (!this.view.stopped) this.line.textContent = error.message;
    }
  }

  /** Only the inputs of options the chosen report takes show. */
  renderOptions() {
    const name = this.form.elements.namedItem("name").value;
    const takes = REPORT_OPTIONS[name] ?? REPORT_OPTION_NAMES;
    for (const option of REPORT_OPTION_NAMES) {
      const row = this.form.querySelector(`.field[data-field="${option}"]`);
      row.hidden = !takes.includes(option);
    }
    const period = this.form.querySelector(".field[data-field=\"period\"]");
    period.hidden = !takes.includes("since");
  }

  applyPeriod() {
    const range = periodRange(this.form.elements.namedItem("period").value, new Date());
    if (range === null) return;
    this.form.elements.namedItem("since").value = localInput(range[0]);
    this.form.elements.namedItem("until").value = range[1] === null ? "" : localInput(range[1]);
  }

  values() {
    return Object.fromEntries(REPORT_OPTION_NAMES.map((name) =>
      [name, this.form.elements.namedItem(name).value]));
  }

  async run(event) {
    event.preventDefault();
    clearErrors(this.form, this.line);
    this.chartError.textContent = "";
    const name = this.form.elements.namedItem("name").value;
    if (!name) {
      showWrong(this.form, [["name", t("error.required")]]);
      return;
    }
    const values = this.values();
    const takes = REPORT_OPTIONS[name] ?? REPORT_OPTION_NAMES;
    const wrong = [];
    for (const option of ["since", "until"]) {
      if (takes.includes(option) && localSeconds(values[option]) === undefined) {
        wrong.push([option, t("console.report.badTime")]);
      }
    }
    for (const option of ["limit", "threshold"]) {
      if (takes.includes(option) && fieldValue("number", values[option]).problem) {
        wrong.push([option, t("console.notNumber")]);
      }
    }
    if (wrong.length > 0) {
      showWrong(this.form, wrong);
      return;
    }
    const base = `/v1/reports/${encodeURIComponent(name)}`;
    this.runButton.disabled = true;
    try {
      const rows = await this.client.get(`${base}?${reportQuery(name, values, "json")}`);
      if (this.view.stopped) return;
      this.rows = Array.isArray(rows) ? rows.filter(isObject) : [];
      this.shown = name;
      this.csv.href = `${base}?${reportQuery(name, values, "csv")}`;
      this.csv.setAttribute("download", `${name}.csv`);
      this.csv.hidden = false;
      const charted = CHARTED_REPORTS.includes(name);
      this.chart.hidden = !charted;
      if (charted) this.chart.src = `${base}?${reportQuery(name, values, "svg")}`;
      else this.chart.removeAttribute("src");
      this.renderRows();
    } catch (error) {
      if (!this.view.stopped) showProblem(this.form, this.line, error);
    } finally {
      this.runButton.disabled = false;
    }
  }

  renderRows() {
    if (this.rows === null) return;
    const title = textOf(this.reports[this.shown]);
    this.title.textContent = title ? `${this.shown} — ${title}` : this.shown;
    this.chart.alt = t("console.report.chart", { name: this.shown });
    const lang = getLanguage();
    const columns = this.rows.length > 0 ? Object.keys(this.rows[0]) : [];
    const limit = 2000;
    this.table.tHead.replaceChildren(h("tr", {}, columns.map((c) => h("th", { scope: "col",
      text: c }))));
    this.table.tBodies[0].replaceChildren(...this.rows.slice(0, limit).map((row) => h("tr", {},
      columns.map((c) => {
        const value = row[c];
        const time = TIME_COLUMNS.has(c) && numberOrNull(value) !== null;
        return cell(time ? when(value, lang) : cellText(value),
          { field: c, raw: typeof value === "object" ? JSON.stringify(value) : value,
            num: typeof value === "number" && !time });
      }))));
    this.none.hidden = this.rows.length > 0;
    this.cut.hidden = this.rows.length <= limit;
    this.cut.textContent = t("console.report.cut", { shown: limit, rows: this.rows.length });
  }

  render() {
    this.renderRows();
  }
}

/** Recordings: found by time, agent, queue or call; played in the page; deleted. */
class RecordingsTab {
  constructor(view) {
    this.view = view;
    this.client = view.client;
    this.items = [];
    this.next = null;
    this.query = null;
    this.loaded = false;
  }

  build(panel) {
    this.form = h("form", { id: "recordings-form", class: "console-grid-form", novalidate: true },
      inputRow("recordings", { name: "since", type: "datetime", label: "console.report.since" }),
      inputRow("recordings", { name: "until", type: "datetime", label: "console.report.until" }),
      inputRow("recordings", { name: "agent", type: "text", max: 128,
        label: "console.field.agent" }),
      inputRow("recordings", { name: "queue", type: "text", max: 128,
        label: "console.field.queue" }),
      inputRow("recordings", { name: "call_id", type: "text", max: 256,
        label: "console.recording.call" }),
      h("div", { class: "field field-button" }, this.searchButton = h("button", {
        id: "recordings-search", type: "submit", class: "primary", i18n: "desk.search" })),
      this.line = h("p", { id: "recordings-form-error", class: "error wide", role: "alert" }));
    this.list = table("recordings-list", ["id", "created", "call", "agent", "queue",
      "duration", "size"].map((name) => ({ name, label: `console.recording.${name}` })),
    { actions: true, num: ["duration", "size"] });
    this.none = h("p", { class: "muted empty", i18n: "console.none", hidden: true });
    this.more = button("desk.more", { id: "recordings-more", class: "quiet more", hidden: true });
    this.error = h("p", { id: "recordings-error", class: "error", role: "alert" });
    this.player = h("audio", { id: "recording-player", controls: true, preload: "none",
      hidden: true });
    this.playing = h("p", { id: "recording-playing", class: "hint", role: "status" });
    panel.append(h("section", { class: "panel console-block", id: "console-block-recordings" },
      h("h2", { i18n: "console.section.recordings" }), this.form, this.error,
      this.playing, this.player,
      h("div", { class: "table-scroll console-scroll tall" }, this.list), this.none, this.more));
    const on = this.view.on.bind(this.view);
    on(this.form, "submit", (event) => this.search(event));
    on(this.more, "click", () => this.load(false));
    on(this.list.tBodies[0], "click", (event) => this.clicked(event));
  }

  show() {
    if (!this.loaded) {
      this.query = new URLSearchParams();
      this.load(true);
    }
  }

  search(event) {
    event.preventDefault();
    clearErrors(this.form, this.line);
    const query = new URLSearchParams();
    const wrong = [];
    for (const name of ["since", "until"]) {
      const seconds = localSeconds(this.form.elements.namedItem(name).value);
      if (seconds === undefined) wrong.push([name, t("console.report.badTime")]);
      else if (seconds !== null) query.set(name, String(seconds));
    }
    for (const name of ["agent", "queue", "call_id"]) {
      const value = this.form.elements.namedItem(name).value.trim();
      if (value) query.set(name, value);
    }
    if (wrong.length > 0) {
      showWrong(this.form, wrong);
      return;
    }
    this.query = query;
    this.load(true);
  }

  async load(fresh) {
    const query = new URLSearchParams(this.query ?? "");
    query.set("limit", String(PAGE));
    if (!fresh && this.next) query.set("after", this.next);
    this.error.textContent = "";
    this.searchButton.disabled = true;
    try {
      const page = await this.client.get(`/v1/recordings?${query}`);
      if (this.view.stopped) return;
      const items = Array.isArray(page?.items) ? page.items.filter(isObject) : [];
      this.items = fresh ? items : [...this.items, ...items];
      this.next = typeof page?.next === "string" && page.next ? page.next : null;
      this.loaded = true;
      this.renderList();
    } catch (error) {
      if (!this.view.stopped) showProblem(this.form, this.line, error);
    } finally {
      this.searchButton.disabled = false;
    }
  }

  renderList() {
    const lang = getLanguage();
    const current = this.player.dataset.recording ?? "";
    this.list.tBodies[0].replaceChildren(...this.items.map((r) => {
      const id = textOf(r.id);
      const deleted = r.deleted_at != null;
      const play = rowButton("play", "console.recording.play", "",
        t("console.recording.playAria", { id }));
      play.disabled = deleted;
      const remove = rowButton("delete", "console.delete", "danger",
        t("console.deleteAria", { name: id }));
      remove.disabled = deleted;
      return h("tr", { data: { recording: id, deleted: deleted ? "yes" : "no",
        playing: id === current ? "yes" : "no" } },
      rowHead(id), cell(when(r.created, lang)), cell(textOf(r.call_id) || NONE),
      cell(textOf(r.agent) || NONE), cell(textOf(r.queue) || NONE),
      cell(deleted ? t("console.recording.deleted") : formatSeconds(r.duration),
        { num: true, raw: numberOrNull(r.duration) }),
      cell(formatBytes(r.size), { num: true, raw: numberOrNull(r.size) }),
      h("td", { class: "cell-actions" }, play, remove));
    }));
    this.none.hidden = !this.loaded || this.items.length > 0;
    this.more.hidden = this.next === null;
  }

  clicked(event) {
    const btn = event.target.closest("button[data-action]");
    const row = btn?.closest("tr[data-recording]");
    if (!btn || !row || btn.disabled) return;
    const id = row.dataset.recording;
    if (btn.dataset.action === "play") this.play(id);
    else if (btn.dataset.action === "delete") confirmed(btn, () => this.remove(id));
  }

  play(id) {
    this.player.src = `/v1/recordings/${encodeURIComponent(id)}/content`;
    this.player.dataset.recording = id;
    this.player.hidden = false;
    this.playing.textContent = t("console.recording.playing", { id });
    this.player.play().catch(() => {
      // Autoplay refused: the controls are there to start it.
    });
    this.renderList();
  }

  async remove(id) {
    this.error.textContent = "";
    try {
      await this.client.send("DELETE", `/v1/recordings/${encodeURIComponent(id)}`);
      if (this.view.stopped) return;
      if (this.player.dataset.recording === id) this.stopPlayer();
      this.items = this.items.map((r) => (textOf(r.id) === id
        ? { ...r, deleted_at: Date.now() / 1000 } : r));
      this.renderList();
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = error.message;
    }
  }

  stopPlayer() {
    this.player.pause();
    this.player.removeAttribute("src");
    delete this.player.dataset.recording;
    this.player.hidden = true;
    this.playing.textContent = "";
  }

  render() {
    this.renderList();
    const id = this.player.dataset.recording;
    if (id) this.playing.textContent = t("console.recording.playing", { id });
  }

  stop() {
    this.stopPlayer();
  }
}

/** The switch's health checks and the alarms raised now. */
class MonitoringTab {
  constructor(view) {
    this.view = view;
    this.client = view.client;
    this.health = null;
    this.alarms = null;
    this.ticks = 0;
    this.loading = false;
  }

  build(panel) {
    this.status = h("span", { id: "health-status", class: "badge health", data: { status: "" } });
    this.at = h("span", { id: "health-at", class: "muted" });
    this.refresh = button("console.refresh", { id: "monitoring-refresh", class: "quiet" });
    this.healthError = h("p", { id: "health-error", class: "error", role: "alert" });
    this.checks = table("health-checks", [
      { name: "name", label: "console.health.check" },
      { name: "status", label: "console.health.status" },
      { name: "detail", label: "console.health.detail" },
    ]);
    this.alarmsError = h("p", { id: "alarms-error", class: "error", role: "alert" });
    this.alarmTable = table("alarms", ["severity", "kind", "key", "text", "since"]
      .map((name) => ({ name, label: `console.alarm.${name}` })));
    this.alarmsNone = h("p", { id: "alarms-none", class: "muted empty", i18n: "console.alarm.none",
      hidden: true });
    panel.append(
      h("section", { class: "panel console-block", id: "console-block-health" },
        h("div", { class: "panel-head" }, h("h2", { i18n: "console.health.title" }),
          h("span", { class: "head-actions" }, this.status, this.at, this.refresh)),
        this.healthError,
        h("div", { class: "table-scroll console-scroll" }, this.checks)),
      h("section", { class: "panel console-block", id: "console-block-alarms" },
        h("h2", { i18n: "console.alarm.title" }), this.alarmsError,
        h("div", { class: "table-scroll console-scroll" }, this.alarmTable), this.alarmsNone));
    this.view.on(this.refresh, "click", () => this.load());
  }

  show() {
    this.load();
  }

  tick() {
    this.ticks += 1;
    if (this.ticks % HEALTH_TICKS === 0) this.load();
  }

  async load() {
    if (this.loading) return;
    this.loading = true;
    try {
      await Promise.all([this.loadHealth(), this.loadAlarms()]);
    } finally {
      this.loading = false;
    }
  }

  async loadHealth() {
    try {
      // A failing switch answers 503 with the same document: it is still what to show.
      const answer = await this.client.send("GET", "/health", { accept: [503] });
      if (this.view.stopped) return;
      if (!isObject(answer.data)) throw new ApiProblem(answer.status, null);
      this.health = answer.data;
      this.healthError.textContent = "";
      this.renderHealth();
    } catch (error) {
      if (!this.view.stopped) this.healthError.textContent = error.message;
    }
  }

  async loadAlarms() {
    try {
      const alarms = await this.client.get("/v1/alarms");
      if (this.view.stopped) return;
      this.alarms = alarmsOf(alarms);
      this.alarmsError.textContent = "";
      this.renderAlarms();
    } catch (error) {
      if (!this.view.stopped) this.alarmsError.textContent = error.message;
    }
  }

  renderHealth() {
    const health = this.health;
    if (health === null) return;
    const status = textOf(health.status);
    this.status.dataset.status = status;
    this.status.textContent = status ? word("console.health", status) : NONE;
    this.at.textContent = numberOrNull(health.at) === null ? ""
      : t("console.health.at", { time: when(health.at, getLanguage()) });
    this.checks.tBodies[0].replaceChildren(...healthChecks(health).map((c) => h("tr",
      { data: { check: c.name, status: c.status } },
      rowHead(c.name),
      h("td", { data: { status: c.status } }, h("span", { class: "badge health",
        data: { status: c.status }, text: c.status ? word("console.health", c.status) : NONE })),
      cell(c.detail || NONE))));
  }

  renderAlarms() {
    if (this.alarms === null) return;
    const lang = getLanguage();
    this.alarmTable.tBodies[0].replaceChildren(...this.alarms.map((a) => h("tr",
      { data: { kind: a.kind, severity: a.severity } },
      h("td", { data: { severity: a.severity } }, h("span", { class: "badge severity",
        data: { severity: a.severity }, text: a.severity ? word("console.severity", a.severity)
          : NONE })),
      cell(a.kind || NONE), cell(a.key || NONE), cell(a.text || NONE),
      cell(when(a.since, lang)))));
    this.alarmsNone.hidden = this.alarms.length > 0;
  }

  render() {
    this.renderHealth();
    this.renderAlarms();
  }
}

/** Announcements shown on every agent's desktop for a while. */
class AnnouncementsTab {
  constructor(view) {
    this.view = view;
    this.client = view.client;
    this.items = [];
    this.loaded = false;
  }

  build(panel) {
    this.form = h("form", { id: "announcement-form", class: "stack-form console-editor",
      novalidate: true },
    inputRow("announcement", { name: "text", type: "textarea", rows: 3,
      max: ANNOUNCEMENT_MAX, label: "console.announce.text" }),
    this.count = h("p", { id: "announcement-count", class: "hint" }),
    inputRow("announcement", { name: "minutes", type: "number",
      label: "console.announce.minutes" }),
    this.line = h("p", { id: "announcement-error", class: "error", role: "alert" }),
    h("div", { class: "actions" }, this.sendButton = h("button", { id: "announcement-send",
      type: "submit", class: "primary", i18n: "console.announce.send" })));
    this.form.elements.namedItem("minutes").value = "60";
    this.list = h("ul", { id: "announcements", class: "results announcements" });
    this.none = h("p", { id: "announcements-none", class: "muted empty",
      i18n: "console.announce.none", hidden: true });
    this.error = h("p", { id: "announcements-error", class: "error", role: "alert" });
    this.refresh = button("console.refresh", { id: "announcements-refresh", class: "quiet" });
    panel.append(
      h("section", { class: "panel console-block", id: "console-block-announce" },
        h("h2", { i18n: "console.announce.title" }),
        h("p", { class: "hint", i18n: "console.about.announcements" }), this.form),
      h("section", { class: "panel console-block", id: "console-block-announcements" },
        h("div", { class: "panel-head" }, h("h2", { i18n: "console.announce.current" }),
          h("span", { class: "head-actions" }, this.refresh)),
        this.error, this.list, this.none));
    const on = this.view.on.bind(this.view);
    on(this.form, "submit", (event) => this.send(event));
    on(this.form.elements.namedItem("text"), "input", () => this.renderCount());
    on(this.refresh, "click", () => this.load());
    on(this.list, "click", (event) => {
      const btn = event.target.closest("button[data-action=\"withdraw\"]");
      const item = btn?.closest("li[data-announcement]");
      if (btn && item) confirmed(btn, () => this.withdraw(item.dataset.announcement));
    });
    this.renderCount();
  }

  show() {
    this.load();
  }

  renderCount() {
    this.count.textContent = t("console.announce.count", {
      count: this.form.elements.namedItem("text").value.length, max: ANNOUNCEMENT_MAX,
    });
  }

  async load() {
    this.error.textContent = "";
    try {
      const items = await this.client.get("/v1/announcements");
      if (this.view.stopped) return;
      this.items = (Array.isArray(items) ? items : []).filter(isObject);
      this.loaded = true;
      this.renderList();
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = error.message;
    }
  }

  renderList() {
    const lang = getLanguage();
    this.list.replaceChildren(...this.items.map((a) => {
      const id = textOf(a.id);
      const withdraw = rowButton("withdraw", "console.announce.withdraw", "danger",
        t("console.announce.withdrawAria", { id }));
      withdraw.dataset.i18nKey = "console.announce.withdraw";
      return h("li", { data: { announcement: id } },
        h("p", { class: "pre announcement-text", text: textOf(a.text) }),
        h("span", { class: "meta", text: t("console.announce.meta", {
          author: textOf(a.author) || NONE, created: when(a.created, lang),
          until: when(a.until, lang) }) }),
        withdraw);
    }));
    this.none.hidden = !this.loaded || this.items.length > 0;
  }

  async send(event) {
    event.preventDefault();
    clearErrors(this.form, this.line);
    const { body, wrong } = checkAnnouncement(this.form.elements.namedItem("text").value,
      this.form.elements.namedItem("minutes").value);
    if (wrong.length > 0) {
      showWrong(this.form, wrong);
      return;
    }
    this.sendButton.disabled = true;
    try {
      await this.client.send("POST", "/v1/announcements", { json: body });
      if (this.view.stopped) return;
      this.form.elements.namedItem("text").value = "";
      this.renderCount();
      this.load();
    } catch (error) {
      if (!this.view.stopped) showProblem(this.form, this.line, error);
    } finally {
      this.sendButton.disabled = false;
    }
  }

  async withdraw(id) {
    this.error.textContent = "";
    try {
      await this.client.send("DELETE", `/v1/announcements/${encodeURIComponent(id)}`);
      if (this.view.stopped) return;
      this.items = this.items.filter((a) => textOf(a.id) !== id);
      this.renderList();
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = error.message;
    }
  }

  render() {
    this.renderCount();
    this.renderList();
  }
}

// ---------------------------------------------------------------------------- the console

class ConsoleView {
  /**
   * @param {object} deps what the page gives the console: `session` (its `csrf` is sent
   *   with every change), `api(method, path, body)`, `sessionEnded()`, `checkSession()`,
   *   `setLost(name, lost)` and `phoneErrorText(detail)` (for the wallboard).
   */
  constructor(deps) {
    this.deps = deps;
    this.client = new Client(deps);
    this.listeners = new AbortController();
    this.stopped = false;
    this.root = element("console");
    this.tabs = TABS.map((name) => element(`console-tab-${name}`));
    this.panels = Object.fromEntries(TABS.map((name) => [name, element(`console-${name}`)]));
    this.title = document.querySelector(".topbar-title");
    this.titleKey = this.title?.dataset.i18n ?? "";
    this.tab = null;
    this.timer = null;
    this.extensions = h("datalist", { id: "console-extension-numbers" });
    this.views = {
      wallboard: new WallboardTab(this),
      extensions: new SectionsTab(this, [new EntrySection(this, "extensions")]),
      agents: new SectionsTab(this, [new EntrySection(this, "agents")]),
      skills: new SkillGroupsTab(this),
      queues: new SectionsTab(this, [new EntrySection(this, "queues")]),
      ivr: new SectionsTab(this, [new EntrySection(this, "ivr", { withGraph: true })]),
      routes: new SectionsTab(this, [new EntrySection(this, "routes"),
        new EntrySection(this, "dids"), new EntrySection(this, "calendars"),
        new MappingSection(this, "blacklist")]),
      trunks: new SectionsTab(this, [new EntrySection(this, "trunks")]),
      campaigns: new CampaignsTab(this),
      dnc: new DncTab(this),
      rates: new SectionsTab(this, [new MappingSection(this, "rates"),
        new MappingSection(this, "limits")]),
      dispositions: new SectionsTab(this, [new EntrySection(this, "dispositions")]),
      users: new UsersTab(this),
      reports: new ReportsTab(this),
      recordings: new RecordingsTab(this),
      monitoring: new MonitoringTab(this),
      announcements: new AnnouncementsTab(this),
      kb: new KnowledgeTab(this),
    };
  }

  /** `addEventListener` that `stop` undoes. */
  on(target, type, handler) {
    target.addEventListener(type, handler, { signal: this.listeners.signal });
  }

  start() {
    for (const name of TABS) {
      this.panels[name].replaceChildren();
      this.views[name].build(this.panels[name]);
    }
    this.panels.agents.append(this.extensions);
    for (const tab of this.tabs) {
      this.on(tab, "click", () => this.select(tab.dataset.tab));
      this.on(tab, "keydown", (event) => this.tabKey(event));
    }
    if (this.title) this.title.dataset.i18n = "console.title";
    this.root.hidden = false;
    applyTranslations(this.root);
    if (this.title) applyTranslations(this.title.parentElement);
    this.select(readTab());
    this.loadExtensions();
    this.timer = setInterval(() => this.tick(), POLL_MS);
  }

  stop() {
    this.stopped = true;
    this.client.stopped = true;
    clearInterval(this.timer);
    this.timer = null;
    this.listeners.abort();
    this.views.wallboard.stop();
    this.views.recordings.stop();
    // What this admin saw must not stay in the page for the next user of the browser.
    for (const name of TABS) this.panels[name].replaceChildren();
    this.root.hidden = true;
    if (this.title) {
      this.title.dataset.i18n = this.titleKey;
      applyTranslations(this.title.parentElement);
    }
  }

  renderTitle() {
    if (this.stopped || !this.title) return;
    this.title.dataset.i18n = "console.title";
    applyTranslations(this.title.parentElement);
  }

  select(name) {
    if (this.stopped) return;
    const chosen = TABS.includes(name) ? name : TABS[0];
    this.tab = chosen;
    for (const tab of this.tabs) {
      const selected = tab.dataset.tab === chosen;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      this.panels[tab.dataset.tab].hidden = !selected;
    }
    try {
      window.localStorage.setItem(TAB_KEY, chosen);
    } catch {
      // Not remembered then; the tab still shows.
    }
    this.views[chosen].show?.();
  }

  /** Arrow keys, Home and End move between the tabs (WAI-ARIA tabs pattern). */
  tabKey(event) {
    const index = TABS.indexOf(this.tab);
    const to = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: TABS.length - 1 }[
      event.key];
    if (to === undefined) return;
    event.preventDefault();
    const name = TABS[(to + TABS.length) % TABS.length];
    this.select(name);
    this.tabs[TABS.indexOf(name)].focus();
  }

  tick() {
    if (this.stopped || document.visibilityState === "hidden") return;
    this.views[this.tab]?.tick?.();
  }

  /** A configuration section changed: what other tabs show of it is read again. */
  changed(section) {
    if (section === "extensions") this.loadExtensions();
    if (section === "agents" || section === "queues") {
      // The skill groups are made of both; the agents tab shows what the groups wrote.
      if (this.tab === "skills") this.views.skills.load();
      else this.views.skills.loaded = false;
      const agents = this.views.agents.parts[0];
      if (this.tab !== "agents" && agents.loaded) agents.load();
    }
    if (section === "campaigns" && this.views.campaigns.loadedOnce) {
      this.views.campaigns.loadLive();
    }
  }

  /** The extension numbers offered in the agents' form. */
  async loadExtensions() {
    try {
      const list = await this.client.get("/v1/extensions");
      if (this.stopped) return;
      this.extensions.replaceChildren(...(Array.isArray(list) ? list : []).filter(isObject)
        .map((e) => h("option", { value: textOf(e.number), text: textOf(e.name) })));
    } catch {
      // Only a convenience: the field takes any number typed.
    }
  }

  render() {
    if (this.stopped) return;
    applyTranslations(this.root);
    this.renderTitle();
    for (const name of TABS) this.views[name].render?.();
  }

  retryNow() {
    this.views.wallboard.retryNow();
  }
}

function readTab() {
  try {
    const stored = window.localStorage.getItem(TAB_KEY);
    return TABS.includes(stored) ? stored : TABS[0];
  } catch {
    return TABS[0];
  }
}

/**
 * Show the console and build its tabs. Returns the view: `stop()` at logout, `render()`
 * after a language change, `retryNow()` when the network is back.
 */
export function startConsole(deps) {
  const view = new ConsoleView(deps);
  view.start();
  return view;
}
