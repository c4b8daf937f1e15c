// /ui/monitoring/{model}: what the closed loop does with a model, from one request
// (/registered-models/{name}/monitoring): the deployment record (versions and weights every
// replica follows), each loop's state and its timeline of transitions with evidence, drift
// per column over time as a heatmap, realized and estimated (CBPE) performance over time, and
// the alerts. Empty parts say which command fills them.

import { api, num, seg } from "../api.js";
import { MetricChart } from "../chart.js";
import { add, clear, cmd, empty, fmtNum, fmtTime, h, kvTable, link, section, setTitle } from "../dom.js";

const LOOP_CMD = "mloop loop run loop.yaml";

function deploymentSection(name, deployment) {
  const spec = deployment.spec;
  if (!spec) {
    return section(
      "Deployment",
      empty("No deployment record: every replica serves the URI it was started with. The loop's rollout writes one, or by hand:", `mloop deploy set ${name} --weights 1=90,2=10`),
    );
  }
  const canary = spec.canary || [];
  const rows = canary.map((c, i) =>
    h(
      "tr",
      null,
      h("th", { scope: "row" }, c.version !== undefined && c.version !== null ? link(`/ui/models/${encodeURIComponent(name)}?version=${c.version}`, `v${c.version}`) : h("code", null, c.uri)),
      h("td", { class: "num" }, `${fmtNum(num(c.weight))}%`),
      h("td", { class: "weight-cell" }, h("span", { class: `weight-bar c${i % 4}`, style: { width: `${Math.max(0, Math.min(100, Number(c.weight)))}%` } })),
    ),
  );
  return section(
    `Deployment (generation ${deployment.generation})`,
    rows.length ? h("table", { class: "weights", "data-weights": "" }, h("tbody", null, rows)) : h("p", { class: "muted" }, "No traffic split."),
    spec.shadow ? h("p", null, "shadow: ", h("code", null, JSON.stringify(spec.shadow))) : null,
    h("p", { class: "muted" }, `updated ${fmtTime(deployment.updated_at)}`, deployment.actor ? ` by ${deployment.actor}` : "", deployment.reason ? ` (${deployment.reason})` : ""),
  );
}

function stateSection(entry) {
  const loop = entry.loop;
  const ctx = loop.context || {};
  const rows = [
    ["state", h("span", { class: `badge loop-${loop.state.toLowerCase()}`, "data-loop-state": loop.state }, loop.state)],
    ["transitions", String(loop.seq)],
    ["updated", fmtTime(loop.updated_at)],
    ["controller", loop.lease_owner ? `${loop.lease_owner} (lease until ${fmtTime(loop.lease_expires)})` : "none holds the lease"],
  ];
  if (ctx.challenger !== undefined) rows.push(["challenger", `v${ctx.challenger}`]);
  if (ctx.rollout_step !== undefined) rows.push(["rollout step", String(ctx.rollout_step)]);
  if (ctx.next_monitor_at) rows.push(["next monitor run", fmtTime(ctx.next_monitor_at)]);
  return section(`Loop ${loop.name}`, kvTable(rows));
}

function timelineSection(entry) {
  const items = [...entry.transitions].reverse();
  if (!items.length) return section("Timeline", empty("No transitions yet. The controller moves the loop on its first tick:", `${LOOP_CMD} --once`));
  return section(
    `Timeline (${items.length} transitions, newest first)`,
    h(
      "ol",
      { class: "timeline", reversed: true, "data-timeline": "" },
      items.map((t) =>
        h(
          "li",
          { "data-seq": String(t.seq) },
          h("div", { class: "tl-head" }, h("span", { class: "muted" }, fmtTime(t.time)), " ", h("span", { class: "badge" }, t.from_state), " \u2192 ", h("span", { class: `badge loop-${t.to_state.toLowerCase()}` }, t.to_state), t.actor ? h("span", { class: "muted" }, ` by ${t.actor}`) : null),
          t.reason ? h("div", { class: "tl-reason" }, t.reason) : null,
          Object.keys(t.evidence || {}).length ? h("details", null, h("summary", null, "evidence"), h("pre", { class: "json" }, JSON.stringify(t.evidence, null, 2))) : null,
        ),
      ),
    ),
  );
}

/** Drift per column over time: one row per column, one cell per monitor run (oldest left),
 *  shaded by the test statistic relative to the column's largest, red where it drifted. */
