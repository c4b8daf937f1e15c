// DOM helpers: elements are built with text nodes, never from HTML strings, so data from the
// API cannot inject markup.

/** h("a", {href: "/x", class: "c", onclick: fn}, "text", child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else if (key === "dataset") {
        Object.assign(el.dataset, value);
      } else if (key === "style" && typeof value === "object") {
        // setProperty: custom properties ("--level") do not take plain assignment.
        for (const [prop, v] of Object.entries(value)) {
          if (prop.startsWith("--")) el.style.setProperty(prop, v);
          else el.style[prop] = v;
        }
      } else if (value === true) {
        el.setAttribute(key, "");
      } else {
        el.setAttribute(key, String(value));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** A link inside the app (the router handles the click). */
export function link(href, ...children) {
  return h("a", { href }, ...children);
}

/** A shell command shown in an empty state, selectable as one piece. */
export function cmd(text) {
  return h("code", { class: "cmd" }, text);
}

/** "Nothing here yet" with the command that fills it. */
export function empty(what, command, more) {
  return h("div", { class: "empty" }, h("p", null, what), command ? h("p", null, cmd(command)) : null, more ?? null);
}

export function errorBox(err) {
  const code = err && err.code ? `${err.code}: ` : "";
  return h("div", { class: "error", role: "alert" }, code + (err && err.message ? err.message : String(err)));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", null, title), ...children);
}

/** A two-column table of key -> value. */
export function kvTable(entries, { empty: none = "none" } = {}) {
  if (!entries.length) return h("p", { class: "muted" }, none);
  return h(
    "table",
    { class: "kv" },
    h("tbody", null, entries.map(([k, v]) => h("tr", null, h("th", { scope: "row" }, k), h("td", null, v)))),
  );
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(Number(ms));
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const hours = Math.floor(m / 60);
  return `${hours} h ${m - hours * 60} min`;
}

export function fmtNum(v) {
  if (v === null || v === undefined || v === "") return "";
  if (typeof v === "string") return v;
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e6)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function statusBadge(status) {
  const s = String(status || "").toUpperCase();
  return h("span", { class: `badge status-${s.toLowerCase()}` }, s);
}

/** Quote a key for the filter language when it is not plain (as the server prints keys). */
export function filterKey(kind, name) {
  const plain = /^[A-Za-z0-9_\-./]+$/.test(name);
  return `${kind}.${plain ? name : "`" + name.replaceAll("`", "``") + "`"}`;
}

/** A string literal of the filter language. */
export function filterString(value) {
  return `'${String(value).replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

export function setTitle(...parts) {
  document.title = [...parts.filter(Boolean), "mloop"].join(" · ");
}

/** parent.append(...children), skipping null, undefined and false (conditional parts). */
export function add(parent, ...children) {
  append(parent, children);
  return parent;
}
