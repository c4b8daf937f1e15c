// /ui/runs/{run_id}: everything about one run: metric charts (step or time on x, zoom,
// smoothing, log scale), params, latest metrics, tags, system info, inputs, outputs, nested
// runs and the artifacts browser.

import { RUN_PAGE_CHARTS, api, chartWidthGuess, num, runSeriesRequest, seg, takeEarly } from "../api.js";
import { artifactsBrowser } from "../artifacts.js";
import { MetricChart, loadSeries, seriesMap } from "../chart.js";
import { add, clear, errorBox, filterString, fmtDuration, fmtNum, fmtTime, h, kvTable, link, section, setTitle, statusBadge } from "../dom.js";

const FIRST_CHARTS = RUN_PAGE_CHARTS;

const SYSTEM_LABELS = [
  ["mloop.git.commit", "git commit"],
  ["mloop.git.branch", "git branch"],
  ["mloop.git.dirty", "uncommitted changes"],
  ["mloop.git.entry_point", "entry point (in repo)"],
  ["mloop.entry_point", "entry point"],
  ["mloop.argv", "command line"],
  ["mloop.python", "Python"],
  ["mloop.host", "host"],
  ["mloop.user", "user"],
  ["mloop.cwd", "working folder"],
  ["mloop.env.packages_sha256", "packages sha256"],
];

