/**
 * The console's skill-groups tab. In pycc a skill group is the set of agents who hold a skill
 * (the `skills` of each entry of the `agents` section, at a level from 1 to 10) and the queues
 * that ask for it (a queue's `skill`, or the skills of its `skills` levels or steps). This tab
 * shows each group with its members and queues, and edits a group's members and their levels:
 * each agent whose membership changes is written back with `PUT /v1/config/agents/{id}`
 * under the `If-Match` of the version read, as the agents tab does. A group is made by giving
 * a new skill to some agents, and goes away when no agent and no queue names it.
 */

import {
  ApiProblem, NONE, button, cell, h, inputRow, rowHead, setLines, showProblem, showWrong, table,
} from "./console.js";
import { clearErrors, fieldError } from "./forms.js";
import { t } from "./i18n.js";
import { isObject, textOf } from "./values.js";

/** The levels of `pycc.ccs.skills`. */
export const MIN_LEVEL = 1;
export const MAX_LEVEL = 10;
const SKILL_MAX = 64;

/** The skills a queue entry asks for: `skill`, the keys of `skills`, or of each step's needs. */
export function queueSkills(queue) {
  if (!isObject(queue)) return [];
  const found = new Set();
  if (typeof queue.skill === "string") found.add(queue.skill);
  if (isObject(queue.skills)) Object.keys(queue.skills).forEach((s) => found.add(s));
  if (Array.isArray(queue.skills)) {
    for (const step of queue.skills) {
      if (isObject(step) && isObject(step.needs)) {
        Object.keys(step.needs).forEach((s) => found.add(s));
      }
    }
  }
  return [...found];
}

/**
 * The skill groups of an `agents` and a `queues` section: `{skill, members: [{id, level}],
 * queues: [name]}` by skill name, members and queues by name.
 */
export function skillGroups(agents, queues) {
  const groups = new Map();
  const group = (skill) => {
    if (!groups.has(skill)) groups.set(skill, { skill, members: [], queues: [] });
    return groups.get(skill);
  };
  for (const agent of Array.isArray(agents) ? agents : []) {
    if (!isObject(agent) || !isObject(agent.skills)) continue;
    for (const [skill, level] of Object.entries(agent.skills)) {
      group(skill).members.push({ id: textOf(agent.id), level });
    }
  }
  for (const queue of Array.isArray(queues) ? queues : []) {
    for (const skill of queueSkills(queue)) group(skill).queues.push(textOf(queue.name));
  }
  const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return [...groups.values()].sort((a, b) => byName(a.skill, b.skill)).map((g) => ({
    ...g,
    members: g.members.sort((a, b) => byName(a.id, b.id)),
    queues: g.queues.sort(byName),
  }));
}

/**
 * What the editor's rows ask for: the agents whose entries change, each as the whole entry to
 * write, and the rows in error as `[field, message]`. `rows` are `{id, member, level}` with
 * the level as typed.
 */
export function membershipChanges(agents, skill, rows) {
  const wrong = [];
  const changes = [];
  const name = String(skill).trim();
  if (name === "") wrong.push(["skill", t("console.skillGroups.needSkill")]);
  else if (name.length > SKILL_MAX || /[,:]/.test(name)) {
    wrong.push(["skill", t("console.skillGroups.badSkill", { max: SKILL_MAX })]);
  }
  for (const row of rows) {
    const entry = (Array.isArray(agents) ? agents : []).find((a) => isObject(a)
      && textOf(a.id) === row.id);
    if (entry === undefined) continue;
    const skills = isObject(entry.skills) ? { ...entry.skills } : {};
    const had = Object.hasOwn(skills, name);
    if (row.member) {
      const text = String(row.level).trim();
      const level = Number(text);
      if (text === "" || !Number.isInteger(level) || level < MIN_LEVEL || level > MAX_LEVEL) {
        wrong.push([`level-${row.id}`, t("console.skillGroups.badLevel",
          { min: MIN_LEVEL, max: MAX_LEVEL })]);
        continue;
      }
      if (had && skills[name] === level) continue;
      skills[name] = level;
    } else {
      if (!had) continue;
      delete skills[name];
    }
    changes.push({ id: row.id, entry: { ...entry, skills } });
  }
  return { skill: name, changes, wrong };
}

export class SkillGroupsTab {
  constructor(view) {
    this.view = view;
    this.client = view.client;
    this.agents = [];
    this.queues = [];
    this.groups = [];
    this.etag = null;
    this.editing = null;
    this.loaded = false;
    this.busy = false;
  }

