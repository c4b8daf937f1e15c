// /ui/datasets/{name}: versions and digests, and the profile of a version: per column counts,
// nulls, distinct values, quantiles, a histogram and the top values.

import { api, ApiError, seg } from "../api.js";
import { add, clear, errorBox, fmtBytes, fmtNum, fmtTime, h, kvTable, link, section, setTitle } from "../dom.js";

function histogram(hist, kind) {
  const canvas = h("canvas", { class: "hist", role: "img", "aria-label": "histogram" });
  requestAnimationFrame(() => {
    const dpr = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 260;
    const height = 70;
    canvas.width = width * dpr;
    canvas.height = height * dpr;
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    const max = Math.max(...hist.counts, 1);
    const n = hist.counts.length;
    const bar = width / n;
    ctx.fillStyle = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#2f6fde";
    hist.counts.forEach((c, i) => {
      const bh = (c / max) * (height - 2);
      ctx.fillRect(i * bar + 0.5, height - bh, Math.max(1, bar - 1), bh);
    });
  });
  const lo = hist.edges[0];
  const hi = hist.edges[hist.edges.length - 1];
  const fmt = kind === "datetime" ? (v) => fmtTime(v / 1e6) : fmtNum;
  return h("div", { class: "hist-box" }, canvas, h("div", { class: "hist-range muted small" }, h("span", null, fmt(lo)), h("span", null, fmt(hi))));
}

function columnCard(col, rows) {
  const nullPct = rows ? ((100 * col.nulls) / rows).toFixed(1) : "0";
  const stats = [
    ["type", h("code", null, col.dtype)],
    ["nulls", `${col.nulls.toLocaleString()} (${nullPct}%)`],
    ["distinct", `${col.distinct_exact ? "" : "\u2248"}${col.distinct.toLocaleString()}`],
  ];
  const fmt = col.kind === "datetime" ? (v) => (v === null || v === undefined ? "" : fmtTime(v / 1e6)) : fmtNum;
  if (col.kind === "numeric" || col.kind === "datetime") {
    if (col.kind === "numeric") stats.push(["mean \u00B1 std", `${fmtNum(col.mean)} \u00B1 ${fmtNum(col.std)}`]);
    stats.push(["min / max", `${fmt(col.min)} / ${fmt(col.max)}`]);
    if (col.quantiles) stats.push(["p01 \u00B7 p25 \u00B7 p50 \u00B7 p75 \u00B7 p99", ["p01", "p25", "p50", "p75", "p99"].map((q) => fmt(col.quantiles[q])).join(" \u00B7 ")]);
  }
  const top = col.top && col.top.length && !(col.kind === "numeric" && col.distinct > 20) ? h("ol", { class: "top" }, col.top.slice(0, 8).map(([v, c]) => h("li", null, h("span", null, v === null ? "null" : String(v)), h("span", { class: "muted" }, ` ${c.toLocaleString()}`)))) : null;
  return h("article", { class: "col-card", "data-column": col.name }, h("h3", null, col.name, h("span", { class: "muted small" }, ` ${col.kind}`)), kvTable(stats), col.histogram ? histogram(col.histogram, col.kind) : null, top, col.warnings ? h("p", { class: "muted small" }, col.warnings.join("; ")) : null);
}

export async function render(main, params, query) {
  const name = params.name;
  setTitle(name, "dataset");
  const versions = await api(`/datasets/${seg(name)}/versions`);
  const wanted = Number(query.get("version"));
  const current = versions.find((v) => v.version === wanted) || versions[0];
  add(clear(main), 
    h("div", { class: "page-head" }, h("h1", null, name), h("span", { class: "muted" }, `${versions.length} versions`)),
    section(
      "Versions",
      h(
        "table",
        { class: "grid" },
        h("thead", null, h("tr", null, h("th", null, "version"), h("th", null, "rows"), h("th", null, "columns"), h("th", null, "size"), h("th", null, "sha256"), h("th", null, "registered"), h("th", null, "description"))),
        h(
          "tbody",
          null,
          versions.map((v) =>
            h(
              "tr",
              { class: v === current ? "current" : null, "aria-current": v === current ? "true" : null },
              h("td", null, link(`/ui/datasets/${encodeURIComponent(name)}?version=${v.version}`, `v${v.version}`)),
              h("td", { class: "right" }, v.num_rows.toLocaleString()),
              h("td", { class: "right" }, v.num_columns.toLocaleString()),
              h("td", { class: "right" }, fmtBytes(v.size_bytes)),
              h("td", null, h("code", { class: "digest" }, v.digest)),
              h("td", null, fmtTime(v.creation_time)),
              h("td", { class: "muted" }, v.description),
            ),
          ),
        ),
      ),
    ),
  );
  if (!current) return;
  const schema = kvTable(current.columns.map((c) => [c.name, h("code", null, c.type)]));
  const profileBox = h("div", { class: "profile" }, h("p", { class: "muted" }, "Loading the profile\u2026"));
  add(main, 
    section(`Version ${current.version}`, h("p", null, h("code", null, `datasets:/${name}/${current.version}`), " \u00B7 ", h("code", null, `datasets:/${name}@${current.digest.slice(0, 8)}`)), h("details", null, h("summary", null, "schema"), schema)),
    section("Profile", profileBox),
    section("Checks", h("p", { class: "muted" }, "Check results are not stored with a version; run the checks on it: ", h("code", { class: "cmd" }, `mloop data check datasets:/${name}/${current.version} --checks checks.yaml`))),
  );
  try {
    const profile = await api(`/datasets/${seg(name)}/versions/${current.version}/profile`);
    profileBox.replaceChildren(h("p", { class: "muted" }, `${profile.rows.toLocaleString()} rows profiled`), h("div", { class: "col-cards" }, profile.columns.map((c) => columnCard(c, profile.rows))));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) profileBox.replaceChildren(h("p", { class: "muted" }, "This version was stored without a profile (register it again with a current mloop to profile it)."));
    else profileBox.replaceChildren(errorBox(err));
  }
}