/** The installed packages a run recorded (zlib + base64 in mloop.env.packages[.2, .3...]). */
export async function decodePackages(tags) {
  let blob = tags["mloop.env.packages"];
  const prefix = "zlib+b64:";
  if (!blob || !blob.startsWith(prefix) || typeof DecompressionStream === "undefined") return null;
  for (let n = 2; tags[`mloop.env.packages.${n}`] !== undefined; n++) blob += tags[`mloop.env.packages.${n}`];
  try {
    const bytes = Uint8Array.from(atob(blob.slice(prefix.length)), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    const text = await new Response(stream).text();
    return text.split("\n").filter(Boolean);
  } catch {
    return null;
  }
}

/** GenAI traces of the run, newest first; each opens its waterfall. */
function tracesTable(traces) {
  return h(
    "table",
    { class: "grid", "data-traces": "" },
    h("thead", null, h("tr", null, ["trace", "status", "started", "duration", "spans", "tokens"].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      null,
      traces.map((t) => h("tr", null, h("td", null, link(`/ui/traces/${t.trace_id}`, t.name)), h("td", null, t.status), h("td", null, fmtTime(t.start_us / 1000)), h("td", null, fmtDuration(t.duration_us / 1000)), h("td", null, String(t.span_count)), h("td", null, t.prompt_tokens === null || t.prompt_tokens === undefined ? "" : `${t.prompt_tokens} in, ${t.completion_tokens ?? 0} out`))),
    ),
  );
}

export async function render(main, params, query, app) {
  const runId = params.runId;
  let xAxis = query.get("x") === "time" ? "time" : "step";
  // Started by app.js before this module loaded, when the page was opened by its URL.
  const earlyRun = takeEarly(`run:${runId}`);
  const earlySeries = takeEarly(`series:${runId}:${xAxis}`);
  const run = await (earlyRun || api(`/runs/${seg(runId)}`));
  const info = run.info;
  const data = run.data;
  setTitle(info.run_name, "run");
  // The charts' series are asked for beside the rest, sized for the viewport (two charts a row):
  // one request for all of them, keys null meaning the run's own (the first FIRST_CHARTS).
  const metricKeys = Object.keys(data.metrics).sort();
  const firstKeys = metricKeys.slice(0, FIRST_CHARTS);
  let prefetch = null;
  if (firstKeys.length > 1) {
    prefetch = (earlySeries || api("/metrics/histories", { method: "POST", body: runSeriesRequest(runId, xAxis) })).then((res) => seriesMap(res, xAxis));
  } else if (firstKeys.length) {
    prefetch = loadSeries(api, [runId], firstKeys, { xAxis, width: chartWidthGuess(1) });
  }
  if (prefetch) prefetch.catch(() => null); // an error shows where the charts go
  // The rest of the page is asked for now and drawn when it comes, after the charts start.
  const rest = Promise.all([
    api(`/experiments/${seg(info.experiment_id)}`).catch(() => null),
    api(`/runs/${seg(runId)}/inputs`).catch(() => []),
    api(`/runs/${seg(runId)}/outputs`).catch(() => []),
    api("/runs/table", { method: "POST", body: { filter: `attributes.parent_run_id = ${filterString(runId)}`, order_by: ["attributes.start_time ASC"], max_results: 1000, columns: { tags: ["mloop.step.cached"] } } }).catch(() => null),
    api(`/genai/traces?run_id=${seg(runId)}&limit=100`).catch(() => null),
  ]);
  const tags = data.tags;
  const isPipeline = "mloop.pipeline.target" in tags;
  const duration = info.end_time ? info.end_time - info.start_time : null;

  const expSlot = h("span");
  const head = h(
    "div",
    { class: "page-head" },
    h("h1", null, info.run_name, " ", statusBadge(info.status)),
    h(
      "p",
      { class: "muted" },
      "run ",
      h("code", null, info.run_id),
      expSlot,
      info.parent_run_id ? [" \u00B7 nested in ", link(`/ui/runs/${info.parent_run_id}`, info.parent_run_id.slice(0, 8))] : null,
      isPipeline ? [" \u00B7 ", link(`/ui/pipelines/${info.run_id}`, "pipeline graph")] : null,
    ),
    h("p", { class: "muted" }, `started ${fmtTime(info.start_time)}`, info.end_time ? ` \u00B7 ended ${fmtTime(info.end_time)} \u00B7 ${fmtDuration(duration)}` : "", info.user ? ` \u00B7 by ${info.user}` : ""),
  );

  // -- charts ------------------------------------------------------------------------------

  const charts = [];
  const chartGrid = h("div", { class: "charts" });
  let smoothing = 0;
  let logScale = false;
  const controls = h(
    "div",
    { class: "chart-controls" },
    h("label", null, "x ", h("select", { "aria-label": "x axis", onchange: (e) => setX(e.target.value) }, h("option", { value: "step", selected: xAxis === "step" }, "step"), h("option", { value: "time", selected: xAxis === "time" }, "time"))),
    h("label", null, "smoothing ", h("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: "0", "aria-label": "smoothing", oninput: (e) => setSmoothing(Number(e.target.value)) })),
    h("label", null, h("input", { type: "checkbox", "aria-label": "log scale", onchange: (e) => setLog(e.target.checked) }), " log scale"),
    h("span", { class: "muted" }, "drag to zoom, double-click to reset"),
  );

  function chartFor(key, prefetched) {
    let first = prefetched;
    const chart = new MetricChart(chartGrid, {
      title: key,
      labels: [info.run_name],
      xAxis,
      load: async (xMin, xMax, width) => {
        if (first && xMin === null) {
          const s = first.get(`${runId}\u0000${key}`) || null;
          first = null;
          return [s];
        }
        const m = await loadSeries(api, [runId], [key], { xAxis: chart.options.xAxis, xMin, xMax, width });
        return [m.get(`${runId}\u0000${key}`) || null];
      },
    });
    charts.push(chart);
    return chart;
  }

  async function drawCharts(keys, prefetched) {
    if (!keys.length) return;
    const width = Math.max(240, Math.floor((chartGrid.clientWidth || 960) / (keys.length > 1 ? 2 : 1)) - 24);
    const series = prefetched ? await prefetched : await loadSeries(api, [runId], keys, { xAxis, width });
    await Promise.all(keys.map((key) => chartFor(key, series).init()));
  }

  function setX(value) {
    xAxis = value;
    app.setQuery({ x: value === "time" ? "time" : null });
    for (const c of charts) c.setOptions({ xAxis: value });
  }

  function setSmoothing(value) {
    smoothing = value;
    for (const c of charts) c.setOptions({ smoothing });
  }

  function setLog(value) {
    logScale = value;
    for (const c of charts) c.setOptions({ log: logScale });
  }

  const chartSection = metricKeys.length
    ? section("Metrics over time", controls, chartGrid)
    : section("Metrics over time", h("p", { class: "muted" }, "No metrics logged. ", h("code", null, "mloop.log_metric(\"loss\", value, step=i)"), " draws one here."));

  // -- tables ------------------------------------------------------------------------------

  const metricRows = metricKeys.map((k) => {
    const m = data.metrics[k];
    return [k, h("span", null, fmtNum(num(m.value)), h("span", { class: "muted" }, ` step ${m.step} \u00B7 ${fmtTime(m.timestamp)}`))];
  });
  const paramRows = Object.keys(data.params)
    .sort()
    .map((k) => [k, data.params[k]]);
  const userTags = Object.keys(tags)
    .filter((k) => !k.startsWith("mloop."))
    .sort()
    .map((k) => [k, tags[k]]);
  const systemRows = SYSTEM_LABELS.filter(([k]) => k in tags).map(([k, label]) => [label, h("code", null, tags[k])]);
  const otherSystem = Object.keys(tags)
    .filter((k) => k.startsWith("mloop.") && !SYSTEM_LABELS.some(([s]) => s === k) && !k.startsWith("mloop.env.packages"))
    .sort()
    .map((k) => [k, tags[k]]);
  const packagesBox = h("div");
  decodePackages(tags).then((pkgs) => {
    if (pkgs) packagesBox.replaceChildren(h("details", null, h("summary", null, `${pkgs.length} installed packages`), h("pre", { class: "text packages" }, pkgs.join("\n"))));
  });

  const restBox = h("div", { "data-run-rest": "" });
  const tables = [
    h(
      "div",
      { class: "columns" },
      section("Params", kvTable(paramRows, { empty: "No params." })),
      section("Latest metrics", kvTable(metricRows, { empty: "No metrics." })),
    ),
    h(
      "div",
      { class: "columns" },
      section("Tags", kvTable(userTags, { empty: "No tags." })),
      section("System", kvTable([...systemRows, ...otherSystem], { empty: "No system information recorded." }), packagesBox),
    ),
  ];
  add(clear(main), head, chartSection, ...tables, restBox);

  if (metricKeys.length > FIRST_CHARTS) {
    const more = h("button", { type: "button", onclick: () => (more.remove(), drawCharts(metricKeys.slice(FIRST_CHARTS))) }, `Show ${metricKeys.length - FIRST_CHARTS} more charts`);
    chartSection.append(more);
  }
  const chartsDrawn = drawCharts(firstKeys, prefetch).catch((err) => chartGrid.append(errorBox(err)));

  const [exp, inputs, outputs, children, traces] = await rest;
  if (exp) add(expSlot, " in ", link(`/ui/experiments/${exp.experiment_id}`, exp.name));
  const inputsEl = inputs.length
    ? h(
        "table",
        { class: "grid" },
        h("thead", null, h("tr", null, h("th", null, "dataset"), h("th", null, "context"), h("th", null, "sha256"))),
        h("tbody", null, inputs.map((i) => h("tr", null, h("td", null, link(`/ui/datasets/${encodeURIComponent(i.dataset_name)}?version=${i.dataset_version}`, `datasets:/${i.dataset_name}/${i.dataset_version}`)), h("td", null, i.context), h("td", null, h("code", { title: i.digest }, i.digest.slice(0, 16) + "\u2026"))))),
      )
    : h("p", { class: "muted" }, "No dataset inputs. ", h("code", null, "mloop.log_input(dataset)"), " records one.");
  const outputsEl = outputs.length
    ? h("ul", null, outputs.map((v) => h("li", null, link(`/ui/models/${encodeURIComponent(v.name)}?version=${v.version}`, `models:/${v.name}/${v.version}`), v.aliases.length ? h("span", { class: "muted" }, ` @${v.aliases.join(" @")}`) : null)))
    : h("p", { class: "muted" }, "No registered model versions. ", h("code", null, "mloop.models.log_model(model, \"model\", registered_model_name=\"name\")"), " registers one.");

  let nestedEl = h("p", { class: "muted" }, "No nested runs.");
  if (children && children.attributes.run_id.length) {
    const a = children.attributes;
    nestedEl = h(
      "table",
      { class: "grid" },
      h("thead", null, h("tr", null, h("th", null, "run"), h("th", null, "status"), h("th", null, "duration"), h("th", null, "cached"))),
      h(
        "tbody",
        null,
        a.run_id.map((id, i) => h("tr", null, h("td", null, link(`/ui/runs/${id}`, a.run_name[i])), h("td", null, statusBadge(a.status[i])), h("td", null, a.end_time[i] ? fmtDuration(a.end_time[i] - a.start_time[i]) : ""), h("td", null, children.tags["mloop.step.cached"][i] === "true" ? "cached" : ""))),
      ),
    );
  }

  add(
    restBox,
    h("div", { class: "columns" }, section("Inputs", inputsEl), section("Outputs", outputsEl)),
    section("Nested runs", nestedEl),
    traces && traces.traces.length ? section("Traces", tracesTable(traces.traces)) : null,
    section("Artifacts", artifactsBrowser(runId)),
  );
  await chartsDrawn;
  chartGrid.dataset.ready = "1";
  return () => {
    for (const c of charts) c.destroy();
  };
}
