// /ui/experiments/{id}: the runs table. Columns chosen from params, metrics and tags; sort by
// any column; the filter language with errors shown at their position; nested runs folded under
// their parent; runs selected for comparison; running runs refreshed live. The first rows come
// from one small request; the rest of the runs load behind them, and once all are here a sort
// happens in the browser, without a round trip.

import { api, ApiError, num, seg } from "../api.js";
import { add, clear, cmd, empty, errorBox, filterKey, filterString, fmtDuration, fmtNum, fmtTime, h, setTitle, statusBadge } from "../dom.js";
import { VirtualTable } from "../table.js";

const FIRST_PAGE = 100;
const PAGE = 5000;
const MAX_ROWS = 50000;
const LIVE_MS = 5000;
const DEFAULT_KEYS = 8;

function columnsKey(expId) {
  return `mloop.columns.${expId}`;
}

function savedColumns(expId, keys) {
  try {
    const saved = JSON.parse(localStorage.getItem(columnsKey(expId)) || "null");
    if (saved && Array.isArray(saved.metrics)) {
      return {
        metrics: saved.metrics.filter((k) => keys.metrics.includes(k)),
        params: (saved.params || []).filter((k) => keys.params.includes(k)),
        tags: (saved.tags || []).filter((k) => keys.tags.includes(k)),
      };
    }
  } catch {
    // a damaged entry: fall back to the defaults
  }
  return {
    metrics: keys.metrics.slice(0, DEFAULT_KEYS),
    params: keys.params.slice(0, DEFAULT_KEYS),
    tags: [],
  };
}

/** Runs as columns: one array per attribute and chosen key, plus lookups. */
class RunData {
  constructor() {
    this.attributes = {};
    this.metrics = {};
    this.params = {};
    this.tags = {};
    this.length = 0;
    this.index = new Map();
  }

  append(table) {
    const n = table.attributes.run_id.length;
    const start = this.length;
    for (const [name, values] of Object.entries(table.attributes)) (this.attributes[name] ||= []).push(...values);
    for (const kind of ["metrics", "params", "tags"]) {
      for (const [key, values] of Object.entries(table[kind])) {
        const col = (this[kind][key] ||= new Array(start).fill(null));
        if (kind === "metrics") for (const v of values) col.push(num(v));
        else col.push(...values);
      }
    }
    for (let i = 0; i < n; i++) this.index.set(this.attributes.run_id[start + i], start + i);
    this.length = start + n;
  }

  /** Replace the rows of runs already here (live updates); append the others. */
  merge(table) {
    const fresh = { attributes: {}, metrics: {}, params: {}, tags: {} };
    const ids = table.attributes.run_id;
    const newRows = [];
    ids.forEach((id, i) => {
      const row = this.index.get(id);
      if (row === undefined) {
        newRows.push(i);
        return;
      }
      for (const [name, values] of Object.entries(table.attributes)) this.attributes[name][row] = values[i];
      for (const kind of ["metrics", "params", "tags"]) {
        for (const [key, values] of Object.entries(table[kind])) {
          if (this[kind][key]) this[kind][key][row] = kind === "metrics" ? num(values[i]) : values[i];
        }
      }
    });
    if (!newRows.length) return 0;
    const pick = (values) => newRows.map((i) => values[i]);
    for (const [name, values] of Object.entries(table.attributes)) fresh.attributes[name] = pick(values);
    for (const kind of ["metrics", "params", "tags"]) for (const [key, values] of Object.entries(table[kind])) fresh[kind][key] = pick(values);
    this.append(fresh);
    return newRows.length;
  }

  value(columnId, row) {
    const dot = columnId.indexOf(".");
    const kind = columnId.slice(0, dot);
    const key = columnId.slice(dot + 1);
    if (kind === "attributes") {
      if (key === "duration") {
        const end = this.attributes.end_time[row];
        return end === null || end === undefined ? null : end - this.attributes.start_time[row];
      }
      return this.attributes[key][row];
    }
    const col = this[kind][key];
    return col ? col[row] : null;
  }
}

