/**
 * An IVR flow of the `pycc apply` file drawn as a top-down graph: one box per step (nested
 * steps of menu options and `then`/`else` branches too), one rounded box per place a call
 * leaves the flow for (`queue: sales`, `ivr: closed`, ...), and arrows for what follows what:
 * the next step, a menu key, `then`/`else`, `goto`, an `http` step's error branch.
 *
 * Steps are named as pycc names them in a call's IVR path: the step's `id`, else its
 * position (`3`; inside a branch `3.1.2` for menu key 1's second step, `3.then.1`). The
 * flow may be anything a user is typing: whatever does not read as a step still gets a box,
 * and nothing here throws on bad input.
 *
 * Pure: `flowGraph` and `layoutGraph` work on plain data; `drawGraph` fills the <svg> it is
 * given (through its own document), so this module can be loaded anywhere.
 */

import { isObject } from "./values.js";

export const NODE_WIDTH = 210;
export const NODE_HEIGHT = 48;
export const TARGET_HEIGHT = 32;
const GAP_X = 36;
const GAP_Y = 44;
const MARGIN = 16;
/** Room on the right for arrows that go back up (loops, gotos to earlier steps). */
const BACK_ROOM = 70;
const SUMMARY_WIDTH = 30;
const SVG_NS = "http://www.w3.org/2000/svg";

const TARGET_KINDS = Object.freeze(["queue", "ivr", "extension", "number", "conference",
  "voicemail"]);
const STEP_KINDS = Object.freeze(["answer", "play", "menu", "collect", "set", "if", "time",
  "http", "transfer", "record", "goto", "hangup"]);
