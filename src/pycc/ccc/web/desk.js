/**
 * The agent desktop's tabs beside the call: the caller's customer record, tickets, the
 * knowledge base, the agent's own recent calls with their recordings, and the profile.
 *
 * When a call rings or is placed, the desk looks the other party up by number
 * (`/v1/customers?phone=`) and shows the match, or offers to create one with that number;
 * a dialer's call also shows the contact fields it carries; each of a customer's numbers
 * has a button that calls it from the agent's phone. A ticket made during or after a
 * call links that call (its pycc call id) and the customer shown. Lists come from pycc in
 * pages (`{items, next}`); every request goes through the page's `api()` (session cookie,
 * CSRF header, RFC 9457 problems), and a problem naming a field shows next to that field.
 *
 * Nothing here touches the DOM until `startDesk`, so the pure parts can be loaded anywhere.
 * Anything from the server or the user reaches the page as textContent, never as markup.
 */

import { clearErrors, fieldError } from "./forms.js";
import { getLanguage, has, setLanguage, t } from "./i18n.js";
import { formatWait } from "./supervisor.js";
import { isObject, numberOrNull, textOf } from "./values.js";

export const TABS = Object.freeze(["customer", "tickets", "kb", "history", "profile"]);
export const TICKET_STATUSES = Object.freeze(["open", "pending", "solved", "closed"]);
export const PRIORITIES = Object.freeze(["low", "normal", "high", "urgent"]);
export const TICKET_FILTERS = Object.freeze(["mine", "open", "all"]);

/** Keys of a call's `info` that describe the call's way in rather than the customer. */
const CALL_KEYS = new Set(["queue", "queue_wait", "ivr_path"]);

// What pycc accepts (the customers and tickets contract); pycc checks again and has the
// last word, these only spare the agent a round trip for the obvious mistakes.
export const LIMITS = Object.freeze({
  name: 120, phones: 5, notes: 5000, subject: 200, body: 10000, comment: 5000,
});
const PHONE = /^[0-9 +\-().]{3,32}$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

/** How many calls "My calls" shows, and the most records one request may ask for. */
export const HISTORY_SIZE = 50;
const PAGE_MAX = 1000;
/** Recordings are paged oldest first from the oldest call shown: read on up to this. */
const RECORDING_REQUESTS_MAX = 10;
const LIST_PAGE = 50;
const LOOKUP_LIMIT = 10;

const NONE = "—";

// ---------------------------------------------------------------------------- pure parts

/** The items of a page that are objects with an id, the first of each id. */
export function itemsOf(page) {
  const seen = new Set();
  const items = [];
  for (const item of Array.isArray(page?.items) ? page.items : []) {
    if (!isObject(item)) continue;
    const id = textOf(item.id);
    if (id === "" || seen.has(id)) continue;
    seen.add(id);
    items.push(item);
  }
  return items;
}

function nextOf(page) {
  return typeof page?.next === "string" && page.next !== "" ? page.next : null;
}

/** The number to look a party up by: a SIP URI's user part, or the peer as it is;
 * "" when it holds no digit (an anonymous caller). */
export function lookupNumber(peer) {
  let text = typeof peer === "string" ? peer.trim() : "";
  const angle = /<([^>]*)>/.exec(text);
  if (angle) text = angle[1];
  text = text.replace(/^sips?:/i, "").replace(/[@;].*$/, "").trim();
  return /[0-9]/.test(text) ? text : "";
}

/** A phone number as pycc compares them: its digits, with a leading + kept. */
export function normalisePhone(text) {
  const trimmed = String(text ?? "").trim();
  return (trimmed.startsWith("+") ? "+" : "") + trimmed.replace(/[^0-9]/g, "");
}

/**
 * The customer fields a call carries, as `[name, text]`: every `info` key except those
 * about the call's way in, a `contact` object's own fields in its place.
 */
export function contactFields(info) {
  if (!isObject(info)) return [];
  const fields = [];
  const add = (name, value) => {
    if (value === null || value === undefined || value === "") return;
    fields.push([name, isObject(value) || Array.isArray(value) ? JSON.stringify(value)
      : String(value)]);
  };
  for (const [key, value] of Object.entries(info)) {
    if (CALL_KEYS.has(key)) continue;
    if (key === "contact" && isObject(value)) {
      for (const [field, inner] of Object.entries(value)) add(field, inner);
    } else {
      add(key, value);
    }
  }
  return fields;
}

/** The phones typed in one box, separated by commas (the Chinese comma too) or semicolons. */
export function splitPhones(text) {
  return String(text ?? "").split(/[,，;；]/).map((p) => p.trim()).filter((p) => p !== "");
}

/**
 * A customer form's values as the body pycc wants, and `[field, message]` for each value
 * it would refuse. Empty email and company are null (none).
 */
export function checkCustomer({ name = "", phones = "", email = "", company = "", notes = "" }) {
  const wrong = [];
  const body = {
    name: String(name).trim(),
    phones: splitPhones(phones),
    email: String(email).trim() || null,
    company: String(company).trim() || null,
    notes: String(notes).trim(),
  };
  if (!body.name) wrong.push(["name", t("error.required")]);
  else if (body.name.length > LIMITS.name) {
    wrong.push(["name", t("desk.tooLong", { max: LIMITS.name })]);
  }
  const badPhone = body.phones.find((p) => !PHONE.test(p));
  if (body.phones.length > LIMITS.phones) {
    wrong.push(["phones", t("customer.tooManyPhones", { max: LIMITS.phones })]);
  } else if (badPhone !== undefined) {
    wrong.push(["phones", t("customer.badPhone", { phone: badPhone })]);
  }
  if (body.email !== null && !EMAIL.test(body.email)) {
    wrong.push(["email", t("customer.badEmail")]);
  }
  if (body.notes.length > LIMITS.notes) {
    wrong.push(["notes", t("desk.tooLong", { max: LIMITS.notes })]);
  }
  return { body, wrong };
}

/** A new ticket's typed values as pycc wants them, and what is wrong with them. */
export function checkTicket({ subject = "", body = "", priority = "normal" }) {
  const wrong = [];
  const values = { subject: String(subject).trim(), body: String(body).trim(), priority };
  if (!values.subject) wrong.push(["subject", t("error.required")]);
  else if (values.subject.length > LIMITS.subject) {
    wrong.push(["subject", t("desk.tooLong", { max: LIMITS.subject })]);
  }
  if (values.body.length > LIMITS.body) {
    wrong.push(["body", t("desk.tooLong", { max: LIMITS.body })]);
  }
  if (!PRIORITIES.includes(priority)) wrong.push(["priority", t("ticket.badPriority")]);
  return { values, wrong };
}

