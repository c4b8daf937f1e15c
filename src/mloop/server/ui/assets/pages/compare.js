// /ui/compare?runs=a,b,c: params side by side with differences marked, latest metrics, one
// overlaid chart per metric, and a parallel-coordinates plot of params against a chosen metric.

import { api, num } from "../api.js";
import { MetricChart, color, loadSeries } from "../chart.js";
import { add, clear, empty, filterString, fmtNum, h, link, section, setTitle } from "../dom.js";

const MAX_RUNS = 100;

function differs(values) {
  const seen = new Set(values.map((v) => (v === undefined ? "\u0000missing" : String(v))));
  return seen.size > 1;
}

function sideBySide(runs, keys, get, { onlyDiff, mark = true, format = (v) => v }) {
  const rows = keys
    .map((k) => {
      const values = runs.map((r) => get(r, k));
      return { k, values, diff: mark && differs(values) };
    })
    .filter((r) => !onlyDiff || r.diff);
  if (!rows.length) return h("p", { class: "muted" }, onlyDiff ? "No differences." : "None.");
  return h(
    "div",
    { class: "scroll-x" },
    h(
      "table",
      { class: "grid compare" },
      h("thead", null, h("tr", null, h("th", null, "key"), runs.map((r, i) => h("th", null, h("span", { class: "swatch", dataset: { color: String(i) } }), link(`/ui/runs/${r.info.run_id}`, r.info.run_name))))),
      h(
        "tbody",
        null,
        rows.map((r) => h("tr", { class: r.diff ? "diff" : null }, h("th", { scope: "row" }, r.k, r.diff ? h("span", { class: "sr-only" }, " (differs)") : null), r.values.map((v) => h("td", null, v === undefined ? h("span", { class: "muted" }, "\u2014") : format(v))))),
      ),
    ),
  );
}

/** Parallel coordinates: one axis per param (numeric or categorical) and the metric last;
 *  one line per run, coloured by the metric (blue low, red high). Canvas, not SVG. */
function parallel(canvas, runs, params, metric) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 900;
  const height = 320;
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  const css = getComputedStyle(document.documentElement);
  const fg = css.getPropertyValue("--fg").trim() || "#222";
  const muted = css.getPropertyValue("--muted").trim() || "#777";
  ctx.clearRect(0, 0, width, height);
  const axes = [...params.map((p) => ({ name: p, get: (r) => r.data.params[p] })), { name: metric, get: (r) => (r.data.metrics[metric] ? num(r.data.metrics[metric].value) : undefined), metric: true }];
  const top = 40;
  const bottom = height - 24;
  const left = 50;
  const right = width - 50;
  const xs = axes.map((_, i) => (axes.length === 1 ? left : left + ((right - left) * i) / (axes.length - 1)));
  const scales = axes.map((axis) => {
    const raw = runs.map(axis.get).filter((v) => v !== undefined && v !== null);
    const nums = raw.map(Number);
    const numeric = raw.length > 0 && nums.every(Number.isFinite);
    if (numeric) {
      const lo = Math.min(...nums);
      const hi = Math.max(...nums);
      return { numeric, lo, hi, pos: (v) => (hi === lo ? (top + bottom) / 2 : bottom - ((Number(v) - lo) / (hi - lo)) * (bottom - top)) };
    }
    const cats = [...new Set(raw.map(String))].sort();
    return { numeric, cats, pos: (v) => (cats.length < 2 ? (top + bottom) / 2 : bottom - (cats.indexOf(String(v)) / (cats.length - 1)) * (bottom - top)) };
  });
  const m = scales[scales.length - 1];
  ctx.lineWidth = 1.5;
  runs.forEach((run) => {
    const mv = axes[axes.length - 1].get(run);
    const t = m.numeric && mv !== undefined && m.hi > m.lo ? (Number(mv) - m.lo) / (m.hi - m.lo) : 0.5;
    ctx.strokeStyle = `hsla(${240 - 240 * t}, 75%, 50%, 0.75)`;
    ctx.beginPath();
    let started = false;
    axes.forEach((axis, i) => {
      const v = axis.get(run);
      if (v === undefined || v === null) {
        started = false;
        return;
      }
      const y = scales[i].pos(v);
      if (!started) ctx.moveTo(xs[i], y);
      else ctx.lineTo(xs[i], y);
      started = true;
    });
    ctx.stroke();
  });
  ctx.font = "12px system-ui, sans-serif";
  ctx.textAlign = "center";
  axes.forEach((axis, i) => {
    ctx.strokeStyle = muted;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(xs[i], top);
    ctx.lineTo(xs[i], bottom);
    ctx.stroke();
    ctx.fillStyle = fg;
    ctx.fillText(axis.name, xs[i], 14);
    ctx.fillStyle = muted;
    const s = scales[i];
    if (s.numeric) {
      ctx.fillText(fmtNum(s.hi), xs[i], top - 6);
      ctx.fillText(fmtNum(s.lo), xs[i], bottom + 14);
    } else {
      for (const c of s.cats.slice(0, 12)) ctx.fillText(c, xs[i] + 4, s.pos(c) - 3);
    }
  });
  canvas.dataset.lines = String(runs.length);
}

