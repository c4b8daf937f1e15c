// /ui/datasets/{name}: versions and digests, the latest check result of each, and for a version:
// its profile (per column counts, nulls, distinct values, quantiles, a histogram and the top
// values) and every stored check result with the failing checks and their examples.

import { api, ApiError, seg } from "../api.js";
import { add, clear, errorBox, fmtBytes, fmtNum, fmtTime, h, kvTable, link, section, setTitle } from "../dom.js";

/** PASSED or FAILED, as `mloop data check` says it. */
function verdict(c) {
  return h("span", { class: `badge ${c.passed ? "status-finished" : "status-failed"}`, "data-verdict": c.passed ? "passed" : "failed" }, c.passed ? "PASSED" : "FAILED");
}

function counts(c) {
  const parts = [`${c.num_checks - c.num_failed - c.num_errors} passed`, `${c.num_failed} failed`];
  if (c.num_errors) parts.push(`${c.num_errors} could not run`);
  return parts.join(", ");
}

function exampleText(e) {
  const where = `row ${e.row}${e.index !== undefined ? ` (index ${JSON.stringify(e.index)})` : ""}`;
  return `${where}: ${JSON.stringify(e.value)}`;
}

/** The failing checks of one result: subject, kind, what was found, example rows. */
function failuresTable(c) {
  return h(
    "table",
    { class: "grid", "data-failures": String(c.check_id) },
    h("thead", null, h("tr", null, ["column", "check", "expected", "found", "examples"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      null,
      c.failures.map((f) =>
        h(
          "tr",
          { "data-failure": `${f.column ?? f.name ?? "table"}:${f.check}` },
          h("td", null, f.check === "custom" ? `custom ${f.name}` : f.column ?? "table"),
          h("td", null, h("code", null, f.check), f.status === "error" ? h("span", { class: "muted" }, " (could not run)") : null),
          h("td", null, f.expected),
          h("td", null, f.message),
          h("td", { class: "small" }, (f.examples || []).map(exampleText).join("; ")),
        ),
      ),
    ),
  );
}

function checksSection(name, version, checks) {
  const mine = checks.filter((c) => c.version === version);
  const command = h("code", { class: "cmd" }, `mloop data check datasets:/${name}/${version} --checks checks.yaml`);
  if (!mine.length) return section("Checks", h("p", { class: "muted", "data-checks-empty": "" }, "No check results stored for this version. Run the checks on it and the result is kept here: ", command));
  const rows = mine.map((c) =>
    h(
      "tr",
      { "data-check": String(c.check_id) },
      h("td", null, fmtTime(c.time)),
      h("td", null, verdict(c)),
      h("td", null, counts(c)),
      h("td", { class: "right" }, c.num_rows.toLocaleString()),
      h("td", null, h("code", null, c.checks)),
      h("td", null, c.actor),
      h("td", null, c.run_id ? link(`/ui/runs/${c.run_id}`, c.run_id.slice(0, 8)) : ""),
    ),
  );
  const latest = mine[0];
  return section(
    "Checks",
    h(
      "table",
      { class: "grid", "data-checks": "" },
      h("thead", null, h("tr", null, ["when", "result", "checks", "rows", "against", "by", "run"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", null, rows),
    ),
    latest.failures.length ? [h("h3", null, `Failing checks, ${fmtTime(latest.time)}`), failuresTable(latest)] : null,
    mine
      .slice(1)
      .filter((c) => c.failures.length)
      .map((c) => h("details", null, h("summary", null, `Failing checks, ${fmtTime(c.time)}`), failuresTable(c))),
  );
}

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
  const checksReq = api(`/datasets/${seg(name)}/checks?max_results=1000`).catch(() => []);
  const versions = await api(`/datasets/${seg(name)}/versions`);
  const checks = await checksReq;
  const latestCheck = new Map();
  for (const c of checks) if (!latestCheck.has(c.version)) latestCheck.set(c.version, c);
  const wanted = Number(query.get("version"));
  const current = versions.find((v) => v.version === wanted) || versions[0];
  add(clear(main), 
    h("div", { class: "page-head" }, h("h1", null, name), h("span", { class: "muted" }, `${versions.length} versions`)),
    section(
      "Versions",
      h(
        "table",
        { class: "grid" },
        h("thead", null, h("tr", null, h("th", null, "version"), h("th", null, "rows"), h("th", null, "columns"), h("th", null, "size"), h("th", null, "sha256"), h("th", null, "registered"), h("th", null, "checks"), h("th", null, "description"))),
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
              h("td", { "data-latest-check": String(v.version) }, latestCheck.has(v.version) ? [verdict(latestCheck.get(v.version)), h("span", { class: "muted small" }, ` ${counts(latestCheck.get(v.version))}`)] : h("span", { class: "muted" }, "not checked")),
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
    checksSection(name, current.version, checks),
  );
  try {
    const profile = await api(`/datasets/${seg(name)}/versions/${current.version}/profile`);
    profileBox.replaceChildren(h("p", { class: "muted" }, `${profile.rows.toLocaleString()} rows profiled`), h("div", { class: "col-cards" }, profile.columns.map((c) => columnCard(c, profile.rows))));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) profileBox.replaceChildren(h("p", { class: "muted" }, "This version was stored without a profile (register it again with a current mloop to profile it)."));
    else profileBox.replaceChildren(errorBox(err));
  }
}