/** A comment's text, and what is wrong with it ("" when nothing). */
export function checkComment(text) {
  const body = String(text ?? "").trim();
  const problem = !body ? t("error.required")
    : body.length > LIMITS.comment ? t("desk.tooLong", { max: LIMITS.comment }) : "";
  return { body, problem };
}

/**
 * `[field, message]` for each error of an RFC 9457 problem from pycc, the field being the
 * first part of its location after `body`/`query`/`path` (`body.phones.1` is `phones`).
 */
export function problemFields(problem) {
  const errors = isObject(problem) && Array.isArray(problem.errors) ? problem.errors : [];
  return errors.filter(isObject).map((e) => {
    const where = Array.isArray(e.loc) ? e.loc.map(String)
      : typeof e.field === "string" ? e.field.split(".") : [];
    const rest = ["body", "query", "path"].includes(where[0]) ? where.slice(1) : where;
    return [rest[0] ?? "", String(e.msg ?? e.message ?? "")];
  });
}

/** The query of the tickets list for a filter choice. */
export function ticketsPath(filter) {
  const query = filter === "mine" ? "assignee=me&" : filter === "open" ? "status=open&" : "";
  return `/v1/tickets?${query}limit=${LIST_PAGE}`;
}

/** The party of a call record that is not the agent: the caller, unless that is the
 * agent's own extension (or, when neither side is, the call went out). */
export function otherNumber(record, extension) {
  const caller = textOf(record?.caller);
  const callee = textOf(record?.callee);
  if (extension && caller === extension) return callee;
  if (extension && callee === extension) return caller;
  return record?.direction === "outbound" ? callee : caller;
}

/** The `count` newest call records (by start, then id), one per call. */
export function newestRecords(records, count = HISTORY_SIZE) {
  const byCall = new Map();
  for (const record of Array.isArray(records) ? records : []) {
    if (!isObject(record) || typeof record.call_id !== "string" || record.call_id === "") continue;
    const known = byCall.get(record.call_id);
    if (!known || (numberOrNull(record.id) ?? 0) > (numberOrNull(known.id) ?? 0)) {
      byCall.set(record.call_id, record);
    }
  }
  const key = (r) => [numberOrNull(r.start) ?? 0, numberOrNull(r.id) ?? 0];
  return [...byCall.values()].sort((a, b) => {
    const [sa, ia] = key(a);
    const [sb, ib] = key(b);
    return sb - sa || ib - ia;
  }).slice(0, count);
}

/** The recording to play for each call: the newest not deleted, by call id. */
export function recordingsByCall(recordings) {
  const found = new Map();
  for (const r of Array.isArray(recordings) ? recordings : []) {
    if (!isObject(r) || typeof r.call_id !== "string" || r.deleted_at != null) continue;
    const id = numberOrNull(r.id);
    if (id === null) continue;
    if ((found.get(r.call_id) ?? -1) < id) found.set(r.call_id, id);
  }
  return found;
}

/** A server word in the page's language; a word this page does not know shows as it is. */
function word(prefix, value) {
  const key = `${prefix}.${value}`;
  return has(key) ? t(key) : String(value);
}

/** Unix seconds as a short date and time in the page's language; "—" when unknown. */
export function when(seconds, lang = "en") {
  const value = numberOrNull(seconds);
  if (value === null) return NONE;
  return new Date(value * 1000).toLocaleString(lang, { dateStyle: "short", timeStyle: "short" });
}

// ---------------------------------------------------------------------------- DOM helpers

function element(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`index.html has no #${id}`);
  return found;
}

function addRow(list, label, value, field = "") {
  const row = document.createElement("div");
  if (field) row.dataset.field = field;
  const term = document.createElement("dt");
  term.textContent = label;
  const description = document.createElement("dd");
  description.textContent = value;
  row.append(term, description);
  list.append(row);
  return description;
}

function span(className, text) {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  return el;
}

/** A list item naming `id` in `data-<key>`, opened by its button. */
function listItem(key, id, title, meta) {
  const li = document.createElement("li");
  li.dataset[key] = id;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link";
  button.textContent = title;
  li.append(button);
  const line = document.createElement("span");
  line.className = "meta";
  line.append(...meta.filter((part) => part !== null && part !== ""));
  if (line.childNodes.length > 0) li.append(line);
  return li;
}

/** Messages by the fields they name, then the first wrong field in focus. */
function showWrong(form, wrong) {
  for (const [field, message] of wrong) fieldError(form, field, message);
  const first = wrong.length > 0 ? form.elements.namedItem(wrong[0][0]) : null;
  if (first && typeof first.focus === "function") first.focus();
}

/** A failed request: its detail on the line, each field's message by the field (or on
 * the line, when the form has no such field). */
function showProblem(form, line, error) {
  const unplaced = [];
  for (const [field, message] of problemFields(error?.problem)) {
    if (!fieldError(form, field, message) && message) {
      unplaced.push(field ? `${field}: ${message}` : message);
    }
  }
  line.textContent = [error?.message ?? String(error), ...unplaced].join(" · ");
}

// ---------------------------------------------------------------------------- paged lists

/** One list the server gives in pages: shown with its empty-state text and a "more"
 * button while pycc has more. Answers to a request overtaken by a newer one are dropped. */
class Pager {
  constructor(desk, { list, none, more, error, make }) {
    this.desk = desk;
    this.list = list;
    this.none = none;
    this.more = more;
    this.error = error;
    this.make = make;
    this.clear();
  }

  clear() {
    this.seq = (this.seq ?? 0) + 1;
    this.path = "";
    this.items = [];
    this.next = null;
    this.loaded = false;
    this.list.removeAttribute("aria-busy");
    this.render();
  }

  load(path) {
    this.clear();
    this.path = path;
    return this.fetch(null);
  }

  /** Show items already fetched (a lookup's matches) as this list's first page. */
  show(path, items, next) {
    this.clear();
    this.path = path;
    this.items = items;
    this.next = next;
    this.loaded = true;
    this.render();
  }

  loadMore() {
    return this.next === null ? Promise.resolve() : this.fetch(this.next);
  }

