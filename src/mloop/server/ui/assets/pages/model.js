// /ui/models/{name}: versions, aliases, the loop's stages for a version (registered, evaluated,
// gated, challenger, champion), its signature and requirements, the append-only audit history,
// evaluation and gate reports, and lineage: the run, its datasets and its git commit.

import { api, ApiError, num, seg } from "../api.js";
import { add, clear, errorBox, fmtNum, fmtTime, h, kvTable, link, section, setTitle } from "../dom.js";

const GATE_TAG = "mloop.gate.last";
const EVAL_TAG = "mloop.evaluation_run";

function pickVersion(query, model, versions) {
  const wanted = Number(query.get("version"));
  if (wanted && versions.some((v) => v.version === wanted)) return wanted;
  if (model.aliases.champion) return model.aliases.champion;
  return versions.length ? versions[0].version : null;
}

function stages(version) {
  const gate = version.tags[GATE_TAG];
  const gateState = gate === undefined ? null : /gate passed/i.test(gate) ? "passed" : /gate failed/i.test(gate) ? "failed" : "done";
  const steps = [
    ["registered", "done", `v${version.version}`],
    ["evaluated", version.tags[EVAL_TAG] ? "done" : "todo", version.tags[EVAL_TAG] ? "evaluation run" : "mloop evaluate"],
    ["gated", gateState === "passed" ? "done" : gateState === "failed" ? "failed" : gateState ? "done" : "todo", gateState || "mloop gate"],
    ["challenger", version.aliases.includes("challenger") ? "done" : "todo", "@challenger"],
    ["champion", version.aliases.includes("champion") ? "done" : "todo", "@champion"],
  ];
  return h(
    "ol",
    { class: "stages", "aria-label": "stages of the loop" },
    steps.map(([name, state, note]) => h("li", { class: `stage stage-${state}` }, h("strong", null, name), h("span", { class: "muted" }, note))),
  );
}

function signatureTable(sig) {
  if (!sig) return h("p", { class: "muted" }, "No signature recorded.");
  const inputs = sig.inputs || [];
  const rows = Array.isArray(inputs)
    ? inputs.map((c) => h("tr", null, h("td", null, c.name ?? ""), h("td", null, h("code", null, c.type ?? c.dtype ?? "")), h("td", null, c.nullable ? "yes" : ""), h("td", null, c.shape ? JSON.stringify(c.shape) : "")))
    : [];
  return h(
    "div",
    null,
    h("table", { class: "grid" }, h("thead", null, h("tr", null, h("th", null, "input"), h("th", null, "type"), h("th", null, "nullable"), h("th", null, "shape"))), h("tbody", null, rows)),
    sig.outputs ? h("p", null, "outputs: ", h("code", null, JSON.stringify(sig.outputs))) : null,
  );
}

export async function render(main, params, query, app) {
  const name = params.name;
  const [model, versions, audit] = await Promise.all([
    api(`/registered-models/${seg(name)}`),
    api(`/registered-models/${seg(name)}/versions`),
    api(`/registered-models/${seg(name)}/audit`),
  ]);
  setTitle(name, "model");
  const current = pickVersion(query, model, versions);
  const version = versions.find((v) => v.version === current);

  const versionRows = versions.map((v) =>
    h(
      "tr",
      { class: v.version === current ? "current" : null, "aria-current": v.version === current ? "true" : null },
      h("td", null, link(`/ui/models/${encodeURIComponent(name)}?version=${v.version}`, `v${v.version}`)),
      h("td", null, v.aliases.map((a) => h("span", { class: `chip alias alias-${a}` }, `@${a}`))),
      h("td", null, v.status),
      h("td", null, v.run_id ? link(`/ui/runs/${v.run_id}`, v.run_id.slice(0, 8)) : ""),
      h("td", null, v.tags[GATE_TAG] ? (/gate passed/i.test(v.tags[GATE_TAG]) ? "passed" : /gate failed/i.test(v.tags[GATE_TAG]) ? "failed" : "gated") : ""),
      h("td", null, fmtTime(v.creation_time)),
    ),
  );

  const auditRows = audit
    .slice()
    .reverse()
    .map((e) =>
      h(
        "tr",
        null,
        h("td", null, fmtTime(e.time)),
        h("td", null, h("code", null, e.action)),
        h("td", null, e.version === null ? "" : `v${e.version}`),
        h("td", null, e.actor),
        h("td", null, e.reason ? h("details", null, h("summary", null, e.reason.split("\n")[0].slice(0, 80)), h("pre", { class: "text" }, e.reason)) : ""),
      ),
    );

  add(clear(main), 
    h(
      "div",
      { class: "page-head" },
      h("h1", null, name),
      h("span", { class: "muted" }, Object.entries(model.aliases).map(([a, v]) => ` @${a}\u2192v${v}`).join("")),
      " ",
      link(`/ui/monitoring/${encodeURIComponent(name)}`, "monitoring"),
    ),
    model.description ? h("p", null, model.description) : null,
    section(
      "Versions",
      h("table", { class: "grid" }, h("thead", null, h("tr", null, h("th", null, "version"), h("th", null, "aliases"), h("th", null, "status"), h("th", null, "run"), h("th", null, "gate"), h("th", null, "registered"))), h("tbody", null, versionRows)),
    ),
  );

  if (version) {
    const detail = h("div", { class: "version-detail" });
    add(main, section(`Version ${version.version}`, stages(version), detail));
    await renderVersion(detail, name, version);
  }
  add(main, section("Audit history", audit.length ? h("table", { class: "grid" }, h("thead", null, h("tr", null, h("th", null, "time"), h("th", null, "action"), h("th", null, "version"), h("th", null, "actor"), h("th", null, "reason"))), h("tbody", null, auditRows)) : h("p", { class: "muted" }, "No changes recorded.")));
}

