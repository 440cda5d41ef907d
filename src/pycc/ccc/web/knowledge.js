/**
 * The console's knowledge-base tab: the articles every agent reads on the desktop's
 * "Knowledge base" panel are written here. A search over title, body and tags (`GET /v1/kb?q=`,
 * a page at a time), an editor of one article (`POST /v1/kb`, `PATCH /v1/kb/{id}`) and its
 * deletion (`DELETE /v1/kb/{id}`, asked twice). pycc's checks (`pycc.ccc.desk.check_article`)
 * are repeated here so that a mistake is named at its field before anything is sent; what
 * pycc still refuses is shown by the field its problem names. Supervisors, who may write
 * articles too, get the same editor under their wallboard (`startKnowledgeBase`).
 */

import {
  ApiProblem, Client, NONE, button, confirmed, h, inputRow, rowButton, showProblem, showWrong,
} from "./console.js";
import { when } from "./desk.js";
import { clearErrors } from "./forms.js";
import { applyTranslations, getLanguage, t } from "./i18n.js";
import { isObject, textOf } from "./values.js";

/** The limits of `pycc.ccc.desk`. */
export const KB_TITLE_MAX = 200;
export const KB_BODY_MAX = 50000;
export const KB_TAGS_MAX = 20;
export const KB_TAG_MAX = 40;
const PAGE = 50;

/** The tags typed as `billing, refunds`: trimmed, the empty ones dropped. */
export function parseTags(text) {
  return String(text).split(",").map((tag) => tag.trim()).filter((tag) => tag !== "");
}

/**
 * An article from the editor's fields as pycc takes it, and what is wrong with them as
 * `[field, message]` pairs (pycc's own rules, so the server agrees).
 */
export function checkArticle(title, body, tagsText) {
  const wrong = [];
  const cleanTitle = String(title).trim();
  if (cleanTitle === "") wrong.push(["title", t("console.kb.needTitle")]);
  else if (cleanTitle.length > KB_TITLE_MAX) {
    wrong.push(["title", t("console.kb.tooLong", { max: KB_TITLE_MAX })]);
  }
  if (String(body).length > KB_BODY_MAX) {
    wrong.push(["body", t("console.kb.tooLong", { max: KB_BODY_MAX })]);
  }
  const tags = parseTags(tagsText);
  const seen = new Set();
  if (tags.length > KB_TAGS_MAX) {
    wrong.push(["tags", t("console.kb.tooManyTags", { max: KB_TAGS_MAX })]);
  } else {
    for (const tag of tags) {
      if (tag.length > KB_TAG_MAX) {
        wrong.push(["tags", t("console.kb.tagTooLong", { tag, max: KB_TAG_MAX })]);
        break;
      }
      if (seen.has(tag)) {
        wrong.push(["tags", t("console.kb.sameTag", { tag })]);
        break;
      }
      seen.add(tag);
    }
  }
  return { article: { title: cleanTitle, body: String(body), tags }, wrong };
}

export class KnowledgeTab {
  constructor(view) {
    this.view = view;
    this.client = view.client;
    this.items = [];
    this.next = null;
    this.query = "";
    this.loaded = false;
    this.editing = null;
    this.busy = false;
  }

  build(panel) {
    this.search = h("input", { id: "console-kb-search", type: "search", name: "q",
      autocomplete: "off", i18nPlaceholder: "console.kb.searchHint",
      i18nAria: "console.kb.search" });
    this.searchForm = h("form", { id: "console-kb-search-form", class: "inline-form",
      role: "search" }, this.search,
    h("button", { id: "console-kb-search-go", type: "submit", i18n: "console.kb.search" }));
    this.list = h("ul", { id: "console-kb-list", class: "results" });
    this.none = h("p", { id: "console-kb-none", class: "muted empty", i18n: "console.kb.none",
      hidden: true });
    this.more = button("console.kb.more", { id: "console-kb-more", class: "quiet", hidden: true });
    this.error = h("p", { id: "console-kb-error", class: "error", role: "alert" });
    this.newButton = button("console.kb.new", { id: "console-kb-new", class: "primary" });
    this.heading = h("h3", { id: "console-kb-form-title" });
    this.line = h("p", { id: "console-kb-form-error", class: "error", role: "alert" });
    this.saved = h("p", { id: "console-kb-saved", class: "hint", role: "status" });
    this.saveButton = h("button", { id: "console-kb-save", type: "submit", class: "primary",
      i18n: "console.save" });
    this.deleteButton = button("console.delete", { id: "console-kb-delete", class: "danger",
      hidden: true });
    this.form = h("form", { id: "console-kb-form", class: "stack-form console-editor",
      novalidate: true, "aria-labelledby": "console-kb-form-title" },
    this.heading,
    inputRow("console-kb", { name: "title", type: "text", max: KB_TITLE_MAX,
      label: "console.kb.title" }),
    inputRow("console-kb", { name: "tags", type: "text", label: "console.kb.tags",
      hint: "console.kb.tagsHint" }),
    inputRow("console-kb", { name: "body", type: "textarea", rows: 12, max: KB_BODY_MAX,
      label: "console.kb.body" }),
    this.line,
    h("div", { class: "actions" }, this.saveButton, this.deleteButton),
    this.saved);
    panel.append(h("section", { id: "console-block-kb", class: "panel console-block" },
      h("div", { class: "panel-head" }, h("h2", { i18n: "console.section.kb" }),
        h("span", { class: "head-actions" }, this.newButton)),
      h("p", { class: "hint", i18n: "console.about.kb" }),
      this.error,
      h("div", { class: "console-split" },
        h("div", { class: "console-list" }, this.searchForm, this.list, this.none, this.more),
        this.form)));
    const on = this.view.on.bind(this.view);
    on(this.searchForm, "submit", (event) => {
      event.preventDefault();
      this.load();
    });
    on(this.more, "click", () => this.load({ more: true }));
    on(this.newButton, "click", () => {
      this.open(null);
      this.form.elements.namedItem("title").focus();
    });
    on(this.list, "click", (event) => {
      const item = event.target.closest("li[data-article]");
      if (item) this.open(item.dataset.article);
    });
    on(this.form, "submit", (event) => this.save(event));
    on(this.deleteButton, "click", () => {
      if (this.editing !== null) confirmed(this.deleteButton, () => this.remove(this.editing));
    });
    this.open(null);
  }

