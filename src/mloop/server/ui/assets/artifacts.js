// The artifacts browser of a run: a folder tree listed on demand, and previews of text, JSON,
// YAML, images, Parquet (its first rows, read by the server) and HTML reports. A report renders
// in a sandboxed frame with no script and an opaque origin, so it cannot read the token.

import { api, apiRaw, seg, segs } from "./api.js";
import { errorBox, fmtBytes, h } from "./dom.js";

const TEXT = /\.(txt|log|md|py|csv|tsv|yaml|yml|toml|cfg|ini|sh|sql|r|js|ts|out|err|requirements|lock)$/i;
const IMAGE = /\.(png|jpe?g|gif|webp|svg)$/i;
const MAX_PREVIEW = 2 * 1024 * 1024;

export function artifactsBrowser(runId) {
  const tree = h("ul", { class: "tree", role: "tree", "aria-label": "Artifacts" });
  const preview = h("div", { class: "preview", "aria-live": "polite" }, h("p", { class: "muted" }, "Choose a file to preview it."));
  const root = h("div", { class: "artifacts" }, h("div", { class: "tree-pane" }, tree), preview);
  let objectUrl = null;

  async function list(path, into) {
    const q = path ? `?path=${encodeURIComponent(path)}` : "";
    let entries;
    try {
      entries = await api(`/runs/${seg(runId)}/artifacts${q}`);
    } catch (err) {
      into.replaceChildren(h("li", null, errorBox(err)));
      return 0;
    }
    entries.sort((a, b) => (a.is_dir === b.is_dir ? (a.path < b.path ? -1 : 1) : a.is_dir ? -1 : 1));
    into.replaceChildren(
      ...entries.map((e) => {
        const name = e.path.split("/").pop();
        if (e.is_dir) {
          const sub = h("ul", { role: "group", hidden: true });
          let loaded = false;
          const btn = h("button", { type: "button", class: "tree-dir", "aria-expanded": "false" }, `\u25B8 ${name}/`);
          btn.addEventListener("click", async () => {
            const open = btn.getAttribute("aria-expanded") !== "true";
            btn.setAttribute("aria-expanded", String(open));
            btn.textContent = `${open ? "\u25BE" : "\u25B8"} ${name}/`;
            sub.hidden = !open;
            if (open && !loaded) {
              loaded = true;
              await list(e.path, sub);
            }
          });
          return h("li", { role: "treeitem" }, btn, sub);
        }
        const btn = h("button", { type: "button", class: "tree-file", "data-path": e.path }, name, h("span", { class: "muted" }, ` ${fmtBytes(e.size)}`));
        btn.addEventListener("click", () => show(e));
        return h("li", { role: "treeitem" }, btn);
      }),
    );
    if (!entries.length && !path) into.replaceChildren(h("li", { class: "muted" }, "No artifacts. Log some with mloop.log_artifact(path)."));
    return entries.length;
  }

  async function download(e) {
    const resp = await apiRaw(`/runs/${seg(runId)}/artifacts/${segs(e.path)}`);
    const blob = await resp.blob();
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: e.path.split("/").pop() });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function show(e) {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    const head = h("div", { class: "preview-head" }, h("strong", null, e.path), h("span", { class: "muted" }, ` ${fmtBytes(e.size)}`), e.sha256 ? h("code", { class: "muted digest", title: "sha256" }, ` sha256 ${e.sha256.slice(0, 16)}\u2026`) : null, h("button", { type: "button", class: "link", onclick: () => download(e) }, "download"));
    preview.replaceChildren(head, h("p", { class: "muted" }, "Loading\u2026"));
    preview.dataset.path = e.path;
    const url = `/runs/${seg(runId)}/artifacts/${segs(e.path)}`;
    let body;
    try {
      if (/\.parquet$/i.test(e.path)) body = await parquetHead(e.path);
      else if (e.size !== null && e.size > MAX_PREVIEW) body = h("p", { class: "muted" }, `Too large to preview (${fmtBytes(e.size)}); download it.`);
      else if (IMAGE.test(e.path)) {
        const blob = await (await apiRaw(url)).blob();
        const typed = /\.svg$/i.test(e.path) ? new Blob([blob], { type: "image/svg+xml" }) : blob;
        objectUrl = URL.createObjectURL(typed);
        body = h("img", { src: objectUrl, alt: e.path, class: "preview-img" });
      } else if (/\.html?$/i.test(e.path)) {
        const text = await (await apiRaw(url)).text();
        // sandbox="" : no scripts, no same-origin access, no forms, no top navigation.
        body = h("iframe", { class: "report", sandbox: "", title: e.path, referrerpolicy: "no-referrer" });
        body.srcdoc = text;
      } else if (/\.json$/i.test(e.path)) {
        const text = await (await apiRaw(url)).text();
        let pretty = text;
        try {
          pretty = JSON.stringify(JSON.parse(text), null, 2);
        } catch {
          // not valid JSON: show it as it is
        }
        body = h("pre", { class: "text" }, pretty);
      } else {
        const buf = await (await apiRaw(url)).arrayBuffer();
        const bytes = new Uint8Array(buf);
        const binary = bytes.subarray(0, 4096).some((b) => b === 0);
        body = binary && !TEXT.test(e.path) ? h("p", { class: "muted" }, "A binary file; download it.") : h("pre", { class: "text" }, new TextDecoder().decode(bytes));
      }
    } catch (err) {
      body = errorBox(err);
    }
    preview.replaceChildren(head, body);
  }

  async function parquetHead(path) {
    const head = await api(`/runs/${seg(runId)}/parquet-head/${segs(path)}?rows=50`);
    return h(
      "div",
      { class: "scroll-x" },
      h("p", { class: "muted" }, `${head.num_rows.toLocaleString()} rows; the first ${head.rows.length}:`),
      h(
        "table",
        { class: "grid" },
        h("thead", null, h("tr", null, head.columns.map((c) => h("th", { title: c.type }, c.name, h("div", { class: "muted small" }, c.type))))),
        h("tbody", null, head.rows.map((r) => h("tr", null, r.map((v) => h("td", null, v === null ? "" : String(v)))))),
      ),
    );
  }

  list("", tree);
  return root;
}