const STEP_ID = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const PLAIN_KEY = /^[A-Za-z0-9_*#+-]+$/;
/** Deeper than pycc accepts (16) and then some: a pasted monster must not hang the page. */
const MAX_DEPTH = 20;
const MAX_STEPS = 500;

function scalar(value) {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean"
    ? String(value) : "";
}

/** A value as short text: scalars as they are, anything else as compact JSON. */
function brief(value) {
  if (value === undefined || value === null) return "";
  const text = scalar(value);
  if (text !== "" || typeof value === "string") return text;
  try {
    return JSON.stringify(value);
  } catch {
    return "";
  }
}

/** Where a key sits under `where`, written as pycc writes field paths. */
function at(where, key) {
  const text = String(key);
  return PLAIN_KEY.test(text) ? `${where}.${text}` : `${where}[${JSON.stringify(text)}]`;
}

/** The step kind of an item and its settings: `["menu", {...}]`, or `["?", item]`. */
function stepOf(item) {
  if (typeof item === "string") return [STEP_KINDS.includes(item) ? item : "?", null];
  if (!isObject(item)) return ["?", item];
  const kinds = Object.keys(item).filter((key) => key !== "id");
  const kind = kinds.length === 1 && STEP_KINDS.includes(kinds[0]) ? kinds[0] : "?";
  return [kind, kind === "?" ? item : item[kind]];
}

/** The single `{kind: name}` of a target mapping, or null. */
function targetOf(value) {
  if (!isObject(value)) return null;
  const keys = Object.keys(value);
  if (keys.length !== 1 || !TARGET_KINDS.includes(keys[0])) return null;
  return { kind: keys[0], name: brief(value[keys[0]]) };
}

function promptOf(settings) {
  if (typeof settings === "string") return settings;
  return isObject(settings) ? brief(settings.prompt) : "";
}

/** What a step does, in the flow's own words (its keys are the file's syntax). */
function summary(kind, settings, item) {
  switch (kind) {
    case "answer":
    case "hangup":
      return "";
    case "play":
    case "menu":
      return promptOf(settings);
    case "collect":
      return isObject(settings) && settings.var !== undefined ? `→ ${brief(settings.var)}` : "";
    case "set":
      return isObject(settings) ? Object.keys(settings).join(", ") : brief(settings);
    case "if": {
      if (!isObject(settings)) return brief(settings);
      const test = ["equals", "not_equals", "in", "matches", "less", "greater"]
        .find((name) => Object.hasOwn(settings, name));
      return [brief(settings.var), test ?? "", test ? brief(settings[test]) : ""]
        .filter(Boolean).join(" ");
    }
    case "time":
      return isObject(settings) ? brief(settings.when) : brief(settings);
    case "http":
      return isObject(settings)
        ? `${brief(settings.method ?? "GET").toUpperCase()} ${brief(settings.url)}` : "";
    case "transfer": {
      const target = targetOf(settings);
      return target ? `${target.kind}: ${target.name}` : brief(settings);
    }
    case "record":
      return isObject(settings) ? brief(settings.name ?? "message") : "";
    case "goto":
      return brief(settings);
    default:
      return brief(item);
  }
}

/**
 * The graph of a flow: `{nodes, targets, edges}`. `flow` is an `ivr` entry (`{name,
 * steps}`) or its list of steps. Nodes are steps `{id, label, kind, summary, where, order}`;
 * targets are `{id, key, kind, name, order}` (`key` such as `queue:sales`, or `hangup`);
 * edges are `{from, to, label, kind}` with kind `next`, `branch` or `goto`.
 */
export function flowGraph(flow) {
  const steps = Array.isArray(flow) ? flow : isObject(flow) ? flow.steps : undefined;
  const nodes = [];
  const targets = new Map();
  const edges = [];
  const byLabel = new Map();
  const byStepId = new Map();
  const gotos = [];
  const seenEdges = new Set();
  let hangups = 0;

  const edge = (from, to, label, kind) => {
    if (from === null || to === null) return;
    const key = `${from}\u0000${to}\u0000${label}`;
    if (seenEdges.has(key)) return;
    seenEdges.add(key);
    edges.push({ from, to, label, kind });
  };

  const target = (key, kind, name) => {
    // Each hang-up gets a terminal of its own: one shared box would pull every arrow
    // across the whole graph to it.
    const id = kind === "hangup" ? `t:hangup#${hangups += 1}` : `t:${key}`;
    if (!targets.has(id)) {
      targets.set(id, { id, key, kind, name, order: nodes.length + targets.size });
    }
    return id;
  };

  /** Where a branch value leads from `from`; `after` is where the flow goes on. */
  const branch = (value, label, where, from, edgeLabel, after, depth) => {
    if (value === "hangup") {
      edge(from, target("hangup", "hangup", ""), edgeLabel, "branch");
    } else if (Array.isArray(value)) {
      const first = list(value, label, where, after, depth + 1);
      edge(from, first, edgeLabel, "branch");
    } else if (isObject(value) && Object.hasOwn(value, "goto")) {
      gotos.push({ from, to: brief(value.goto), label: edgeLabel });
    } else {
      const found = targetOf(value);
      if (found) {
        edge(from, target(`${found.kind}:${found.name}`, found.kind, found.name), edgeLabel,
          "branch");
      }
    }
  };

  /** Add the steps of `items`; the id of the first (or `after` when there is none). */
  function list(items, parent, where, after, depth) {
    if (depth > MAX_DEPTH || !Array.isArray(items)) return after;
    const made = [];
    for (const [index, item] of items.entries()) {
      if (nodes.length >= MAX_STEPS) break;
      const [kind, settings] = stepOf(item);
      const ownId = isObject(item) && typeof item.id === "string" && STEP_ID.test(item.id)
        ? item.id : null;
      let label = ownId ?? (parent === null ? String(index + 1) : `${parent}.${index + 1}`);
      // Only while the user types can two steps share a label (a duplicate id).
      while (byLabel.has(label)) label = `${label}′`;
      const node = {
        id: `s:${label}`, label, kind, summary: summary(kind, settings, item),
        where: `${where}[${index}]`, order: nodes.length,
      };
      nodes.push(node);
      byLabel.set(label, node);
      if (ownId !== null && !byStepId.has(ownId)) byStepId.set(ownId, node.id);
      made.push({ node, kind, settings });
    }
    made.forEach(({ node, kind, settings }, index) => {
      const next = index + 1 < made.length ? made[index + 1].node.id : after;
      const here = `${node.where}.${kind}`;
      switch (kind) {
        case "hangup":
          break;
        case "goto":
          gotos.push({ from: node.id, to: brief(settings), label: "" });
          break;
        case "transfer": {
          const found = targetOf(settings);
          if (found) {
            edge(node.id, target(`${found.kind}:${found.name}`, found.kind, found.name), "",
              "next");
          }
          break;
        }
        case "menu": {
          const fields = isObject(settings) ? settings : {};
          if (isObject(fields.options)) {
            for (const [key, value] of Object.entries(fields.options)) {
              branch(value, `${node.label}.${key}`, at(`${here}.options`, key), node.id, key,
                next, depth);
            }
          }
          for (const [key, word] of [["on_invalid", "invalid"], ["on_timeout", "timeout"]]) {
            if (Object.hasOwn(fields, key)) {
              branch(fields[key], `${node.label}.${key}`, `${here}.${key}`, node.id, word, next,
                depth);
            }
          }
          break;
        }
        case "if":
        case "time": {
          const fields = isObject(settings) ? settings : {};
          for (const key of ["then", "else"]) {
            if (Object.hasOwn(fields, key)) {
              branch(fields[key], `${node.label}.${key}`, `${here}.${key}`, node.id, key, next,
                depth);
            } else {
              edge(node.id, next, key, "branch");
            }
          }
          break;
        }
        case "http": {
          const fields = isObject(settings) ? settings : {};
          if (Object.hasOwn(fields, "on_error")) {
            branch(fields.on_error, `${node.label}.on_error`, `${here}.on_error`, node.id,
              "error", next, depth);
            edge(node.id, next, "ok", "next");
          } else {
            edge(node.id, next, "", "next");
          }
          break;
        }
        default:
          edge(node.id, next, "", "next");
      }
    });
    return made.length > 0 ? made[0].node.id : after;
  }

  list(steps, null, "steps", null, 0);
  for (const { from, to, label } of gotos) {
    const found = byStepId.get(to);
    edge(from, found ?? target(`missing:${to}`, "missing", to), label || "goto", "goto");
  }
  return { nodes, targets: [...targets.values()], edges };
}

/** Edges that close a loop (found walking from the first step in document order). */
function backEdges(ids, edges) {
  const out = new Map(ids.map((id) => [id, []]));
  for (const e of edges) out.get(e.from)?.push(e);
  const state = new Map();
  const back = new Set();
  for (const root of ids) {
    if (state.has(root)) continue;
    // Iterative depth-first walk: a long flow must not exhaust the call stack.
    const stack = [[root, 0]];
    state.set(root, "open");
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [id, index] = top;
      const list = out.get(id) ?? [];
      if (index >= list.length) {
        state.set(id, "done");
        stack.pop();
        continue;
      }
      top[1] += 1;
      const e = list[index];
      const seen = state.get(e.to);
      if (seen === "open") back.add(e);
      else if (seen === undefined) {
        state.set(e.to, "open");
        stack.push([e.to, 0]);
      }
    }
  }
  return back;
}