  async fetch(after) {
    const seq = ++this.seq;
    const path = after === null ? this.path : `${this.path}&after=${encodeURIComponent(after)}`;
    this.error.textContent = "";
    this.list.setAttribute("aria-busy", "true");
    try {
      const page = await this.desk.deps.api("GET", path);
      if (seq !== this.seq || this.desk.stopped) return;
      if (after === null) {
        this.items = itemsOf(page);
      } else {
        const known = new Set(this.items.map((item) => textOf(item.id)));
        this.items = [...this.items, ...itemsOf(page).filter((i) => !known.has(textOf(i.id)))];
      }
      this.next = nextOf(page);
      this.loaded = true;
    } catch (error) {
      if (seq !== this.seq || this.desk.stopped) return;
      this.error.textContent = error.message;
    }
    this.list.removeAttribute("aria-busy");
    this.render();
  }

  find(id) {
    return this.items.find((item) => textOf(item.id) === String(id)) ?? null;
  }

  replace(item) {
    const index = this.items.findIndex((known) => textOf(known.id) === textOf(item.id));
    if (index < 0) return;
    this.items[index] = item;
    this.render();
  }

  /** Show an item just made at the top. A list still loading would come back without it
   * (it was read before the item existed): that answer is dropped and the list read
   * again. */
  prepend(item) {
    const loading = this.list.hasAttribute("aria-busy");
    this.items = [item, ...this.items.filter((known) => textOf(known.id) !== textOf(item.id))];
    this.loaded = true;
    this.render();
    if (loading) this.fetch(null);
  }

  render() {
    this.list.replaceChildren(...this.items.map((item) => this.make(item)));
    this.none.hidden = !(this.loaded && this.items.length === 0);
    this.more.hidden = this.next === null;
  }
}

// ---------------------------------------------------------------------------- the desk

const IDS = [
  "desk",
  "customer-lookup", "customer-create", "customers-error", "customer-card", "customer-name",
  "customer-edit", "customer-details", "call-contact", "call-contact-fields",
  "customer-search-form", "customer-search", "customer-results", "customer-results-none",
  "customer-more", "customer-form", "customer-form-title", "customer-new", "customer-form-name",
  "customer-form-phones", "customer-form-email", "customer-form-company",
  "customer-form-notes", "customer-error", "customer-save", "customer-saved",
  "tickets-filter", "tickets-refresh", "tickets-error", "tickets-list", "tickets-none",
  "tickets-more", "ticket-view", "ticket-view-title", "ticket-view-close", "ticket-view-facts",
  "ticket-status", "ticket-customer", "ticket-view-error", "ticket-view-body",
  "ticket-assign-form", "ticket-assign-to", "ticket-assign", "ticket-unassign",
  "ticket-comments", "ticket-comments-none", "ticket-comment-form", "ticket-comment",
  "ticket-comment-add", "ticket-form", "ticket-subject", "ticket-body", "ticket-priority",
  "ticket-link-call-row", "ticket-link-call", "ticket-link-call-text",
  "ticket-link-customer-row", "ticket-link-customer", "ticket-link-customer-text",
  "ticket-assign-me", "ticket-error", "ticket-save",
  "kb-search-form", "kb-search", "kb-error", "kb-results", "kb-results-none", "kb-more",
  "kb-article", "kb-article-title", "kb-article-close", "kb-article-tags", "kb-article-meta",
  "kb-article-body",
  "history-refresh", "history-error", "history", "history-none", "history-player",
  "profile-user", "profile-role", "profile-tenant", "profile-agent", "profile-extension",
  "profile-error", "profile-lang", "profile-logout",
];

class Desk {
  /**
   * @param {object} deps what the page gives the desk: `api(method, path, body)` (throws a
   *   problem whose message is its detail and whose `problem` is the document), `session`
   *   (`{user, tenant, role, agent}`), `logout()`, `agent()` (the agent as last read, or
   *   null), `dispositions()` (`[{code, label}]`) and `dial(number)` (calls it from the
   *   agent's phone; false when it could not, the page saying why).
   */
  constructor(deps) {
    this.deps = deps;
    this.el = Object.fromEntries(IDS.map((id) => [id, element(id)]));
    this.tabs = TABS.map((name) => element(`tab-${name}`));
    this.panels = Object.fromEntries(TABS.map((name) => [name, element(`panel-${name}`)]));
    this.listeners = new AbortController();
    this.stopped = false;
    this.tab = "customer";
    /** Calls on the phone not ended yet, by the phone's call id. */
    this.live = new Map();
    /** The call the customer panel is about, and the latest call pycc named. */
    this.shownCall = null;
    this.lastCall = null;
    this.lookup = { number: "", state: "", count: 0 };
    this.lookupSeq = 0;
    this.contact = [];
    this.customer = null;
    /** The customer the form edits (null: the form makes a new one). */
    this.editing = null;
    this.ticket = null;
    this.ticketSeq = 0;
    this.ticketsLoaded = false;
    this.kbLoaded = false;
    this.article = null;
    this.articleSeq = 0;
    this.history = [];
    this.recordings = new Map();
    this.historyLoaded = false;
    this.historySeq = 0;
    this.agentInfo = null;
    this.busy = new Set();

    this.customers = new Pager(this, {
      list: this.el["customer-results"], none: this.el["customer-results-none"],
      more: this.el["customer-more"], error: this.el["customers-error"],
      make: (c) => this.customerItem(c),
    });
    this.tickets = new Pager(this, {
      list: this.el["tickets-list"], none: this.el["tickets-none"],
      more: this.el["tickets-more"], error: this.el["tickets-error"],
      make: (ticket) => this.ticketItem(ticket),
    });
    this.articles = new Pager(this, {
      list: this.el["kb-results"], none: this.el["kb-results-none"],
      more: this.el["kb-more"], error: this.el["kb-error"],
      make: (article) => listItem("article", textOf(article.id), textOf(article.title) || NONE,
        [span("tags-inline", tagsOf(article).join(" · "))]),
    });
  }

