// /ui/pipelines/{run_id}: a pipeline run's step graph: each step's status, whether it was
// cached or run, its duration and attempts, and a link to the step's own run.

import { api, seg } from "../api.js";
import { add, clear, empty, filterString, fmtDuration, fmtTime, h, link, section, setTitle, statusBadge } from "../dom.js";

const SVG = "http://www.w3.org/2000/svg";
const TAGS = ["mloop.step.name", "mloop.step.id", "mloop.step.cached", "mloop.step.cached_from", "mloop.step.inputs", "mloop.step.attempts", "mloop.error"];
const NODE_W = 200;
const NODE_H = 58;
const GAP_X = 70;
const GAP_Y = 22;

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Steps as nodes, their input references as edges, laid out in columns by depth. */
function layout(steps) {
  const byId = new Map(steps.map((s) => [s.id, s]));
  for (const s of steps) s.deps = s.deps.filter((d) => byId.has(d));
  const depth = new Map();
  const visit = (s, seen) => {
    if (depth.has(s.id)) return depth.get(s.id);
    if (seen.has(s.id)) return 0; // a cycle cannot happen; stay safe on damaged tags
    seen.add(s.id);
    const d = s.deps.length ? 1 + Math.max(...s.deps.map((p) => visit(byId.get(p), seen))) : 0;
    depth.set(s.id, d);
    return d;
  };
  for (const s of steps) visit(s, new Set());
  const columns = [];
  for (const s of steps) (columns[depth.get(s.id)] ||= []).push(s);
  columns.forEach((col, x) =>
    col.forEach((s, y) => {
      s.x = 20 + x * (NODE_W + GAP_X);
      s.y = 20 + y * (NODE_H + GAP_Y);
    }),
  );
  const width = 40 + columns.length * (NODE_W + GAP_X) - GAP_X;
  const height = 40 + Math.max(...columns.map((c) => c.length)) * (NODE_H + GAP_Y) - GAP_Y;
  return { byId, width, height };
}

function graph(steps) {
  const { byId, width, height } = layout(steps);
  const root = svg("svg", { class: "dag", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `pipeline graph of ${steps.length} steps` });
  root.append(svg("defs", null, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "dag-arrow" }))));
  for (const s of steps) {
    for (const d of s.deps) {
      const p = byId.get(d);
      const x1 = p.x + NODE_W;
      const y1 = p.y + NODE_H / 2;
      const x2 = s.x;
      const y2 = s.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      root.append(svg("path", { d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`, class: "dag-edge", "marker-end": "url(#arrow)" }));
    }
  }
  for (const s of steps) {
    const state = s.cached ? "cached" : s.status.toLowerCase();
    const note = [s.cached ? "cached" : s.status.toLowerCase(), s.duration !== null ? fmtDuration(s.duration) : "", s.attempts > 1 ? `${s.attempts} attempts` : ""].filter(Boolean).join(" \u00B7 ");
    root.append(
      svg(
        "a",
        { href: `/ui/runs/${s.runId}`, class: `dag-node dag-${state}`, "data-step": s.id },
        svg("title", null, `${s.id}: ${note}`),
        svg("rect", { x: s.x, y: s.y, width: NODE_W, height: NODE_H, rx: 8 }),
        svg("text", { x: s.x + 12, y: s.y + 23, class: "dag-name" }, s.name.length > 24 ? s.name.slice(0, 23) + "\u2026" : s.name),
        svg("text", { x: s.x + 12, y: s.y + 44, class: "dag-note" }, note),
      ),
    );
  }
  return root;
}

export async function render(main, params) {
  const runId = params.runId;
  const run = await api(`/runs/${seg(runId)}`);
  setTitle(run.info.run_name, "pipeline");
  const head = h(
    "div",
    { class: "page-head" },
    h("h1", null, run.info.run_name, " ", statusBadge(run.info.status)),
    h("p", { class: "muted" }, "pipeline run ", link(`/ui/runs/${runId}`, runId), ` \u00B7 started ${fmtTime(run.info.start_time)}`, run.info.end_time ? ` \u00B7 ${fmtDuration(run.info.end_time - run.info.start_time)}` : "", run.data.tags["mloop.pipeline.engine"] ? ` \u00B7 engine ${run.data.tags["mloop.pipeline.engine"]}` : ""),
  );
  add(clear(main), head);
  if (!("mloop.pipeline.target" in run.data.tags)) {
    add(main, empty("This run is not a pipeline run. Run a pipeline to see its step graph:", "mloop pipeline run pipeline.py:train"));
    return;
  }
  const table = await api("/runs/table", { method: "POST", body: { filter: `attributes.parent_run_id = ${filterString(runId)}`, order_by: ["attributes.start_time ASC"], max_results: 10000, columns: { tags: TAGS } } });
  const a = table.attributes;
  const t = table.tags;
  const steps = a.run_id.map((id, i) => {
    let deps = [];
    try {
      const inputs = JSON.parse(t["mloop.step.inputs"][i] || "{}");
      deps = [...new Set(Object.values(inputs).flatMap((v) => (v && Array.isArray(v.from) ? v.from : [])))];
    } catch {
      deps = [];
    }
    return {
      runId: id,
      id: t["mloop.step.id"][i] || a.run_name[i],
      name: t["mloop.step.name"][i] || a.run_name[i],
      status: a.status[i],
      cached: t["mloop.step.cached"][i] === "true",
      cachedFrom: t["mloop.step.cached_from"][i],
      attempts: Number(t["mloop.step.attempts"][i] || 1),
      error: t["mloop.error"][i],
      duration: a.end_time[i] ? a.end_time[i] - a.start_time[i] : null,
      deps,
    };
  });
  if (!steps.length) {
    add(main, empty("No step has run yet.", null));
    return;
  }
  const ran = steps.filter((s) => !s.cached).length;
  add(main, 
    section(`Steps: ${steps.length} (${ran} run, ${steps.length - ran} cached)`, h("div", { class: "scroll-x dag-box" }, graph(steps))),
    section(
      "Step runs",
      h(
        "table",
        { class: "grid" },
        h("thead", null, h("tr", null, h("th", null, "step"), h("th", null, "status"), h("th", null, "cached"), h("th", null, "duration"), h("th", null, "attempts"), h("th", null, "depends on"), h("th", null, "error"))),
        h(
          "tbody",
          null,
          steps.map((s) =>
            h(
              "tr",
              null,
              h("td", null, link(`/ui/runs/${s.runId}`, s.id)),
              h("td", null, statusBadge(s.status)),
              h("td", null, s.cached ? (s.cachedFrom ? link(`/ui/runs/${s.cachedFrom}`, "cached") : "cached") : "run"),
              h("td", { class: "right" }, s.duration === null ? "" : fmtDuration(s.duration)),
              h("td", { class: "right" }, String(s.attempts)),
              h("td", null, s.deps.join(", ")),
              h("td", { class: "muted" }, s.error ? s.error.slice(0, 200) : ""),
            ),
          ),
        ),
      ),
    ),
  );
}