/**
 * Places for a graph of `flowGraph`: every box gets `x`, `y`, `w`, `h`, and every edge its
 * SVG `path` and the point (`lx`, `ly`) for its label. Layers go top-down: a box sits one
 * layer under the lowest box with an arrow into it (arrows that loop back are left out of
 * that, and drawn up the right-hand side).
 */
export function layoutGraph(graph) {
  const boxes = [
    ...graph.nodes.map((n) => ({ ...n, type: "step", w: NODE_WIDTH, h: NODE_HEIGHT })),
    ...graph.targets.map((n) => ({ ...n, type: "target", w: NODE_WIDTH, h: TARGET_HEIGHT })),
  ].sort((a, b) => a.order - b.order);
  const byId = new Map(boxes.map((box) => [box.id, box]));
  const edges = graph.edges.filter((e) => byId.has(e.from) && byId.has(e.to));
  const back = backEdges(boxes.map((box) => box.id), edges);

  const incoming = new Map(boxes.map((box) => [box.id, []]));
  const outgoing = new Map(boxes.map((box) => [box.id, []]));
  for (const e of edges) {
    if (back.has(e) || e.from === e.to) continue;
    incoming.get(e.to).push(e.from);
    outgoing.get(e.from).push(e.to);
  }
  // Kahn's order, the earliest box in the file first among those ready.
  const waiting = new Map(boxes.map((box) => [box.id, incoming.get(box.id).length]));
  const ready = boxes.filter((box) => waiting.get(box.id) === 0).map((box) => box.id);
  const rank = new Map();
  let previous = null;
  while (ready.length > 0) {
    ready.sort((a, b) => byId.get(a).order - byId.get(b).order);
    const id = ready.shift();
    const parents = incoming.get(id);
    // A step nothing leads to (after a hang-up, say) goes under the one before it.
    const level = parents.length > 0 ? Math.max(...parents.map((p) => rank.get(p) + 1))
      : previous === null ? 0 : rank.get(previous) + 1;
    rank.set(id, level);
    if (byId.get(id).type === "step") previous = id;
    for (const child of outgoing.get(id)) {
      waiting.set(child, waiting.get(child) - 1);
      if (waiting.get(child) === 0) ready.push(child);
    }
  }

  const layers = [];
  for (const box of boxes) {
    const level = rank.get(box.id) ?? 0;
    (layers[level] ??= []).push(box);
  }
  const filled = layers.filter((layer) => layer !== undefined);
  // Each box goes under the parent that comes first in the file (so the main path runs
  // straight down); boxes that want the same place move right, branches beside the path.
  let y = MARGIN;
  for (const layer of filled) {
    const wanted = new Map(layer.map((box) => {
      const parents = incoming.get(box.id).map((id) => byId.get(id))
        .filter((parent) => parent.x !== undefined)
        .sort((a, b) => a.order - b.order);
      return [box.id, parents.length > 0 ? parents[0].x : MARGIN];
    }));
    layer.sort((a, b) => wanted.get(a.id) - wanted.get(b.id) || a.order - b.order);
    const tallest = Math.max(...layer.map((box) => box.h));
    let lastRight = -Infinity;
    for (const box of layer) {
      box.x = Math.max(wanted.get(box.id), lastRight + GAP_X, MARGIN);
      box.y = y + (tallest - box.h) / 2;
      lastRight = box.x + box.w;
    }
    y += tallest + GAP_Y;
  }
  const right = boxes.reduce((max, box) => Math.max(max, box.x + box.w), MARGIN + NODE_WIDTH);
  const hasBack = edges.some((e) => back.has(e) || rankOf(rank, e.to) <= rankOf(rank, e.from));

  const placed = edges.map((e) => {
    const a = byId.get(e.from);
    const b = byId.get(e.to);
    const goesBack = back.has(e) || rankOf(rank, e.to) <= rankOf(rank, e.from);
    let points;
    if (goesBack) {
      const reach = Math.max(a.x + a.w, b.x + b.w) + BACK_ROOM * 0.8;
      points = [[a.x + a.w, a.y + a.h / 2], [reach, a.y + a.h / 2], [reach, b.y + b.h / 2],
        [b.x + b.w, b.y + b.h / 2]];
    } else {
      const x1 = a.x + a.w / 2;
      const y1 = a.y + a.h;
      const x2 = b.x + b.w / 2;
      const y2 = b.y;
      const bend = Math.max(20, (y2 - y1) / 2);
      points = [[x1, y1], [x1, y1 + bend], [x2, y2 - bend], [x2, y2]];
    }
    const [p0, p1, p2, p3] = points;
    const path = `M${num(p0[0])} ${num(p0[1])} C${num(p1[0])} ${num(p1[1])} `
      + `${num(p2[0])} ${num(p2[1])} ${num(p3[0])} ${num(p3[1])}`;
    // The curve's middle (t = 1/2) carries the label.
    const lx = (p0[0] + 3 * p1[0] + 3 * p2[0] + p3[0]) / 8;
    const ly = (p0[1] + 3 * p1[1] + 3 * p2[1] + p3[1]) / 8;
    return { ...e, back: goesBack, path, lx, ly, fromName: nameOf(a), toName: nameOf(b) };
  });
  return {
    width: Math.ceil(right + MARGIN + (hasBack ? BACK_ROOM : 0)),
    height: Math.ceil(Math.max(y - GAP_Y + MARGIN, 2 * MARGIN)),
    boxes,
    edges: placed,
  };
}