  show() {
    if (!this.loaded) this.load();
  }

  /** The first page of what the search box asks for, or with `more` the next one. */
  async load({ more = false } = {}) {
    this.error.textContent = "";
    const query = more ? this.query : this.search.value.trim();
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (query) params.set("q", query);
    if (more && this.next) params.set("after", this.next);
    try {
      const page = await this.client.get(`/v1/kb?${params}`);
      if (this.view.stopped) return;
      const items = (Array.isArray(page?.items) ? page.items : []).filter(isObject);
      this.items = more ? [...this.items, ...items] : items;
      this.next = typeof page?.next === "string" && page.next !== "" ? page.next : null;
      this.query = query;
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
      const tags = Array.isArray(a.tags) ? a.tags.map(textOf).join(", ") : "";
      const item = h("li", { data: { article: id } },
        h("strong", { class: "article-title", text: textOf(a.title) }),
        tags ? h("span", { class: "tags", text: tags }) : null,
        h("span", { class: "meta", text: t("kb.meta", {
          author: textOf(a.author) || NONE, updated: when(a.updated, lang) }) }),
        rowButton("open", "console.kb.open", "quiet",
          t("console.kb.openAria", { title: textOf(a.title) })));
      if (id === this.editing) item.setAttribute("aria-current", "true");
      return item;
    }));
    this.none.hidden = !this.loaded || this.items.length > 0;
    this.more.hidden = this.next === null;
  }

  /** Put an article (by id, as listed) in the editor; `null` for a new one. */
  open(id) {
    clearErrors(this.form, this.line);
    this.saved.textContent = "";
    const article = id === null ? undefined : this.items.find((a) => textOf(a.id) === id);
    this.editing = article === undefined ? null : id;
    const fields = this.form.elements;
    fields.namedItem("title").value = textOf(article?.title);
    fields.namedItem("body").value = textOf(article?.body);
    fields.namedItem("tags").value = Array.isArray(article?.tags)
      ? article.tags.map(textOf).join(", ") : "";
    this.deleteButton.hidden = this.editing === null;
    this.renderHeading();
    this.renderList();
  }

  renderHeading() {
    const article = this.items.find((a) => textOf(a.id) === this.editing);
    this.heading.textContent = article === undefined ? t("console.kb.newTitle")
      : t("console.kb.editTitle", { title: textOf(article.title) });
  }

  async save(event) {
    event.preventDefault();
    if (this.busy) return;
    clearErrors(this.form, this.line);
    this.saved.textContent = "";
    const fields = this.form.elements;
    const { article, wrong } = checkArticle(fields.namedItem("title").value,
      fields.namedItem("body").value, fields.namedItem("tags").value);
    if (wrong.length > 0) {
      showWrong(this.form, wrong);
      return;
    }
    this.busy = true;
    this.saveButton.disabled = true;
    try {
      const answer = this.editing === null
        ? await this.client.send("POST", "/v1/kb", { json: article })
        : await this.client.send("PATCH", `/v1/kb/${encodeURIComponent(this.editing)}`,
          { json: article });
      if (this.view.stopped) return;
      const stored = isObject(answer.data) ? answer.data : article;
      const id = textOf(stored.id) || this.editing;
      const others = this.items.filter((a) => textOf(a.id) !== id);
      this.items = [stored, ...others];
      this.open(id);
      this.saved.textContent = t("console.kb.saved", { title: textOf(stored.title) });
    } catch (error) {
      if (this.view.stopped) return;
      if (error instanceof ApiProblem && error.status === 404) {
        this.line.textContent = t("console.kb.gone");
      } else {
        showProblem(this.form, this.line, error);
      }
    } finally {
      this.busy = false;
      this.saveButton.disabled = false;
    }
  }

  async remove(id) {
    this.error.textContent = "";
    try {
      await this.client.send("DELETE", `/v1/kb/${encodeURIComponent(id)}`, { accept: [404] });
      if (this.view.stopped) return;
      this.items = this.items.filter((a) => textOf(a.id) !== id);
      this.open(null);
    } catch (error) {
      if (!this.view.stopped) this.error.textContent = error.message;
    }
  }

  render() {
    this.renderHeading();
    this.renderList();
  }
}

/**
 * The editor on its own, in `panel` (the supervisor view's): `deps` as the console's
 * (`session` for the anti-forgery header, `sessionEnded()`). Returns `stop()` and `render()`.
 */
export function startKnowledgeBase(panel, deps) {
  const listeners = new AbortController();
  const view = {
    client: new Client(deps),
    stopped: false,
    on(target, type, handler) {
      target.addEventListener(type, handler, { signal: listeners.signal });
    },
  };
  const tab = new KnowledgeTab(view);
  panel.replaceChildren();
  tab.build(panel);
  applyTranslations(panel);
  panel.hidden = false;
  tab.show();
  return {
    render() {
      if (view.stopped) return;
      applyTranslations(panel);
      tab.render();
    },
    stop() {
      view.stopped = true;
      view.client.stopped = true;
      listeners.abort();
      // What this user saw must not stay in the page for the next user of the browser.
      panel.replaceChildren();
      panel.hidden = true;
    },
  };
}