  build(panel) {
    const columns = [
      { name: "skill", label: "console.skillGroups.skill" },
      { name: "members", label: "console.skillGroups.members" },
      { name: "queues", label: "console.skillGroups.queues" },
    ];
    this.table = table("console-skill-groups-list", columns);
    this.none = h("p", { id: "console-skill-groups-none", class: "muted empty",
      i18n: "console.none", hidden: true });
    this.error = h("p", { id: "console-skill-groups-error", class: "error", role: "alert" });
    this.newButton = button("console.skillGroups.new", { id: "console-skill-groups-new",
      class: "primary" });
    this.reloadButton = button("console.refresh", { id: "console-skill-groups-refresh",
      class: "quiet" });
    this.heading = h("h3", { id: "console-skill-groups-form-title" });
    this.skillRow = inputRow("console-skill-group", { name: "skill", type: "text",
      max: SKILL_MAX, label: "console.skillGroups.skill" });
    this.queuesLine = h("p", { id: "console-skill-group-queues", class: "hint" });
    this.rows = h("tbody");
    this.members = h("table", { id: "console-skill-group-members", class: "list-table" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col", i18n: "console.skillGroups.agent" }),
        h("th", { scope: "col", i18n: "console.skillGroups.member" }),
        h("th", { scope: "col", i18n: "console.skillGroups.level" }))),
      this.rows);
    this.line = h("p", { id: "console-skill-group-error", class: "error", role: "alert" });
    this.saved = h("p", { id: "console-skill-group-saved", class: "hint", role: "status" });
    this.saveButton = h("button", { id: "console-skill-group-save", type: "submit",
      class: "primary", i18n: "console.save" });
    this.form = h("form", { id: "console-skill-group-form", class: "stack-form console-editor",
      novalidate: true, "aria-labelledby": "console-skill-groups-form-title" },
    this.heading, this.skillRow, this.queuesLine,
    h("div", { class: "table-scroll" }, this.members),
    this.line, h("div", { class: "actions" }, this.saveButton), this.saved);
    panel.append(h("section", { id: "console-block-skill-groups",
      class: "panel console-block" },
    h("div", { class: "panel-head" }, h("h2", { i18n: "console.section.skillGroups" }),
      h("span", { class: "head-actions" }, this.newButton, this.reloadButton)),
    h("p", { class: "hint", i18n: "console.about.skillGroups" }),
    this.error,
    h("div", { class: "console-split" },
      h("div", { class: "console-list" }, h("div", { class: "table-scroll console-scroll" },
        this.table), this.none),
      this.form)));
    const on = this.view.on.bind(this.view);
    on(this.form, "submit", (event) => this.save(event));
    on(this.newButton, "click", () => {
      this.open(null);
      this.form.elements.namedItem("skill").focus();
    });
    on(this.reloadButton, "click", () => this.load());
    on(this.table.tBodies[0], "click", (event) => {
      const row = event.target.closest("tr[data-name]");
      if (row) this.open(row.dataset.name);
    });
    on(this.rows, "change", (event) => {
      const box = event.target.closest("input[type=checkbox]");
      const level = box?.closest("tr")?.querySelector("input[data-level]");
      if (box && level) level.disabled = !box.checked;
    });
    this.open(null);
  }

  show() {
    if (!this.loaded) this.load();
  }

  async load() {
    this.error.textContent = "";
    try {
      const [agents, queues] = await Promise.all([
        this.client.send("GET", "/v1/config/agents"),
        this.client.get("/v1/config/queues"),
      ]);
      if (this.view.stopped) return;
      this.take(agents.data, agents.etag, queues);
      this.loaded = true;
      this.open(this.editing, { keepTyped: true });
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = error.message;
    }
  }

  take(agents, etag, queues) {
    this.agents = (Array.isArray(agents) ? agents : []).filter(isObject);
    this.queues = (Array.isArray(queues) ? queues : []).filter(isObject);
    if (etag) this.etag = etag;
    this.groups = skillGroups(this.agents, this.queues);
    this.renderTable();
  }

  renderTable() {
    this.table.tBodies[0].replaceChildren(...this.groups.map((g) => {
      const row = h("tr", { data: { name: g.skill } },
        rowHead(g.skill),
        cell(g.members.map((m) => `${m.id} (${textOf(m.level)})`).join(", ") || NONE,
          { field: "members", raw: g.members.length }),
        cell(g.queues.join(", ") || NONE, { field: "queues" }));
      if (g.skill === this.editing) row.setAttribute("aria-current", "true");
      return row;
    }));
    this.none.hidden = !this.loaded || this.groups.length > 0;
  }

  /** Edit the group of `skill` (null: a new group, its skill typed in). */
  open(skill, { keepTyped = false } = {}) {
    const typed = keepTyped ? this.typedRows() : null;
    clearErrors(this.form, this.line);
    if (!keepTyped) this.saved.textContent = "";
    const group = this.groups.find((g) => g.skill === skill);
    this.editing = skill === null ? null : skill;
    const input = this.form.elements.namedItem("skill");
    if (!keepTyped || skill !== null) input.value = skill ?? "";
    input.readOnly = skill !== null;
    this.queuesLine.textContent = t("console.skillGroups.usedBy", {
      queues: group?.queues.join(", ") || NONE });
    this.rows.replaceChildren(...this.agents.map((agent) => {
      const id = textOf(agent.id);
      const level = isObject(agent.skills) && skill !== null ? agent.skills[skill] : undefined;
      const kept = typed?.get(id);
      const member = kept ? kept.member : level !== undefined;
      const box = h("input", { type: "checkbox", name: `member-${id}`, data: { member: id },
        "aria-label": t("console.skillGroups.memberAria", { agent: id }) });
      box.checked = member;
      const levelInput = h("input", { type: "text", inputmode: "numeric", name: `level-${id}`,
        data: { level: id }, class: "narrow", autocomplete: "off",
        "aria-describedby": `console-skill-group-level-${id}-error`,
        "aria-label": t("console.skillGroups.levelAria", { agent: id }) });
      levelInput.value = kept ? kept.level : textOf(level ?? MIN_LEVEL);
      levelInput.disabled = !member;
      return h("tr", { data: { agent: id } }, rowHead(id), h("td", {}, box),
        h("td", {}, levelInput, h("p", { id: `console-skill-group-level-${id}-error`,
          class: "field-error", data: { errorFor: `level-${id}` } })));
    }));
    this.renderHeading();
    this.renderTable();
  }

  /** What the editor's rows hold now, by agent. */
  typedRows() {
    return new Map([...this.rows.querySelectorAll("tr[data-agent]")].map((row) => [
      row.dataset.agent, {
        member: row.querySelector("input[data-member]").checked,
        level: row.querySelector("input[data-level]").value,
      }]));
  }

  renderHeading() {
    this.heading.textContent = this.editing === null ? t("console.skillGroups.newTitle")
      : t("console.skillGroups.editTitle", { skill: this.editing });
  }

  async save(event) {
    event.preventDefault();
    if (this.busy) return;
    clearErrors(this.form, this.line);
    this.saved.textContent = "";
    const rows = [...this.typedRows()].map(([id, row]) => ({ id, ...row }));
    const { skill, changes, wrong } = membershipChanges(this.agents, this.form.elements
      .namedItem("skill").value, rows);
    if (this.editing === null && wrong.length === 0
        && this.groups.some((g) => g.skill === skill)) {
      wrong.push(["skill", t("console.skillGroups.exists", { skill })]);
    }
    if (wrong.length > 0) {
      showWrong(this.form, wrong);
      return;
    }
    if (changes.length === 0) {
      this.saved.textContent = t("console.skillGroups.unchanged");
      return;
    }
    this.busy = true;
    this.saveButton.disabled = true;
    const done = [];
    try {
      for (const change of changes) {
        await this.write(change);
        done.push(change.id);
      }
      if (this.view.stopped) return;
      this.editing = skill;
      await this.load();
      this.open(skill);
      this.saved.textContent = t("console.skillGroups.saved", { skill, count: done.length });
      this.view.changed("agents");
    } catch (error) {
      if (this.view.stopped) return;
      const failed = changes[done.length]?.id ?? "";
      if (error === CHANGED) {
        setLines(this.line, [t("console.skillGroups.conflict", { agent: failed })]);
      } else {
        const placed = showProblem(this.form, this.line, error);
        // A problem about the agent's entry (its skills) goes by that agent's level.
        if (placed.length === 0 && failed) {
          fieldError(this.form, `level-${failed}`, this.line.textContent);
        }
      }
      if (done.length > 0) {
        this.editing = skill;
        await this.load();
      }
    } finally {
      this.busy = false;
      this.saveButton.disabled = false;
    }
  }

  /** PUT one agent's entry; on 412 read again and retry once if that agent is unchanged. */
  async write(change) {
    const path = `/v1/config/agents/${encodeURIComponent(change.id)}`;
    const before = JSON.stringify(this.agents.find((a) => textOf(a.id) === change.id));
    for (let attempt = 0; ; attempt += 1) {
      const headers = this.etag ? { "If-Match": this.etag } : {};
      try {
        const answer = await this.client.send("PUT", path, { json: change.entry, headers });
        if (answer.etag) this.etag = answer.etag;
        return;
      } catch (error) {
        if (!(error instanceof ApiProblem) || error.status !== 412 || attempt > 0) throw error;
        const fresh = await this.client.send("GET", "/v1/config/agents");
        this.agents = (Array.isArray(fresh.data) ? fresh.data : []).filter(isObject);
        if (fresh.etag) this.etag = fresh.etag;
        const now = JSON.stringify(this.agents.find((a) => textOf(a.id) === change.id));
        if (now !== before) throw CHANGED;
      }
    }
  }

  render() {
    this.renderHeading();
    if (this.loaded) this.open(this.editing, { keepTyped: true });
  }
}

/** Thrown when an agent's entry changed under the editor. */
const CHANGED = new Error("changed");
