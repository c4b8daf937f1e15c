// Metric charts on uPlot (canvas, made for large series). The server thins each series to about
// two points per pixel column (min and max per bucket), so a 100,000-point history draws as
// fast as a 2,000-point one and looks the same. Dragging zooms: the chart asks the server for
// the zoomed x range at full detail. Double-click returns to the whole series.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { h } from "./dom.js";

export const PALETTE = ["#2f6fde", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#e67700", "#5c940d", "#a61e4d", "#495057"];

export function color(i) {
  return PALETTE[i % PALETTE.length];
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** Exponential moving average with TensorBoard's debiasing; NaN and null stay gaps. */
export function smooth(values, weight) {
  if (!weight) return values;
  const out = new Array(values.length);
  let last = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    count += 1;
    out[i] = last / (1 - weight ** count);
  }
  return out;
}

/**
 * A chart of one metric for one or more runs.
 *
 * options:
 *   title: the heading; labels: one per series; xAxis: "step" | "time";
 *   log: log scale on y; smoothing: 0..0.99;
 *   load(xMin, xMax, width): Promise of [{x: [...], y: [...], total, sampled}], one per label
 *     (null where a run has no such metric); xMin/xMax null for the whole series.
 */
export class MetricChart {
  constructor(parent, options) {
    this.options = options;
    this.el = h("figure", { class: "chart", "data-chart": options.title });
    this.caption = h("figcaption", null, h("span", { class: "chart-title" }, options.title), h("span", { class: "chart-note muted" }));
    this.plotEl = h("div", { class: "chart-plot" });
    this.el.append(this.caption, this.plotEl);
    parent.append(this.el);
    this.full = null;
    this.zoomSeq = 0;
    this.zoomTimer = 0;
    this.programmatic = false;
    this.plot = null;
    this.onTheme = () => this.rebuild();
    document.addEventListener("mloop:theme", this.onTheme);
  }

  width() {
    return Math.max(240, Math.floor(this.plotEl.clientWidth || this.el.clientWidth || 480));
  }

  async init() {
    const series = await this.options.load(null, null, this.width());
    this.full = series;
    this.draw(series);
    this.el.dataset.ready = "1";
  }

  setOptions(update) {
    Object.assign(this.options, update);
    if ("xAxis" in update) {
      this.full = null;
      delete this.el.dataset.ready;
      this.init();
    } else this.rebuild();
  }

  rebuild() {
    if (this.current) this.draw(this.current, this.zoomRange);
  }

  data(series) {
    const present = series.map((s) => s || { x: [], y: [] });
    const smoothing = this.options.smoothing || 0;
    const log = this.options.log;
    const fix = (ys) => (log ? ys.map((v) => (v !== null && v > 0 ? v : null)) : ys.map((v) => (v === null || Number.isFinite(v) ? v : null)));
    const tables = [];
    for (const s of present) {
      tables.push([s.x, fix(s.y)]);
      if (smoothing) tables.push([s.x, fix(smooth(s.y, smoothing))]);
    }
    if (tables.length === 1) return [tables[0][0], tables[0][1]];
    return uPlot.join(tables);
  }

  draw(series, range) {
    this.current = series;
    this.zoomRange = range || null;
    const labels = this.options.labels;
    const smoothing = this.options.smoothing || 0;
    const time = this.options.xAxis === "time";
    const axisColor = cssVar("--muted", "#667");
    const gridColor = cssVar("--grid", "rgba(128,128,128,0.15)");
    // Few points: draw them as dots too (a single point has no line).
    const dots = { show: series.every((x) => !x || x.x.length <= 60), size: 5 };
    const uSeries = [{ label: time ? "time" : "step", value: time ? (u, v) => (v === null ? "" : new Date(v).toLocaleString()) : undefined }];
    labels.forEach((label, i) => {
      const c = color(i);
      if (smoothing) {
        uSeries.push({ label: `${label} (raw)`, stroke: c + "55", width: 1, spanGaps: true, points: { show: false } });
        uSeries.push({ label, stroke: c, width: 1.5, spanGaps: true, points: { ...dots, fill: c } });
      } else uSeries.push({ label, stroke: c, width: 1.25, spanGaps: true, points: { ...dots, fill: c } });
    });
    const total = series.reduce((s, x) => s + (x ? x.x.length : 0), 0);
    const stored = series.reduce((s, x) => s + (x ? x.total : 0), 0);
    const sampled = series.some((x) => x && x.sampled);
    this.caption.lastChild.textContent = sampled ? `${total.toLocaleString()} of ${stored.toLocaleString()} points drawn (min/max per pixel)` : `${stored.toLocaleString()} points`;
    this.el.dataset.points = String(total);
    this.el.dataset.stored = String(stored);
    const opts = {
      width: this.width(),
      height: 220,
      ms: 1,
      series: uSeries,
      legend: { show: labels.length > 1 || smoothing > 0, live: true },
      scales: { x: { time }, y: this.options.log ? { distr: 3 } : {} },
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } },
        { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor }, size: 60 },
      ],
      cursor: {
        drag: { x: true, y: false, setScale: true },
        bind: {
          dblclick: () => () => {
            this.reset();
            return null;
          },
        },
      },
      // A finished drag selects an x range: uPlot zooms at once, and the range is fetched again
      // at full detail. (setScale also fires on resizes and data changes; setSelect only when
      // the user selects.)
      hooks: { setSelect: [(u) => this.onSelect(u)] },
    };
    if (this.plot) this.plot.destroy();
    this.programmatic = true;
    this.plot = new uPlot(opts, this.data(series), this.plotEl);
    if (range) this.plot.setScale("x", range);
    this.programmatic = false;
    if (!this.resizeObserver) {
      this.resizeObserver = new ResizeObserver(() => {
        if (this.plot && Math.abs(this.plot.width - this.width()) > 4) this.plot.setSize({ width: this.width(), height: 220 });
      });
      this.resizeObserver.observe(this.plotEl);
    }
  }

  onSelect(u) {
    if (this.programmatic || !u.select || u.select.width < 2) return;
    const min = u.posToVal(u.select.left, "x");
    const max = u.posToVal(u.select.left + u.select.width, "x");
    if (!Number.isFinite(min) || !Number.isFinite(max)) return;
    clearTimeout(this.zoomTimer);
    this.zoomTimer = setTimeout(() => this.loadRange(Math.floor(min), Math.ceil(max)), 30);
  }

  async loadRange(min, max) {
    const seq = ++this.zoomSeq;
    const series = await this.options.load(min, max, this.width());
    if (seq !== this.zoomSeq || !this.plot) return;
    this.draw(series, { min, max });
    this.el.dataset.zoomed = `${min}:${max}`;
  }

  reset() {
    this.zoomSeq += 1;
    delete this.el.dataset.zoomed;
    if (this.full) this.draw(this.full);
  }

  destroy() {
    document.removeEventListener("mloop:theme", this.onTheme);
    clearTimeout(this.zoomTimer);
    if (this.resizeObserver) this.resizeObserver.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}

/** Fetch thinned series for (runs x keys) in one request; returns {`${run}\u0000${key}`: series}. */
export async function loadSeries(api, runIds, keys, { xAxis = "step", xMin = null, xMax = null, width = 800 } = {}) {
  const body = { run_ids: runIds, keys, x_axis: xAxis, max_points: Math.min(20000, Math.max(50, Math.round(width))) };
  if (xMin !== null) body.x_min = xMin;
  if (xMax !== null) body.x_max = xMax;
  return seriesMap(await api("/metrics/histories", { method: "POST", body }), xAxis);
}

/** The answer of POST /metrics/histories as {`${run}\u0000${key}`: {x, y, total, sampled}}. */
export function seriesMap(res, xAxis = "step") {
  const out = new Map();
  for (const s of res.series) {
    const x = xAxis === "time" ? s.timestamps : s.steps;
    const y = s.values.map((v) => (typeof v === "number" ? v : v === null ? null : Number(v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : NaN)));
    out.set(`${s.run_id}\u0000${s.key}`, { x, y, total: s.total, sampled: s.sampled });
  }
  return out;
}