export async function render(main, params, query) {
  setTitle("Compare runs");
  const ids = (query.get("runs") || "").split(",").map((s) => s.trim()).filter(Boolean).slice(0, MAX_RUNS);
  add(clear(main), h("div", { class: "page-head" }, h("h1", null, "Compare runs")));
  if (ids.length < 1) {
    add(main, empty("Choose runs to compare: tick them in an experiment's runs table and press Compare (or c).", null));
    return;
  }
  const page = await api("/runs/search", { method: "POST", body: { filter: `attributes.run_id IN (${ids.map(filterString).join(", ")})`, max_results: MAX_RUNS, view: "all" } });
  const byId = new Map(page.runs.map((r) => [r.info.run_id, r]));
  const runs = ids.map((id) => byId.get(id)).filter(Boolean);
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length) add(main, h("p", { class: "error" }, `No run with id ${missing.join(", ")}.`));
  if (!runs.length) return;

  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.data.params)))].sort();
  const metricKeys = [...new Set(runs.flatMap((r) => Object.keys(r.data.metrics)))].sort();
  let onlyDiff = query.get("diff") === "1";
  const paramsBox = h("div");
  const metricsBox = h("div");
  function fillTables() {
    paramsBox.replaceChildren(sideBySide(runs, paramKeys, (r, k) => r.data.params[k], { onlyDiff }));
    metricsBox.replaceChildren(sideBySide(runs, metricKeys, (r, k) => (r.data.metrics[k] ? num(r.data.metrics[k].value) : undefined), { onlyDiff: false, mark: false, format: fmtNum }));
  }
  fillTables();
  const diffToggle = h("label", null, h("input", { type: "checkbox", checked: onlyDiff, onchange: (e) => ((onlyDiff = e.target.checked), fillTables()) }), " only params that differ");

  const canvas = h("canvas", { class: "parallel", role: "img", "aria-label": "parallel coordinates of params against a metric" });
  const metricSelect = h("select", { "aria-label": "metric of the parallel coordinates" }, metricKeys.map((k) => h("option", { value: k }, k)));
  const numericParams = paramKeys.filter((k) => differs(runs.map((r) => r.data.params[k]))).slice(0, 12);
  const drawParallel = () => parallel(canvas, runs, numericParams.length ? numericParams : paramKeys.slice(0, 12), metricSelect.value);
  metricSelect.addEventListener("change", drawParallel);

  const chartGrid = h("div", { class: "charts" });
  add(main, 
    h("p", { class: "legend" }, runs.map((r, i) => h("span", { class: "legend-item" }, h("span", { class: "swatch", dataset: { color: String(i) } }), link(`/ui/runs/${r.info.run_id}`, r.info.run_name)))),
    section("Params", diffToggle, paramsBox),
    section("Latest metrics", metricsBox),
    metricKeys.length ? section("Params against a metric", h("label", null, "metric ", metricSelect), canvas) : null,
    metricKeys.length ? section("Metrics over time", chartGrid) : null,
  );
  for (const sw of main.querySelectorAll(".swatch")) sw.style.background = color(Number(sw.dataset.color));
  if (metricKeys.length) drawParallel();

  const charts = [];
  if (metricKeys.length) {
    const runIds = runs.map((r) => r.info.run_id);
    const keys = metricKeys.slice(0, Math.max(1, Math.floor(1000 / runIds.length))).slice(0, 24);
    const width = Math.max(240, Math.floor((chartGrid.clientWidth || 960) / 2) - 24);
    const first = await loadSeries(api, runIds, keys, { width });
    await Promise.all(
      keys.map((key) => {
        let initial = first;
        const chart = new MetricChart(chartGrid, {
          title: key,
          labels: runs.map((r) => r.info.run_name),
          xAxis: "step",
          load: async (xMin, xMax, w) => {
            let m = initial;
            initial = null;
            if (!m || xMin !== null) m = await loadSeries(api, runIds, [key], { xAxis: chart.options.xAxis, xMin, xMax, width: w });
            return runIds.map((id) => m.get(`${id}\u0000${key}`) || null);
          },
        });
        charts.push(chart);
        return chart.init();
      }),
    );
    chartGrid.dataset.ready = "1";
  }
  const onTheme = () => metricKeys.length && drawParallel();
  document.addEventListener("mloop:theme", onTheme);
  return () => {
    document.removeEventListener("mloop:theme", onTheme);
    for (const c of charts) c.destroy();
  };
}