function rankOf(rank, id) {
  return rank.get(id) ?? 0;
}

function nameOf(box) {
  return box.type === "step" ? box.label : box.key;
}

function num(value) {
  return String(Math.round(value * 10) / 10);
}

/** `text` cut to about `width` narrow characters (CJK counting two), with an ellipsis. */
export function shorten(text, width = SUMMARY_WIDTH) {
  let used = 0;
  let out = "";
  for (const char of String(text)) {
    const cost = /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60]/.test(char)
      ? 2 : 1;
    if (used + cost > width) return `${out}…`;
    out += char;
    used += cost;
  }
  return out;
}

/**
 * The step a problem at `path` (`steps[2].menu.timeout`, with or without a leading `body.`)
 * is about: the label of the deepest step whose place starts that path, or null.
 */
export function stepAt(graph, path) {
  const where = String(path ?? "").replace(/^body\.?/, "");
  let best = null;
  for (const node of graph.nodes) {
    const tail = where.slice(node.where.length);
    if (where.startsWith(node.where) && (tail === "" || tail[0] === "." || tail[0] === "[")
        && (best === null || node.where.length > best.where.length)) {
      best = node;
    }
  }
  return best?.label ?? null;
}

function svgElement(doc, name, attributes = {}) {
  const el = doc.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, String(value));
  return el;
}