  start() {
    const { signal } = this.listeners;
    const on = (id, type, handler) => this.el[id].addEventListener(type, handler, { signal });
    for (const tab of this.tabs) {
      tab.addEventListener("click", () => this.select(tab.dataset.tab), { signal });
      tab.addEventListener("keydown", (event) => this.tabKey(event), { signal });
    }
    on("customer-create", "click", () => this.createFromLookup());
    on("customer-edit", "click", () => this.editCustomer());
    on("customer-details", "click", (event) => this.dialCustomer(event));
    on("customer-new", "click", () => this.resetCustomerForm(true));
    on("customer-search-form", "submit", (event) => this.searchCustomers(event));
    on("customer-results", "click", (event) => this.pickCustomer(event));
    on("customer-more", "click", () => this.customers.loadMore());
    on("customer-form", "submit", (event) => this.saveCustomer(event));

    on("tickets-filter", "change", () => this.loadTickets());
    on("tickets-refresh", "click", () => this.loadTickets());
    on("tickets-list", "click", (event) => this.pickTicket(event));
    on("tickets-more", "click", () => this.tickets.loadMore());
    on("ticket-view-close", "click", () => this.closeTicket());
    on("ticket-status", "change", () => this.changeStatus());
    on("ticket-customer", "click", () => this.showTicketCustomer());
    on("ticket-assign-form", "submit", (event) => {
      event.preventDefault();
      this.assignTicket(this.el["ticket-assign-to"].value.trim());
    });
    on("ticket-unassign", "click", () => this.assignTicket(null));
    on("ticket-comment-form", "submit", (event) => this.addComment(event));
    on("ticket-form", "submit", (event) => this.saveTicket(event));

    on("kb-search-form", "submit", (event) => this.searchArticles(event));
    on("kb-results", "click", (event) => this.pickArticle(event));
    on("kb-more", "click", () => this.articles.loadMore());
    on("kb-article-close", "click", () => this.closeArticle());

    on("history-refresh", "click", () => this.loadHistory());
    on("history", "click", (event) => this.play(event));

    on("profile-lang", "change", () => setLanguage(this.el["profile-lang"].value));
    on("profile-logout", "click", () => this.deps.logout());

    this.el.desk.hidden = false;
    this.resetCustomerForm(false);
    this.select("customer");
    this.render();
  }

  /** Forget everything shown: the next user of this browser must not see it. */
  stop() {
    this.stopped = true;
    this.listeners.abort();
    const player = this.el["history-player"];
    player.pause();
    player.removeAttribute("src");
    delete player.dataset.recording;
    player.hidden = true;
    for (const pager of [this.customers, this.tickets, this.articles]) pager.clear();
    for (const form of ["customer-form", "ticket-form", "ticket-comment-form"]) {
      this.el[form].reset();
      clearErrors(this.el[form], null);
    }
    this.el["customer-search"].value = "";
    this.el["kb-search"].value = "";
    for (const id of ["customers-error", "customer-error", "customer-saved", "tickets-error",
      "ticket-view-error", "ticket-error", "kb-error", "history-error", "profile-error",
      "customer-lookup", "customer-name", "ticket-view-title", "ticket-view-body",
      "kb-article-title", "kb-article-tags", "kb-article-meta", "kb-article-body",
      "profile-user", "profile-role", "profile-tenant", "profile-agent",
      "profile-extension"]) {
      this.el[id].textContent = "";
    }
    for (const id of ["customer-details", "call-contact-fields", "ticket-view-facts",
      "ticket-comments"]) {
      this.el[id].replaceChildren();
    }
    this.el.history.tBodies[0].replaceChildren();
    for (const id of ["customer-card", "call-contact", "customer-create", "ticket-view",
      "kb-article", "history-none", "desk"]) {
      this.el[id].hidden = true;
    }
    this.el["customer-lookup"].dataset.state = "";
    this.el["customer-card"].dataset.customer = "";
    this.el["ticket-view"].dataset.ticket = "";
    this.el["kb-article"].dataset.article = "";
    this.el["tickets-filter"].value = "mine";
    this.selectTab("customer");
  }

  /** Render every text again (after a language change). */
  render() {
    if (this.stopped) return;
    this.el["profile-lang"].value = getLanguage();
    this.renderLookup();
    this.renderCustomer();
    this.renderContact();
    this.renderCustomerForm();
    this.customers.render();
    this.tickets.render();
    this.articles.render();
    this.renderTicket();
    this.renderTicketLinks();
    this.renderArticle();
    this.renderHistory();
    this.renderProfile();
  }

  // -------------------------------------------------------------------------- tabs