async function renderVersion(detail, name, version) {
  const [manifest, run, inputs, evalRun] = await Promise.all([
    api(`/registered-models/${seg(name)}/versions/${version.version}/manifest`).catch((err) => (err instanceof ApiError ? err : Promise.reject(err))),
    version.run_id ? api(`/runs/${seg(version.run_id)}`).catch(() => null) : null,
    version.run_id ? api(`/runs/${seg(version.run_id)}/inputs`).catch(() => []) : [],
    version.tags[EVAL_TAG] ? api(`/runs/${seg(version.tags[EVAL_TAG])}`).catch(() => null) : null,
  ]);
  const m = manifest instanceof ApiError ? null : manifest.manifest;
  const lineage = [
    ["source", h("code", null, version.source)],
    ["run", version.run_id ? link(`/ui/runs/${version.run_id}`, run ? run.info.run_name : version.run_id) : "none"],
  ];
  if (run && run.data.tags["mloop.git.commit"]) lineage.push(["git commit", h("code", null, run.data.tags["mloop.git.commit"] + (run.data.tags["mloop.git.dirty"] === "true" ? " (with uncommitted changes)" : ""))]);
  for (const i of inputs) lineage.push([`dataset (${i.context})`, h("span", null, link(`/ui/datasets/${encodeURIComponent(i.dataset_name)}?version=${i.dataset_version}`, `datasets:/${i.dataset_name}/${i.dataset_version}`), h("code", { class: "muted" }, ` ${i.digest.slice(0, 12)}\u2026`))]);
  if (m && m.dataset_hashes && m.dataset_hashes.length) lineage.push(["training data digests", h("code", null, m.dataset_hashes.join(", "))]);

  const parts = [h("div", { class: "columns" }, h("div", null, h("h3", null, "Lineage"), kvTable(lineage)), h("div", null, h("h3", null, "Model"), m ? kvTable([["flavor", m.flavor.name], ["python", m.python_version], ["mloop", m.mloop_version], ["saved", fmtTime(m.created_time)], ["files", Object.keys(m.files || {}).length]]) : errorBox(manifest)))];
  if (m) {
    parts.push(h("h3", null, "Signature"), signatureTable(m.signature));
    parts.push(h("details", null, h("summary", null, `${(m.requirements || []).length} pinned requirements`), h("pre", { class: "text" }, (m.requirements || []).join("\n"))));
    parts.push(h("details", null, h("summary", null, "file digests"), kvTable(Object.entries(m.files || {}).map(([f, d]) => [f, h("code", null, d)]))));
  }
  parts.push(h("h3", null, "Evaluation"));
  if (evalRun) {
    const metrics = Object.entries(evalRun.data.metrics).sort(([a], [b]) => (a < b ? -1 : 1));
    parts.push(h("p", null, link(`/ui/runs/${evalRun.info.run_id}`, "evaluation run"), " (its artifacts hold evaluation.json and the reports)"), kvTable(metrics.map(([k, v]) => [k, fmtNum(num(v.value))])));
  } else parts.push(h("p", { class: "muted" }, "Not evaluated yet: ", h("code", { class: "cmd" }, `mloop evaluate models:/${name}/${version.version} --data DATA --target COLUMN`)));
  parts.push(h("h3", null, "Gate report"));
  if (version.tags[GATE_TAG]) parts.push(h("pre", { class: "text gate" }, version.tags[GATE_TAG]));
  else parts.push(h("p", { class: "muted" }, "Not gated yet: ", h("code", { class: "cmd" }, `mloop promote ${name} --policy gate.yaml --data DATA --target COLUMN`)));
  detail.replaceChildren(...parts);
}