function svgText(doc, attributes, text) {
  const el = svgElement(doc, "text", attributes);
  el.textContent = text;
  return el;
}

/**
 * Draw a laid-out graph into `svg` (what was in it goes). `title` names the graph for
 * screen readers; `problems` maps step labels to messages, drawn as invalid steps.
 */
export function drawGraph(svg, layout, { title = "", problems = new Map() } = {}) {
  const doc = svg.ownerDocument;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${layout.width} ${layout.height}`);
  svg.setAttribute("width", String(layout.width));
  svg.setAttribute("height", String(layout.height));
  svg.setAttribute("role", "img");
  if (title) {
    const name = svgElement(doc, "title");
    name.textContent = title;
    svg.append(name);
  }

  const defs = svgElement(doc, "defs");
  const marker = svgElement(doc, "marker", {
    id: "ivr-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
    orient: "auto-start-reverse",
  });
  marker.append(svgElement(doc, "path", { d: "M0 0 L10 5 L0 10 z", class: "arrow-head" }));
  defs.append(marker);
  svg.append(defs);

  const edgeLayer = svgElement(doc, "g", { class: "edges" });
  for (const e of layout.edges) {
    const g = svgElement(doc, "g", {
      class: "edge", "data-from": e.fromName, "data-to": e.toName, "data-kind": e.kind,
      "data-label": e.label,
    });
    if (e.back) g.setAttribute("data-back", "yes");
    g.append(svgElement(doc, "path", { d: e.path, "marker-end": "url(#ivr-arrow)" }));
    if (e.label) {
      g.append(svgText(doc, { x: num(e.lx), y: num(e.ly), "text-anchor": "middle",
        "dominant-baseline": "middle", class: "edge-label" }, e.label));
    }
    edgeLayer.append(g);
  }
  svg.append(edgeLayer);

  const boxLayer = svgElement(doc, "g", { class: "boxes" });
  for (const box of layout.boxes) {
    const g = svgElement(doc, "g", { transform: `translate(${num(box.x)} ${num(box.y)})` });
    if (box.type === "step") {
      g.setAttribute("class", problems.has(box.label) ? "node invalid" : "node");
      g.setAttribute("data-step", box.label);
      g.setAttribute("data-kind", box.kind);
      g.append(svgElement(doc, "rect", { width: box.w, height: box.h, rx: 8, ry: 8 }));
      g.append(svgText(doc, { x: 10, y: 19, class: "node-kind" },
        shorten(`${box.label} · ${box.kind}`)));
      if (box.summary) {
        g.append(svgText(doc, { x: 10, y: 37, class: "node-text" }, shorten(box.summary)));
      }
      const tip = svgElement(doc, "title");
      const problem = problems.get(box.label);
      tip.textContent = [`${box.label} · ${box.kind}`, box.summary, problem ?? ""]
        .filter(Boolean).join("\n");
      g.append(tip);
    } else {
      g.setAttribute("class", "target");
      g.setAttribute("data-target", box.key);
      g.setAttribute("data-kind", box.kind);
      g.append(svgElement(doc, "rect", { width: box.w, height: box.h, rx: box.h / 2,
        ry: box.h / 2 }));
      const text = box.kind === "hangup" ? "hangup" : `${box.kind}: ${box.name}`;
      g.append(svgText(doc, { x: box.w / 2, y: box.h / 2 + 1, "text-anchor": "middle",
        "dominant-baseline": "middle", class: "target-text" }, shorten(text)));
      const tip = svgElement(doc, "title");
      tip.textContent = text;
      g.append(tip);
    }
    boxLayer.append(g);
  }
  svg.append(boxLayer);
  return svg;
}