function driftSection(entry) {
  const results = [...entry.monitor_results].reverse().filter((r) => r.result && r.result.drift && r.result.drift.columns);
  if (!results.length) {
    return section("Drift per column over time", empty("No drift measured yet. Each monitor run of the loop compares the live inputs with the champion's reference profile:", `${LOOP_CMD} --once`));
  }
  const columns = [...new Set(results.flatMap((r) => Object.keys(r.result.drift.columns)))].sort();
  const head = h("tr", null, h("th", { scope: "col" }, "column"), results.map((r) => h("th", { scope: "col", class: "heat-time", title: fmtTime(r.time) }, fmtTime(r.time).slice(5, 16))));
  const body = columns.map((col) => {
    const stats = results.map((r) => r.result.drift.columns[col] || null);
    const max = Math.max(1e-12, ...stats.map((s) => (s && Number.isFinite(num(s.statistic)) ? Math.abs(num(s.statistic)) : 0)));
    return h(
      "tr",
      null,
      h("th", { scope: "row" }, col),
      stats.map((s, i) => {
        if (!s) return h("td", { class: "heat none", title: "not measured" }, "");
        const stat = num(s.statistic);
        const level = Number.isFinite(stat) ? Math.abs(stat) / max : 0;
        const label = `${col} at ${fmtTime(results[i].time)}: ${s.method} statistic ${fmtNum(stat)}${s.p_value !== null && s.p_value !== undefined ? `, p = ${fmtNum(num(s.p_value))}` : ""}${s.drifted ? ", drifted" : ""}`;
        return h("td", { class: `heat ${s.drifted ? "drifted" : "stable"}`, style: { "--level": level.toFixed(3) }, title: label, "aria-label": label, "data-drifted": s.drifted ? "1" : "0" }, s.drifted ? "\u25cf" : "");
      }),
    );
  });
  const shares = results.map((r) => r.result.drift.drifted_share);
  return section(
    "Drift per column over time",
    h("div", { class: "heat-wrap" }, h("table", { class: "heatmap", "data-heatmap": "" }, h("thead", null, head), h("tbody", null, body), h("tfoot", null, h("tr", null, h("th", { scope: "row" }, "drifted share"), shares.map((v) => h("td", { class: "num" }, v === undefined ? "" : `${Math.round(Number(v) * 100)}%`)))))),
    h("p", { class: "muted" }, "Shade: the test statistic against the column's largest; \u25cf the column drifted. Hover a cell for the method, statistic and p-value."),
  );
}

function performanceSection(entry, charts) {
  const results = [...entry.monitor_results].reverse();
  const realized = results.filter((r) => r.result && r.result.performance && r.result.performance.realized !== undefined && r.result.performance.realized !== null);
  const estimated = results.filter((r) => r.result && r.result.estimated && r.result.estimated.estimated !== undefined && r.result.estimated.estimated !== null);
  const el = section("Performance over time");
  if (!realized.length && !estimated.length) {
    add(el, empty("No performance yet: realized needs labels joined to the prediction log (the feedback endpoint of mloop serve), estimated needs monitor.estimated: true in loop.yaml.", `${LOOP_CMD} --once`));
    return el;
  }
  const metric = (realized[0] && realized[0].result.performance.metric) || "metric";
  const series = [
    { x: realized.map((r) => r.time), y: realized.map((r) => num(r.result.performance.realized)) },
    { x: estimated.map((r) => r.time), y: estimated.map((r) => num(r.result.estimated.estimated)) },
  ];
  const clip = (s, lo, hi) => {
    if (lo === null) return { ...s, total: s.x.length, sampled: false };
    const keep = s.x.map((x, i) => i).filter((i) => s.x[i] >= lo && s.x[i] <= hi);
    return { x: keep.map((i) => s.x[i]), y: keep.map((i) => s.y[i]), total: keep.length, sampled: false };
  };
  const chart = new MetricChart(el, {
    title: metric,
    labels: ["realized", "estimated (CBPE)"],
    xAxis: "time",
    load: async (lo, hi) => series.map((s) => clip(s, lo, hi)),
  });
  charts.push(chart);
  const baseline = realized.length ? realized[realized.length - 1].result.performance.baseline : null;
  if (baseline !== null && baseline !== undefined) add(el, h("p", { class: "muted" }, `baseline (the champion's evaluation): ${fmtNum(num(baseline))}`));
  return el;
}

function alertsSection(entry) {
  if (!entry.alerts.length) return section("Alerts", h("p", { class: "muted" }, "No alerts. Rules and webhooks are set under alerts: in loop.yaml."));
  return section(
    `Alerts (${entry.alerts.length})`,
    h(
      "table",
      { class: "grid", "data-alerts": "" },
      h("thead", null, h("tr", null, ["time", "condition", "sink", "status", "attempts", "message"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        null,
        entry.alerts.map((a) => h("tr", null, h("td", null, fmtTime(a.time)), h("td", null, a.condition), h("td", null, a.sink), h("td", null, h("span", { class: `badge alert-${a.status}` }, a.status)), h("td", { class: "num" }, String(a.attempts)), h("td", null, a.error || (a.payload && a.payload.text) || ""))),
      ),
    ),
  );
}

export async function render(main, params) {
  const name = params.model;
  setTitle(name, "monitoring");
  const data = await api(`/registered-models/${seg(name)}/monitoring`);
  const model = data.model;
  add(
    clear(main),
    h("div", { class: "page-head" }, h("h1", null, `Monitoring: ${name}`), link(`/ui/models/${encodeURIComponent(name)}`, "registry")),
    section(
      "Aliases",
      kvTable(
        Object.entries(model.aliases)
          .sort()
          .map(([alias, v]) => [`@${alias}`, link(`/ui/models/${encodeURIComponent(name)}?version=${v}`, `v${v}`)]),
        { empty: "No aliases yet." },
      ),
    ),
    deploymentSection(name, data.deployment),
  );
  if (!data.loops.length) {
    add(
      main,
      section(
        "Loop",
        empty(
          "No loop manages this model yet: no loop state, drift history, performance or alerts. Write a loop.yaml for it (see the loop docs) and start the closed loop with:",
          LOOP_CMD,
          h("p", { class: "muted" }, "Until then, serve it with ", cmd(`mloop serve models:/${name}@champion`), " and check drift by hand with ", cmd("mloop drift REFERENCE CURRENT"), "."),
        ),
      ),
    );
    return null;
  }
  const charts = [];
  for (const entry of data.loops) {
    add(main, stateSection(entry), driftSection(entry), performanceSection(entry, charts), timelineSection(entry), alertsSection(entry));
  }
  await Promise.all(charts.map((c) => c.init()));
  return () => {
    for (const c of charts) if (c.destroy) c.destroy();
  };
}