export async function render(main, params, query, app) {
  const expId = params.id;
  const [exp, keys] = await Promise.all([
    api(`/experiments/${seg(expId)}`),
    api("/runs/keys", { method: "POST", body: { experiment_ids: [expId] } }),
  ]);
  setTitle(exp.name);

  let columns = savedColumns(expId, keys);
  let filter = query.get("filter") || "";
  let sort = null; // {id, desc}; null: the server's order, newest first
  const orderParam = query.get("order");
  if (orderParam) {
    const m = /^(.*?)(?:\s+(asc|desc))?$/i.exec(orderParam);
    sort = { id: m[1], desc: (m[2] || "asc").toLowerCase() === "desc" };
  }
  let data = new RunData();
  let loadedAll = false;
  let loadGen = 0;
  let order = []; // row indices, sorted
  const selected = new Set((query.get("selected") || "").split(",").filter(Boolean));
  const expanded = new Set();
  let liveTimer = 0;
  let stopped = false;

  // -- layout ------------------------------------------------------------------------------

  const filterInput = h("input", {
    type: "search",
    class: "filter",
    "data-filter": "",
    "aria-label": "Filter runs",
    placeholder: "metrics.auc > 0.9 and params.model = 'lgbm'",
    spellcheck: "false",
    autocomplete: "off",
    value: filter,
  });
  const filterError = h("div", { class: "filter-error", role: "alert", hidden: true });
  const countEl = h("span", { class: "muted count", "aria-live": "polite" });
  const compareBtn = h("button", { type: "button", class: "primary", disabled: true, onclick: compare }, "Compare");
  const picker = columnPicker();
  const toolbar = h(
    "div",
    { class: "toolbar" },
    h("form", { class: "filter-form", onsubmit: (e) => (e.preventDefault(), applyFilter()) }, filterInput, h("button", { type: "submit" }, "Filter")),
    picker,
    compareBtn,
    countEl,
  );
  const table = new VirtualTable({
    label: `Runs of ${exp.name}`,
    onSort: toggleSort,
    onOpen: (row) => app.navigate(`/ui/runs/${data.attributes.run_id[row]}`),
    onToggle: (row) => toggleSelected(data.attributes.run_id[row]),
    rowClass: (row) => {
      const id = data.attributes.run_id[row];
      const parent = data.attributes.parent_run_id[row];
      return `${selected.has(id) ? "selected" : ""}${parent && data.index.has(parent) ? " child" : ""}`;
    },
  });
  const body = h("div", { class: "table-area" }, table.el);
  add(clear(main), 
    h("div", { class: "page-head" }, h("h1", null, exp.name), h("span", { class: "muted" }, `experiment ${exp.experiment_id}`)),
    toolbar,
    filterError,
    body,
  );
  setColumnsOnTable();

  // -- columns -----------------------------------------------------------------------------

  function setColumnsOnTable() {
    const cols = [
      {
        id: "select",
        label: "",
        width: 34,
        className: () => "select",
        header: () => h("span", { class: "sr-only" }, "Select"),
        cell: (row) => {
          const id = data.attributes.run_id[row];
          return h("input", { type: "checkbox", "aria-label": `select ${data.attributes.run_name[row]}`, checked: selected.has(id), tabindex: "-1", onchange: () => toggleSelected(id) });
        },
      },
      {
        id: "attributes.run_name",
        label: "Run",
        width: 260,
        sortable: true,
        cell: (row) => nameCell(row),
      },
      { id: "attributes.status", label: "Status", width: 100, sortable: true, cell: (row) => statusBadge(data.attributes.status[row]) },
      { id: "attributes.start_time", label: "Started", width: 170, sortable: true, cell: (row) => fmtTime(data.attributes.start_time[row]) },
      { id: "attributes.duration", label: "Duration", width: 100, align: "right", sortable: true, cell: (row) => fmtDuration(data.value("attributes.duration", row)) },
    ];
    for (const key of columns.metrics) cols.push({ id: `metrics.${key}`, label: key, title: `metrics.${key}`, width: 120, align: "right", sortable: true, className: () => "metric", cell: (row) => fmtNum(data.metrics[key] ? data.metrics[key][row] : null) });
    for (const key of columns.params) cols.push({ id: `params.${key}`, label: key, title: `params.${key}`, width: 120, sortable: true, className: () => "param", cell: (row) => (data.params[key] ? data.params[key][row] : null) });
    for (const key of columns.tags) cols.push({ id: `tags.${key}`, label: key, title: `tags.${key}`, width: 140, sortable: true, className: () => "tag", cell: (row) => (data.tags[key] ? data.tags[key][row] : null) });
    table.setColumns(cols);
    table.setSort(sort);
  }

  function nameCell(row) {
    const attr = data.attributes;
    const id = attr.run_id[row];
    const kids = childCount.get(id) || 0;
    const parent = attr.parent_run_id[row];
    const nested = parent && data.index.has(parent);
    const toggle = kids
      ? h("button", { type: "button", class: "fold", "aria-expanded": String(expanded.has(id)), "aria-label": `${expanded.has(id) ? "fold" : "unfold"} ${kids} nested runs`, tabindex: "-1", onclick: (e) => (e.stopPropagation(), toggleExpanded(id)) }, expanded.has(id) ? "\u25BE" : "\u25B8")
      : h("span", { class: "fold-space" });
    return h(
      "span",
      { class: `name${nested ? " nested" : ""}` },
      toggle,
      h("a", { href: `/ui/runs/${id}`, tabindex: "-1" }, attr.run_name[row] || id.slice(0, 8)),
      kids ? h("span", { class: "muted kids" }, ` ${kids}`) : null,
    );
  }

  function columnPicker() {
    const search = h("input", { type: "search", placeholder: "find a key", "aria-label": "Find a column key" });
    const lists = h("div", { class: "picker-lists" });
    const details = h("details", { class: "picker" }, h("summary", null, "Columns"), h("div", { class: "picker-body" }, search, lists));
    function fill() {
      const q = search.value.toLowerCase();
      lists.replaceChildren(
        ...["metrics", "params", "tags"].map((kind) => {
          const all = keys[kind].filter((k) => !q || k.toLowerCase().includes(q));
          const shown = kind === "tags" && !q ? all.filter((k) => !k.startsWith("mloop.")) : all;
          return h(
            "fieldset",
            null,
            h("legend", null, `${kind} (${keys[kind].length})`),
            shown.length
              ? shown.slice(0, 500).map((key) =>
                  h("label", null, h("input", { type: "checkbox", checked: columns[kind].includes(key), onchange: (e) => chooseColumn(kind, key, e.target.checked) }), " ", key),
                )
              : h("p", { class: "muted" }, "none"),
          );
        }),
      );
    }
    search.addEventListener("input", fill);
    fill();
    return details;
  }

  function chooseColumn(kind, key, on) {
    const list = columns[kind].filter((k) => k !== key);
    if (on) list.push(key);
    columns = { ...columns, [kind]: list };
    localStorage.setItem(columnsKey(expId), JSON.stringify(columns));
    if (sort && sort.id === `${kind}.${key}` && !on) sort = null;
    setColumnsOnTable();
    load();
  }

  // -- folding and order -------------------------------------------------------------------

  let childCount = new Map();

  function rebuild() {
    const attr = data.attributes;
    const n = data.length;
    childCount = new Map();
    const children = new Map();
    const top = [];
    for (const row of order) {
      const parent = attr.parent_run_id[row];
      if (parent && data.index.has(parent)) {
        childCount.set(parent, (childCount.get(parent) || 0) + 1);
        if (!children.has(parent)) children.set(parent, []);
        children.get(parent).push(row);
      } else top.push(row);
    }
    const rows = [];
    const visit = (row, depth) => {
      rows.push(row);
      if (depth > 20) return;
      const id = attr.run_id[row];
      if (expanded.has(id)) for (const child of children.get(id) || []) visit(child, depth + 1);
    };
    for (const row of top) visit(row, 0);
    table.setRows(rows);
    const more = loadedAll ? "" : " (loading more\u2026)";
    countEl.textContent = `${top.length.toLocaleString()} runs${n !== top.length ? `, ${(n - top.length).toLocaleString()} nested` : ""}${more}`;
  }

  function sortRows() {
    const n = data.length;
    const idx = new Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    if (loadedAll) {
      // No sort chosen: the server's order, newest first (live rows arrive at the end).
      const by = sort || { id: "attributes.start_time", desc: true };
      const values = new Array(n);
      for (let i = 0; i < n; i++) values[i] = data.value(by.id, i);
      const dir = by.desc ? -1 : 1;
      idx.sort((a, b) => {
        const va = values[a];
        const vb = values[b];
        const aMissing = va === null || va === undefined || (typeof va === "number" && Number.isNaN(va));
        const bMissing = vb === null || vb === undefined || (typeof vb === "number" && Number.isNaN(vb));
        if (aMissing || bMissing) return aMissing === bMissing ? a - b : aMissing ? 1 : -1;
        return (va < vb ? -1 : va > vb ? 1 : 0) * dir || a - b;
      });
    }
    order = idx;
  }

  function toggleSort(id) {
    if (id === "select") return;
    if (sort && sort.id === id) sort = sort.desc ? { id, desc: false } : null;
    else sort = { id, desc: id.startsWith("metrics.") || id === "attributes.start_time" };
    table.setSort(sort);
    app.setQuery({ order: sort ? `${sort.id} ${sort.desc ? "desc" : "asc"}` : null });
    if (loadedAll) {
      // Every run is here: sort in the browser.
      sortRows();
      rebuild();
      table.el.dataset.sorted = String(Date.now());
    } else load();
  }

  function toggleExpanded(id) {
    if (expanded.has(id)) expanded.delete(id);
    else expanded.add(id);
    rebuild();
  }

  function toggleSelected(id) {
    if (selected.has(id)) selected.delete(id);
    else selected.add(id);
    compareBtn.disabled = selected.size < 2;
    compareBtn.textContent = selected.size ? `Compare ${selected.size}` : "Compare";
    table.refresh();
  }

  function compare() {
    if (selected.size >= 2) app.navigate(`/ui/compare?runs=${[...selected].join(",")}`);
  }

  // -- loading -----------------------------------------------------------------------------

  function serverOrder() {
    if (!sort) return [];
    const dot = sort.id.indexOf(".");
    const kind = sort.id.slice(0, dot);
    const key = sort.id.slice(dot + 1);
    if (kind === "attributes") {
      if (key === "duration") return [];
      return [`${key} ${sort.desc ? "DESC" : "ASC"}`];
    }
    return [`${filterKey(kind, key)} ${sort.desc ? "DESC" : "ASC"}`];
  }

  function request(extra) {
    return {
      experiment_ids: [expId],
      filter,
      order_by: serverOrder(),
      columns,
      ...extra,
    };
  }

  async function load() {
    const gen = ++loadGen;
    loadedAll = false;
    delete table.el.dataset.loaded;
    let page;
    try {
      page = await api("/runs/table", { method: "POST", body: request({ max_results: FIRST_PAGE }) });
    } catch (err) {
      if (gen !== loadGen) return;
      showError(err);
      return;
    }
    if (gen !== loadGen || stopped) return;
    showError(null);
    data = new RunData();
    data.append(page);
    let token = page.next_page_token;
    loadedAll = !token;
    table.setRows([]); // the old rows index the old data
    setColumnsOnTable();
    sortRows();
    rebuild();
    if (!data.length) showEmpty();
    else hideEmpty();
    // The rest loads behind the first rows; render() does not wait for it.
    loadRest(gen, token);
  }

  async function loadRest(gen, token) {
    while (token && data.length < MAX_ROWS) {
      let next;
      try {
        next = await api("/runs/table", { method: "POST", body: request({ max_results: PAGE, page_token: token }) });
      } catch (err) {
        if (gen === loadGen) showError(err);
        return;
      }
      if (gen !== loadGen || stopped) return;
      data.append(next);
      token = next.next_page_token;
      if (!token) loadedAll = true;
      sortRows();
      rebuild();
    }
    loadedAll = true;
    table.el.dataset.loaded = "all";
    rebuild();
    scheduleLive();
  }

  const emptyEl = empty(
    "No runs here yet. Log one from Python:",
    null,
    [
      h("pre", { class: "cmd" }, `import mloop\n\nmloop.set_experiment(${JSON.stringify(exp.name)})\nwith mloop.start_run():\n    mloop.log_metric("loss", 0.1)`),
      h("p", null, "or run the whole loop on bundled data: ", cmd("mloop demo")),
    ],
  );

  function showEmpty() {
    if (filter) {
      emptyEl.replaceChildren(h("p", null, "No run matches the filter."));
    }
    if (!emptyEl.isConnected) body.after(emptyEl);
  }

  function hideEmpty() {
    emptyEl.remove();
  }

  function showError(err) {
    filterInput.removeAttribute("aria-invalid");
    if (!err) {
      filterError.hidden = true;
      return;
    }
    filterError.hidden = false;
    if (err instanceof ApiError && err.code === "INVALID_FILTER" && err.details && typeof err.details.position === "number") {
      const pos = err.details.position;
      const source = err.details.order_by !== undefined ? String(err.details.order_by) : filter;
      filterInput.setAttribute("aria-invalid", "true");
      filterError.replaceChildren(
        h("div", null, err.message),
        h("pre", { class: "caret" }, source, "\n", " ".repeat(Math.max(0, Math.min(pos, source.length))) + "^"),
      );
      if (err.details.order_by === undefined) {
        filterInput.focus();
        filterInput.setSelectionRange(pos, Math.min(pos + 1, filter.length));
      }
    } else filterError.replaceChildren(errorBox(err));
  }

  function applyFilter() {
    filter = filterInput.value.trim();
    app.setQuery({ filter: filter || null });
    load();
  }

  // -- live rows ---------------------------------------------------------------------------

  function scheduleLive() {
    clearTimeout(liveTimer);
    if (!stopped) liveTimer = setTimeout(live, LIVE_MS);
  }

  async function live() {
    if (stopped) return;
    if (document.visibilityState !== "visible" || !loadedAll) return scheduleLive();
    const attr = data.attributes;
    const running = [];
    let newest = 0;
    for (let i = 0; i < data.length; i++) {
      if (attr.status[i] === "RUNNING" && running.length < 500) running.push(attr.run_id[i]);
      if (attr.start_time[i] > newest) newest = attr.start_time[i];
    }
    const parts = [`attributes.start_time > ${newest}`];
    if (running.length) parts.push(`attributes.run_id IN (${running.map(filterString).join(", ")})`);
    const liveFilter = `${filter ? `(${filter}) and ` : ""}(${parts.join(" or ")})`;
    const gen = loadGen;
    try {
      const page = await api("/runs/table", { method: "POST", body: { ...request({ max_results: 1000 }), filter: liveFilter, order_by: [] } });
      if (gen !== loadGen || stopped) return;
      if (page.attributes.run_id.length) {
        const added = data.merge(page);
        if (added) sortRows();
        rebuild();
        table.refresh();
        if (data.length) hideEmpty();
      }
    } catch (err) {
      console.warn("live update failed", err);
    }
    scheduleLive();
  }

  // -- start -------------------------------------------------------------------------------

  compareBtn.disabled = selected.size < 2;
  const keyHandler = (event) => {
    if (event.key === "c" && !event.metaKey && !event.ctrlKey && !["INPUT", "TEXTAREA"].includes(event.target.tagName)) compare();
  };
  document.addEventListener("keydown", keyHandler);
  await load();
  table.el.focus({ preventScroll: true });
  return () => {
    stopped = true;
    loadGen += 1;
    clearTimeout(liveTimer);
    document.removeEventListener("keydown", keyHandler);
    table.destroy();
  };
}