  selectTab(name) {
    this.tab = name;
    for (const tab of this.tabs) {
      const chosen = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(chosen));
      tab.tabIndex = chosen ? 0 : -1;
      this.panels[tab.dataset.tab].hidden = !chosen;
    }
  }

  /** Show a tab; the first look at a list loads it, "My calls" and the profile every time. */
  select(name) {
    if (this.stopped || !TABS.includes(name)) return;
    this.selectTab(name);
    if (name === "tickets" && !this.ticketsLoaded) this.loadTickets();
    if (name === "kb" && !this.kbLoaded) this.searchArticles(null);
    if (name === "history") this.loadHistory();
    if (name === "profile") this.loadProfile();
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

  /** Whether the agent is typing in one of the tabs (a ringing call must not pull the
   * panel away from under the cursor). */
  typing() {
    const active = document.activeElement;
    return active !== null && this.el.desk.contains(active) && !active.closest("[hidden]")
      && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName);
  }

  // -------------------------------------------------------------------------- calls

  /** A call on the phone changed (the phone's `call` event detail). */
  callChanged(call) {
    if (this.stopped || !isObject(call) || typeof call.call !== "string") return;
    const ended = call.state === "ended";
    if (typeof call.pycc_call === "string" && call.pycc_call !== "") {
      this.lastCall = { call: call.call, pycc_call: call.pycc_call, peer: textOf(call.peer) };
    }
    const known = this.live.has(call.call);
    if (ended) this.live.delete(call.call);
    else this.live.set(call.call, call);
    if (!known && !ended) {
      this.lookUp(call);
      if (this.tab !== "customer" && call.direction === "incoming" && !this.typing()) {
        this.select("customer");
      }
    } else if (call.call === this.shownCall) {
      this.contact = contactFields(call.info);
      this.renderContact();
    }
    this.renderTicketLinks();
  }

  /** The call a new ticket links: the one being talked on, else the latest pycc named. */
  ticketCall() {
    const live = [...this.live.values()].filter((c) => typeof c.pycc_call === "string"
      && c.pycc_call !== "");
    const talking = live.find((c) => c.state === "answered" || c.state === "held");
    const call = talking ?? live.at(-1) ?? null;
    return call ? { pycc_call: call.pycc_call, peer: textOf(call.peer) } : this.lastCall;
  }

  // -------------------------------------------------------------------------- customers

  async lookUp(call) {
    const seq = ++this.lookupSeq;
    const number = lookupNumber(call.peer);
    this.shownCall = call.call;
    this.contact = contactFields(call.info);
    this.lookup = { number, state: number ? "loading" : "unknown", count: 0 };
    this.el["customers-error"].textContent = "";
    // The last caller's record must not stay up: a ticket would link the wrong customer.
    this.showCustomer(null);
    this.customers.clear();
    this.renderLookup();
    this.renderContact();
    if (!number) return;
    const path = `/v1/customers?phone=${encodeURIComponent(number)}&limit=${LOOKUP_LIMIT}`;
    try {
      const page = await this.deps.api("GET", path);
      if (seq !== this.lookupSeq || this.stopped) return;
      const found = itemsOf(page);
      this.lookup = { number, state: found.length > 0 ? "found" : "none", count: found.length };
      if (found.length > 0) this.showCustomer(found[0]);
      // Several customers share the number: the agent picks the one on the line.
      if (found.length > 1 || nextOf(page) !== null) {
        this.customers.show(path, found, nextOf(page));
      }
    } catch (error) {
      if (seq !== this.lookupSeq || this.stopped) return;
      this.lookup = { number, state: "error", count: 0 };
      this.el["customers-error"].textContent = error.message;
    }
    this.renderLookup();
  }

  renderLookup() {
    const { number, state, count } = this.lookup;
    const line = this.el["customer-lookup"];
    line.dataset.state = state;
    const key = {
      "": "customer.idle", loading: "customer.looking", unknown: "customer.unknownNumber",
      none: "customer.noMatch", error: "customer.lookupFailed",
      found: count > 1 ? "customer.severalMatches" : "customer.match",
    }[state];
    line.textContent = t(key, { number, count });
    this.el["customer-create"].hidden = state !== "none";
  }

  showCustomer(customer) {
    this.customer = isObject(customer) ? customer : null;
    this.renderCustomer();
    this.renderTicketLinks();
  }

  renderCustomer() {
    const c = this.customer;
    const card = this.el["customer-card"];
    card.hidden = c === null;
    card.dataset.customer = c ? textOf(c.id) : "";
    this.el["customer-name"].textContent = c ? textOf(c.name) || NONE : "";
    const details = this.el["customer-details"];
    details.replaceChildren();
    if (c === null) return;
    const phones = Array.isArray(c.phones) ? c.phones.map(textOf).filter(Boolean) : [];
    addRow(details, t("customer.company"), textOf(c.company) || NONE, "company");
    const numbers = addRow(details, t("customer.phones"), phones.length ? "" : NONE, "phones");
    phones.forEach((phone, index) => {
      if (index > 0) numbers.append(", ");
      numbers.append(span("phone-number", phone), " ", this.dialButton(c, phone));
    });
    addRow(details, t("customer.email"), textOf(c.email) || NONE, "email");
    const notes = addRow(details, t("customer.notes"), textOf(c.notes) || NONE, "notes");
    notes.className = "pre";
    const fields = isObject(c.fields) ? Object.entries(c.fields) : [];
    for (const [name, value] of fields) {
      if (value !== null && value !== "") addRow(details, name, String(value), `fields.${name}`);
    }
  }

  /** The button that calls the customer at `phone` from the agent's phone. */
  dialButton(customer, phone) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.dataset.dial = phone;
    button.textContent = t("dial.dial");
    button.setAttribute("aria-label", t("customer.callAria", {
      name: textOf(customer.name) || NONE, number: phone,
    }));
    return button;
  }

  dialCustomer(event) {
    const button = event.target.closest("button[data-dial]");
    if (button && !this.stopped) this.deps.dial?.(button.dataset.dial);
  }

  renderContact() {
    const list = this.el["call-contact-fields"];
    list.replaceChildren();
    for (const [name, value] of this.contact) addRow(list, word("info", name), value, name);
    this.el["call-contact"].hidden = this.contact.length === 0;
  }

  searchCustomers(event) {
    event.preventDefault();
    const q = this.el["customer-search"].value.trim();
    this.customers.load(`/v1/customers?q=${encodeURIComponent(q)}&limit=${LIST_PAGE}`);
  }

  customerItem(c) {
    const phones = Array.isArray(c.phones) ? c.phones.map(textOf).filter(Boolean) : [];
    const meta = [textOf(c.company), phones.join(", "), textOf(c.email)].filter(Boolean);
    return listItem("customer", textOf(c.id), textOf(c.name) || NONE,
      [span("", meta.join(" · "))]);
  }

  pickCustomer(event) {
    const li = event.target.closest("li[data-customer]");
    if (!li || !event.target.closest("button")) return;
    const customer = this.customers.find(li.dataset.customer);
    if (customer) this.showCustomer(customer);
  }

  createFromLookup() {
    this.resetCustomerForm(true);
    this.el["customer-form-phones"].value = this.lookup.number;
    // A dialer's contact often names the customer already.
    const named = this.contact.find(([field]) => field.toLowerCase() === "name");
    if (named) this.el["customer-form-name"].value = named[1].slice(0, LIMITS.name);
    this.el["customer-form-name"].focus();
  }

  editCustomer() {
    const c = this.customer;
    if (c === null) return;
    this.resetCustomerForm(false);
    this.editing = c;
    this.el["customer-form-name"].value = textOf(c.name);
    this.el["customer-form-phones"].value =
      (Array.isArray(c.phones) ? c.phones.map(textOf) : []).join(", ");
    this.el["customer-form-email"].value = textOf(c.email);
    this.el["customer-form-company"].value = textOf(c.company);
    this.el["customer-form-notes"].value = textOf(c.notes);
    this.renderCustomerForm();
    this.el["customer-form-name"].focus();
  }

  resetCustomerForm(focus) {
    const form = this.el["customer-form"];
    form.reset();
    clearErrors(form, this.el["customer-error"]);
    this.editing = null;
    this.renderCustomerForm();
    if (focus) this.el["customer-form-name"].focus();
  }

  renderCustomerForm() {
    const editing = this.editing;
    this.el["customer-form"].dataset.customer = editing ? textOf(editing.id) : "";
    this.el["customer-form-title"].textContent = editing
      ? t("customer.editTitle", { name: textOf(editing.name) }) : t("customer.newTitle");
    this.el["customer-new"].hidden = editing === null;
  }

  async saveCustomer(event) {
    event.preventDefault();
    const form = this.el["customer-form"];
    if (this.busy.has("customer")) return;
    clearErrors(form, this.el["customer-error"]);
    this.el["customer-saved"].textContent = "";
    const { body, wrong } = checkCustomer({
      name: this.el["customer-form-name"].value,
      phones: this.el["customer-form-phones"].value,
      email: this.el["customer-form-email"].value,
      company: this.el["customer-form-company"].value,
      notes: this.el["customer-form-notes"].value,
    });
    if (wrong.length > 0) {
      showWrong(form, wrong);
      return;
    }
    const editing = this.editing;
    let path = "/v1/customers";
    let method = "POST";
    let payload = body;
    if (editing) {
      path = `/v1/customers/${encodeURIComponent(textOf(editing.id))}`;
      method = "PATCH";
    } else {
      // A new customer without email or company simply has none.
      payload = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== null));
    }
    this.busy.add("customer");
    this.el["customer-save"].disabled = true;
    try {
      const saved = await this.deps.api(method, path, payload);
      if (this.stopped) return;
      if (isObject(saved)) {
        this.showCustomer(saved);
        this.customers.replace(saved);
        const number = normalisePhone(this.lookup.number);
        const phones = Array.isArray(saved.phones) ? saved.phones.map(normalisePhone) : [];
        if (this.lookup.state === "none" && phones.includes(number)) {
          this.lookup = { ...this.lookup, state: "found", count: 1 };
          this.renderLookup();
        }
      }
      this.resetCustomerForm(false);
      this.el["customer-saved"].textContent = t("customer.saved");
    } catch (error) {
      if (!this.stopped) showProblem(form, this.el["customer-error"], error);
    } finally {
      this.busy.delete("customer");
      this.el["customer-save"].disabled = false;
    }
  }

  // -------------------------------------------------------------------------- tickets

  loadTickets() {
    this.ticketsLoaded = true;
    const filter = this.el["tickets-filter"].value;
    return this.tickets.load(ticketsPath(TICKET_FILTERS.includes(filter) ? filter : "mine"));
  }

  ticketItem(ticket) {
    const status = textOf(ticket.status);
    const li = listItem("ticket", textOf(ticket.id),
      `#${textOf(ticket.id)} · ${textOf(ticket.subject) || NONE}`, [
        statusBadge(status),
        span("", word("priority", textOf(ticket.priority))),
        span("", when(ticket.updated ?? ticket.created, getLanguage())),
      ]);
    li.dataset.status = status;
    if (textOf(ticket.id) === textOf(this.ticket?.id)) li.setAttribute("aria-current", "true");
    return li;
  }

  pickTicket(event) {
    const li = event.target.closest("li[data-ticket]");
    if (li && event.target.closest("button")) this.openTicket(li.dataset.ticket);
  }

  async openTicket(id) {
    const seq = ++this.ticketSeq;
    this.el["ticket-view-error"].textContent = "";
    try {
      const ticket = await this.deps.api("GET", `/v1/tickets/${encodeURIComponent(id)}`);
      if (seq !== this.ticketSeq || this.stopped) return;
      this.showTicket(ticket);
    } catch (error) {
      if (seq === this.ticketSeq && !this.stopped) {
        this.el["tickets-error"].textContent = error.message;
      }
    }
  }

  showTicket(ticket) {
    const changed = textOf(ticket?.id) !== textOf(this.ticket?.id);
    this.ticket = isObject(ticket) ? ticket : null;
    if (changed) {
      this.el["ticket-comment-form"].reset();
      clearErrors(this.el["ticket-comment-form"], this.el["ticket-view-error"]);
    }
    this.renderTicket();
    this.tickets.render();
  }

  closeTicket() {
    this.ticketSeq += 1;
    this.ticket = null;
    this.renderTicket();
    this.tickets.render();
  }

  renderTicket() {
    const ticket = this.ticket;
    const view = this.el["ticket-view"];
    view.hidden = ticket === null;
    view.dataset.ticket = ticket ? textOf(ticket.id) : "";
    const facts = this.el["ticket-view-facts"];
    facts.replaceChildren();
    const comments = this.el["ticket-comments"];
    comments.replaceChildren();
    if (ticket === null) return;
    const lang = getLanguage();
    this.el["ticket-view-title"].textContent =
      `#${textOf(ticket.id)} · ${textOf(ticket.subject) || NONE}`;
    addRow(facts, t("ticket.priority"), word("priority", textOf(ticket.priority)), "priority");
    addRow(facts, t("ticket.assignee"), textOf(ticket.assignee) || NONE, "assignee");
    addRow(facts, t("ticket.createdBy"), textOf(ticket.created_by) || NONE, "created_by");
    addRow(facts, t("ticket.created"), when(ticket.created, lang), "created");
    addRow(facts, t("ticket.updated"), when(ticket.updated, lang), "updated");
    const customer = textOf(ticket.customer);
    const name = customer && textOf(this.customer?.id) === customer ? textOf(this.customer.name)
      : "";
    addRow(facts, t("ticket.customer"), customer ? (name ? `${name} (#${customer})`
      : `#${customer}`) : NONE, "customer");
    addRow(facts, t("ticket.call"), textOf(ticket.call) || NONE, "call");
    this.el["ticket-customer"].hidden = customer === "";
    const status = this.el["ticket-status"];
    status.value = TICKET_STATUSES.includes(ticket.status) ? ticket.status : "open";
    status.disabled = this.busy.has("status");
    this.el["ticket-view-body"].textContent = textOf(ticket.body);
    const list = Array.isArray(ticket.comments) ? ticket.comments.filter(isObject) : [];
    for (const comment of list) {
      const li = document.createElement("li");
      li.dataset.comment = textOf(comment.id);
      const head = document.createElement("p");
      head.className = "hint";
      head.textContent = `${textOf(comment.author) || NONE} · ${when(comment.at, lang)}`;
      const body = document.createElement("p");
      body.className = "pre";
      body.textContent = textOf(comment.body);
      li.append(head, body);
      comments.append(li);
    }
    this.el["ticket-comments-none"].hidden = list.length > 0;
  }

  async changeStatus() {
    const ticket = this.ticket;
    const select = this.el["ticket-status"];
    if (ticket === null || this.busy.has("status")) return;
    const status = select.value;
    if (status === ticket.status) return;
    const seq = this.ticketSeq;
    this.el["ticket-view-error"].textContent = "";
    this.busy.add("status");
    select.disabled = true;
    try {
      const changed = await this.deps.api("PATCH",
        `/v1/tickets/${encodeURIComponent(textOf(ticket.id))}`, { status });
      if (this.stopped) return;
      const updated = { ...ticket, ...(isObject(changed) ? changed : { status }) };
      if (!Array.isArray(updated.comments)) updated.comments = ticket.comments;
      this.tickets.replace(updated);
      if (seq === this.ticketSeq) this.ticket = updated;
    } catch (error) {
      if (!this.stopped && seq === this.ticketSeq) {
        this.el["ticket-view-error"].textContent = error.message;
      }
    } finally {
      this.busy.delete("status");
      // Shows the status pycc has: the new one, or the old one again after a refusal.
      if (!this.stopped) this.renderTicket();
    }
  }

  /** Give the open ticket to the user named `assignee`, or to no one with null. */
  async assignTicket(assignee) {
    const ticket = this.ticket;
    const form = this.el["ticket-assign-form"];
    if (ticket === null || this.busy.has("assignee")) return;
    clearErrors(form, this.el["ticket-view-error"]);
    if (assignee === "") {
      showWrong(form, [["assignee", t("ticket.needAssignee")]]);
      return;
    }
    const seq = this.ticketSeq;
    this.busy.add("assignee");
    this.el["ticket-assign"].disabled = true;
    try {
      const changed = await this.deps.api("PATCH",
        `/v1/tickets/${encodeURIComponent(textOf(ticket.id))}`, { assignee });
      if (this.stopped || seq !== this.ticketSeq || this.ticket === null) return;
      const updated = { ...this.ticket, ...(isObject(changed) ? changed : { assignee }) };
      if (!Array.isArray(updated.comments)) updated.comments = this.ticket.comments;
      this.tickets.replace(updated);
      this.ticket = updated;
      form.reset();
      this.renderTicket();
    } catch (error) {
      if (!this.stopped && seq === this.ticketSeq) {
        showProblem(form, this.el["ticket-view-error"], error);
      }
    } finally {
      this.busy.delete("assignee");
      this.el["ticket-assign"].disabled = false;
    }
  }

  async showTicketCustomer() {
    const id = textOf(this.ticket?.customer);
    if (!id) return;
    this.el["ticket-view-error"].textContent = "";
    try {
      const customer = await this.deps.api("GET", `/v1/customers/${encodeURIComponent(id)}`);
      if (this.stopped) return;
      this.showCustomer(customer);
      this.select("customer");
    } catch (error) {
      if (!this.stopped) this.el["ticket-view-error"].textContent = error.message;
    }
  }

  async addComment(event) {
    event.preventDefault();
    const ticket = this.ticket;
    const form = this.el["ticket-comment-form"];
    if (ticket === null || this.busy.has("comment")) return;
    clearErrors(form, this.el["ticket-view-error"]);
    const { body, problem } = checkComment(this.el["ticket-comment"].value);
    if (problem) {
      showWrong(form, [["body", problem]]);
      return;
    }
    const seq = this.ticketSeq;
    this.busy.add("comment");
    this.el["ticket-comment-add"].disabled = true;
    try {
      const comment = await this.deps.api("POST",
        `/v1/tickets/${encodeURIComponent(textOf(ticket.id))}/comments`, { body });
      if (this.stopped || seq !== this.ticketSeq || this.ticket === null) return;
      const known = Array.isArray(this.ticket.comments) ? this.ticket.comments : [];
      this.ticket = { ...this.ticket, comments: [...known, isObject(comment) ? comment : { body }] };
      form.reset();
      this.renderTicket();
    } catch (error) {
      if (!this.stopped && seq === this.ticketSeq) {
        showProblem(form, this.el["ticket-view-error"], error);
      }
    } finally {
      this.busy.delete("comment");
      this.el["ticket-comment-add"].disabled = false;
    }
  }

  renderTicketLinks() {
    const call = this.ticketCall();
    this.el["ticket-link-call-row"].hidden = call === null;
    this.el["ticket-link-call-text"].textContent = call
      ? t("ticket.linkCall", { peer: call.peer || t("call.unknownPeer") }) : "";
    const customer = this.customer;
    this.el["ticket-link-customer-row"].hidden = customer === null;
    this.el["ticket-link-customer-text"].textContent = customer
      ? t("ticket.linkCustomer", { name: textOf(customer.name) || `#${textOf(customer.id)}` })
      : "";
  }

  async saveTicket(event) {
    event.preventDefault();
    const form = this.el["ticket-form"];
    if (this.busy.has("ticket")) return;
    clearErrors(form, this.el["ticket-error"]);
    const { values, wrong } = checkTicket({
      subject: this.el["ticket-subject"].value,
      body: this.el["ticket-body"].value,
      priority: this.el["ticket-priority"].value,
    });
    if (wrong.length > 0) {
      showWrong(form, wrong);
      return;
    }
    const call = this.el["ticket-link-call"].checked ? this.ticketCall() : null;
    const customer = this.el["ticket-link-customer"].checked ? this.customer : null;
    const body = {
      ...values,
      call: call?.pycc_call ?? null,
      customer: customer === null ? null : customer.id,
      assignee: this.el["ticket-assign-me"].checked ? this.deps.session.user : null,
    };
    this.busy.add("ticket");
    this.el["ticket-save"].disabled = true;
    try {
      const ticket = await this.deps.api("POST", "/v1/tickets", body);
      if (this.stopped) return;
      form.reset();
      this.renderTicketLinks();
      if (isObject(ticket)) {
        this.ticketSeq += 1;
        this.showTicket({ comments: [], ...ticket });
        this.ticketsLoaded = true;
        this.tickets.prepend(ticket);
      }
    } catch (error) {
      if (!this.stopped) showProblem(form, this.el["ticket-error"], error);
    } finally {
      this.busy.delete("ticket");
      this.el["ticket-save"].disabled = false;
    }
  }

  // -------------------------------------------------------------------------- knowledge base

  searchArticles(event) {
    event?.preventDefault();
    this.kbLoaded = true;
    const q = this.el["kb-search"].value.trim();
    // An empty box lists every article: pycc refuses an empty search text.
    const search = q ? `q=${encodeURIComponent(q)}&` : "";
    return this.articles.load(`/v1/kb?${search}limit=${LIST_PAGE}`);
  }

  pickArticle(event) {
    const li = event.target.closest("li[data-article]");
    if (li && event.target.closest("button")) this.openArticle(li.dataset.article);
  }

  async openArticle(id) {
    const seq = ++this.articleSeq;
    this.el["kb-error"].textContent = "";
    try {
      const article = await this.deps.api("GET", `/v1/kb/${encodeURIComponent(id)}`);
      if (seq !== this.articleSeq || this.stopped) return;
      this.article = isObject(article) ? article : null;
      this.renderArticle();
      this.el["kb-article-title"].scrollIntoView?.({ block: "nearest" });
    } catch (error) {
      if (seq === this.articleSeq && !this.stopped) this.el["kb-error"].textContent = error.message;
    }
  }

  closeArticle() {
    this.articleSeq += 1;
    this.article = null;
    this.renderArticle();
  }

  renderArticle() {
    const a = this.article;
    const view = this.el["kb-article"];
    view.hidden = a === null;
    view.dataset.article = a ? textOf(a.id) : "";
    const tags = this.el["kb-article-tags"];
    tags.replaceChildren(...(a ? tagsOf(a).map((tag) => span("tag", tag)) : []));
    if (a === null) return;
    this.el["kb-article-title"].textContent = textOf(a.title) || NONE;
    this.el["kb-article-meta"].textContent = t("kb.meta", {
      author: textOf(a.author) || NONE, updated: when(a.updated ?? a.created, getLanguage()),
    });
    this.el["kb-article-body"].textContent = textOf(a.body);
  }

  // -------------------------------------------------------------------------- my calls

  extension() {
    return textOf(this.agentInfo?.extension) || textOf(this.deps.agent()?.extension);
  }

  /** The agent's newest calls, and which of them have a recording. */
  async loadHistory() {
    const seq = ++this.historySeq;
    const api = this.deps.api;
    const stale = () => seq !== this.historySeq || this.stopped;
    this.el["history-error"].textContent = "";
    this.el.history.setAttribute("aria-busy", "true");
    try {
      // One page, newest first: the server gives an agent its own calls only.
      const page = await api("GET", `/v1/records?limit=${HISTORY_SIZE}&order=newest`);
      const records = newestRecords(page?.items);
      if (stale()) return;
      this.history = records;
      this.historyLoaded = true;
      this.renderHistory();
      if (!this.extension()) await this.loadAgent();
      if (stale()) return;
      this.recordings = await this.loadRecordings(records, stale);
    } catch (error) {
      if (!stale()) this.el["history-error"].textContent = error.message;
    } finally {
      if (!stale()) {
        this.el.history.removeAttribute("aria-busy");
        this.renderHistory();
      }
    }
  }

  /** Recordings of the calls shown: those made since the oldest of them started. */
  async loadRecordings(records, stale) {
    if (records.length === 0) return new Map();
    const since = Math.floor(Math.min(...records.map((r) => numberOrNull(r.start) ?? 0)));
    const found = [];
    let path = `/v1/recordings?limit=${HISTORY_SIZE}&since=${since}`;
    for (let asked = 0; asked < RECORDING_REQUESTS_MAX; asked += 1) {
      let page;
      try {
        page = await this.deps.api("GET", path);
      } catch (error) {
        // The calls are worth showing without their recordings.
        if (!stale()) {
          this.el["history-error"].textContent = t("history.noRecordings", {
            detail: error.message,
          });
        }
        break;
      }
      if (stale()) return new Map();
      found.push(...(Array.isArray(page?.items) ? page.items : []));
      const next = nextOf(page);
      if (next === null) break;
      path = `/v1/recordings?limit=${PAGE_MAX}&since=${since}&after=${encodeURIComponent(next)}`;
    }
    return recordingsByCall(found);
  }

  renderHistory() {
    const body = this.el.history.tBodies[0];
    const extension = this.extension();
    const lang = getLanguage();
    const labels = new Map((this.deps.dispositions?.() ?? []).map((d) => [d.code, d.label]));
    const playing = this.el["history-player"].dataset.recording ?? "";
    body.replaceChildren(...this.history.map((record) => {
      const row = document.createElement("tr");
      row.dataset.call = record.call_id;
      const cell = (field, text, className = "") => {
        const td = document.createElement("td");
        td.dataset.field = field;
        if (className) td.className = className;
        td.textContent = text;
        row.append(td);
        return td;
      };
      cell("time", when(record.start, lang));
      cell("number", otherNumber(record, extension) || NONE);
      cell("queue", textOf(record.queue) || NONE);
      cell("duration", formatWait(numberOrNull(record.duration) ?? 0), "num");
      const code = textOf(record.wrapup_code);
      cell("disposition", code ? labels.get(code) ?? code : NONE);
      const recording = cell("recording", "");
      const id = this.recordings.get(record.call_id);
      if (id !== undefined) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "small";
        button.dataset.recording = String(id);
        button.textContent = t("history.play");
        button.setAttribute("aria-label", t("history.playAria", {
          number: otherNumber(record, extension) || NONE, time: when(record.start, lang),
        }));
        if (String(id) === playing) row.dataset.playing = "yes";
        recording.append(button);
      }
      return row;
    }));
    this.el["history-none"].hidden = !(this.historyLoaded && this.history.length === 0);
  }

  play(event) {
    const button = event.target.closest("button[data-recording]");
    if (!button) return;
    const player = this.el["history-player"];
    // Same origin: the session cookie authenticates the audio element's GET.
    player.src = `/v1/recordings/${encodeURIComponent(button.dataset.recording)}/content`;
    player.dataset.recording = button.dataset.recording;
    player.hidden = false;
    for (const row of this.el.history.tBodies[0].rows) {
      if (row.contains(button)) row.dataset.playing = "yes";
      else delete row.dataset.playing;
    }
    player.play()?.catch((error) => {
      if (!this.stopped) {
        this.el["history-error"].textContent = t("history.playFailed", {
          detail: error?.message ?? String(error),
        });
      }
    });
  }

  // -------------------------------------------------------------------------- profile

  async loadAgent() {
    const agent = this.deps.session.agent;
    if (!agent) return;
    try {
      const info = await this.deps.api("GET", `/v1/agents/${encodeURIComponent(agent)}`);
      if (this.stopped) return;
      this.agentInfo = isObject(info) ? info : null;
      this.el["profile-error"].textContent = "";
    } catch (error) {
      if (!this.stopped) this.el["profile-error"].textContent = error.message;
    }
    if (!this.stopped) this.renderProfile();
  }

  loadProfile() {
    this.renderProfile();
    return this.loadAgent();
  }

  renderProfile() {
    const session = this.deps.session;
    this.el["profile-user"].textContent = textOf(session.user) || NONE;
    this.el["profile-role"].textContent = session.role ? word("role", session.role) : NONE;
    this.el["profile-tenant"].textContent = textOf(session.tenant) || NONE;
    this.el["profile-agent"].textContent = textOf(session.agent) || NONE;
    this.el["profile-extension"].textContent = this.extension() || NONE;
  }
}

function tagsOf(article) {
  return Array.isArray(article?.tags) ? article.tags.map(textOf).filter(Boolean) : [];
}

function statusBadge(status) {
  const badge = span("badge", word("ticketStatus", status));
  badge.dataset.status = status;
  return badge;
}

/**
 * Show the desk's tabs for the logged-in agent. Returns the desk: `callChanged(call)` for
 * every phone `call` event, `render()` after a language change, `stop()` at logout.
 */
export function startDesk(deps) {
  const desk = new Desk(deps);
  desk.start();
  return desk;
}
