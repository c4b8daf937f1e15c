// /ui/traces/{trace_id}: a GenAI trace as a waterfall, from one request (/genai/traces/{id}):
// the spans as a tree in start order, each a bar placed on the trace's time line; a span's
// inputs, outputs, attributes, tokens, cost and error beside it once chosen.

import { api, seg } from "../api.js";
import { add, clear, fmtDuration, fmtNum, fmtTime, h, kvTable, link, section, setTitle } from "../dom.js";

/** The spans depth-first (children in start order), each with its depth. */
function ordered(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  for (const s of spans) {
    const parent = s.parent_id && ids.has(s.parent_id) ? s.parent_id : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(s);
  }
  const out = [];
  const walk = (parent, depth) => {
    const list = (children.get(parent) || []).sort((a, b) => a.start_us - b.start_us);
    for (const s of list) {
      out.push({ span: s, depth });
      walk(s.span_id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

function json(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "none");
  return h("pre", { class: "json" }, typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

function details(span) {
  const rows = [
    ["kind", span.kind],
    ["status", h("span", { class: `badge status-${span.status === "OK" ? "finished" : "failed"}` }, span.status)],
    ["duration", fmtDuration((span.end_us - span.start_us) / 1000)],
    ["started", fmtTime(span.start_us / 1000)],
  ];
  if (span.prompt_tokens !== null && span.prompt_tokens !== undefined) rows.push(["tokens", `${span.prompt_tokens} in, ${span.completion_tokens ?? 0} out`]);
  if (span.cost !== null && span.cost !== undefined) rows.push(["cost", fmtNum(span.cost)]);
  return h(
    "div",
    { class: "span-details", "data-span-details": span.span_id },
    h("h3", null, span.name),
    kvTable(rows),
    span.error ? h("div", { class: "error", role: "alert" }, span.error) : null,
    h("h4", null, "inputs"),
    json(span.inputs),
    h("h4", null, "outputs"),
    json(span.outputs),
    Object.keys(span.attributes || {}).length ? [h("h4", null, "attributes"), json(span.attributes)] : null,
  );
}

export async function render(main, params) {
  const trace = await api(`/genai/traces/${seg(params.traceId)}`);
  setTitle(trace.name, "trace");
  const t0 = trace.start_us;
  const total = Math.max(1, trace.duration_us, ...trace.spans.map((s) => s.end_us - t0));
  const summary = [
    ["status", h("span", { class: `badge status-${trace.status === "OK" ? "finished" : "failed"}` }, trace.status)],
    ["duration", fmtDuration(trace.duration_us / 1000)],
    ["started", fmtTime(t0 / 1000)],
    ["spans", String(trace.span_count || trace.spans.length)],
  ];
  if (trace.prompt_tokens !== null && trace.prompt_tokens !== undefined) summary.push(["tokens", `${trace.prompt_tokens} in, ${trace.completion_tokens ?? 0} out`]);
  if (trace.cost !== null && trace.cost !== undefined) summary.push(["cost", fmtNum(trace.cost)]);
  if (trace.run_id) summary.push(["run", link(`/ui/runs/${encodeURIComponent(trace.run_id)}`, trace.run_id)]);
  if (trace.model_name) summary.push(["model", link(`/ui/models/${encodeURIComponent(trace.model_name)}${trace.model_version ? `?version=${trace.model_version}` : ""}`, `${trace.model_name}${trace.model_version ? ` v${trace.model_version}` : ""}`)]);

  const panel = h("div", { class: "card waterfall-details" });
  const rows = ordered(trace.spans);
  const buttons = [];
  const choose = (i) => {
    buttons.forEach((b, k) => b.setAttribute("aria-pressed", k === i ? "true" : "false"));
    panel.replaceChildren(details(rows[i].span));
  };
  const list = h(
    "div",
    { class: "waterfall", role: "list", "data-waterfall": "" },
    rows.map(({ span, depth }, i) => {
      const left = ((span.start_us - t0) / total) * 100;
      const width = Math.max(0.3, ((span.end_us - span.start_us) / total) * 100);
      const button = h(
        "button",
        { type: "button", class: `wf-row${span.status === "OK" ? "" : " wf-error"}`, role: "listitem", "aria-pressed": "false", "data-span": span.name, onclick: () => choose(i) },
        h("span", { class: "wf-name", style: { paddingLeft: `${depth * 16}px` } }, span.name, h("span", { class: "muted" }, ` ${span.kind}`)),
        h("span", { class: "wf-track" }, h("span", { class: `wf-bar kind-${span.kind}`, style: { left: `${left.toFixed(3)}%`, width: `${width.toFixed(3)}%` }, "data-left": left.toFixed(1) })),
        h("span", { class: "wf-dur num" }, fmtDuration((span.end_us - span.start_us) / 1000)),
      );
      buttons.push(button);
      return button;
    }),
  );
  list.addEventListener("keydown", (event) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const next = { ArrowDown: i + 1, j: i + 1, ArrowUp: i - 1, k: i - 1 }[event.key];
    if (next !== undefined && next >= 0 && next < buttons.length) {
      event.preventDefault();
      buttons[next].focus();
      choose(next);
    }
  });
  add(
    clear(main),
    h("div", { class: "page-head" }, h("h1", null, `Trace: ${trace.name}`), h("code", { class: "muted" }, trace.trace_id)),
    section("Summary", kvTable(summary)),
    section(`Waterfall (${fmtDuration(total / 1000)})`, h("div", { class: "waterfall-layout" }, list, panel)),
  );
  if (rows.length) choose(0);
}
