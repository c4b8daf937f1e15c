// A virtualized grid: only the rows in view (plus a margin) exist in the DOM, so 10,000 or
// 100,000 rows scroll and re-sort as fast as 50. Rows have one fixed height; a spacer gives the
// scrollbar its true length. Keyboard: arrows or j/k move, Enter opens, x or Space selects.

import { h } from "./dom.js";

const OVERSCAN = 8;

export class VirtualTable {
  /**
   * @param {object} options
   *   columns: [{id, label, width, align, title, sortable, cell(row) -> string|Node, className(row)}]
   *   rowHeight: pixels (default 30)
   *   onOpen(row), onToggle(row): Enter / x on the active row
   *   onSort(columnId): a sortable header was clicked
   *   rowClass(row): extra class names of a row
   *   label: the grid's accessible name
   */
  constructor(options) {
    this.options = options;
    this.rowHeight = options.rowHeight || 30;
    this.columns = [];
    this.rows = []; // row ids in display order
    this.active = -1;
    this.sort = null; // {id, desc}
    this.version = 0;
    this.pool = [];
    this.frame = 0;
    this.el = h("div", { class: "vt", role: "grid", tabindex: "0", "aria-label": options.label || "table", "aria-rowcount": "1" });
    this.head = h("div", { class: "vt-head", role: "row", "aria-rowindex": "1" });
    this.body = h("div", { class: "vt-rows", role: "rowgroup" });
    this.el.append(this.head, this.body);
    this.el.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.el.addEventListener("keydown", (e) => this.onKey(e));
    this.resize = new ResizeObserver(() => this.schedule());
    this.resize.observe(this.el);
    this.setColumns(options.columns || []);
  }

  destroy() {
    this.resize.disconnect();
    cancelAnimationFrame(this.frame);
  }

  setColumns(columns) {
    this.columns = columns;
    const template = columns.map((c) => `${c.width || 140}px`).join(" ");
    this.el.style.setProperty("--vt-cols", template);
    this.el.style.setProperty("--vt-width", `${columns.reduce((s, c) => s + (c.width || 140), 0)}px`);
    this.el.setAttribute("aria-colcount", String(columns.length));
    this.renderHead();
    this.refresh();
  }

  setSort(sort) {
    this.sort = sort;
    this.renderHead();
  }

  /** Show these row ids in this order. */
  setRows(rows) {
    this.rows = rows;
    this.el.setAttribute("aria-rowcount", String(rows.length + 1));
    this.body.style.height = `${rows.length * this.rowHeight}px`;
    if (this.active >= rows.length) this.active = rows.length - 1;
    this.refresh();
  }

  /** Redraw the visible rows (their data changed). */
  refresh() {
    this.version += 1;
    this.draw();
  }

  renderHead() {
    this.head.replaceChildren(
      ...this.columns.map((col, i) => {
        const sorted = this.sort && this.sort.id === col.id;
        const ariaSort = sorted ? (this.sort.desc ? "descending" : "ascending") : "none";
        const label = col.sortable
          ? h(
              "button",
              { type: "button", class: "vt-sort", title: col.title || col.label, onclick: () => this.options.onSort && this.options.onSort(col.id) },
              col.label,
              sorted ? h("span", { class: "vt-arrow", "aria-hidden": "true" }, this.sort.desc ? " \u25BC" : " \u25B2") : null,
            )
          : col.header
            ? col.header()
            : h("span", { title: col.title || col.label }, col.label);
        return h(
          "div",
          { class: `vt-cell vt-h ${col.align === "right" ? "right" : ""}`, role: "columnheader", "aria-colindex": String(i + 1), "aria-sort": col.sortable ? ariaSort : null, dataset: { col: col.id } },
          label,
        );
      }),
    );
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    const rh = this.rowHeight;
    const headHeight = this.head.offsetHeight || rh;
    const top = Math.max(0, this.el.scrollTop - headHeight);
    const height = this.el.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / rh) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / rh) + OVERSCAN);
    const needed = last - first;
    while (this.pool.length < needed) {
      const row = h("div", { class: "vt-row", role: "row" });
      row.addEventListener("click", (e) => this.onRowClick(e, row));
      this.body.append(row);
      this.pool.push(row);
    }
    for (let i = 0; i < this.pool.length; i++) {
      const el = this.pool[i];
      const pos = first + i;
      if (pos >= last) {
        if (!el.hidden) el.hidden = true;
        continue;
      }
      el.hidden = false;
      const id = this.rows[pos];
      if (el._pos !== pos || el._id !== id || el._version !== this.version) {
        this.fill(el, id, pos);
      }
      el.classList.toggle("active", pos === this.active);
    }
  }

  fill(el, id, pos) {
    el._pos = pos;
    el._id = id;
    el._version = this.version;
    el.style.transform = `translateY(${pos * this.rowHeight}px)`;
    el.setAttribute("aria-rowindex", String(pos + 2));
    const extra = this.options.rowClass ? this.options.rowClass(id) : "";
    el.className = `vt-row${pos % 2 ? " alt" : ""}${extra ? " " + extra : ""}${pos === this.active ? " active" : ""}`;
    if (el.childElementCount !== this.columns.length) {
      el.replaceChildren(...this.columns.map(() => h("div", { class: "vt-cell", role: "gridcell" })));
    }
    const cells = el.children;
    for (let c = 0; c < this.columns.length; c++) {
      const col = this.columns[c];
      const cell = cells[c];
      const value = col.cell(id);
      cell.className = `vt-cell${col.align === "right" ? " right" : ""}${col.className ? " " + col.className(id) : ""}`;
      if (value instanceof Node) cell.replaceChildren(value);
      else {
        const text = value === null || value === undefined ? "" : String(value);
        if (cell.firstChild && cell.childNodes.length === 1 && cell.firstChild.nodeType === 3) cell.firstChild.data = text;
        else cell.textContent = text;
        cell.title = text.length > 18 ? text : "";
      }
    }
  }

  onRowClick(event, row) {
    if (row._pos === undefined) return;
    this.setActive(row._pos, false);
  }

  setActive(pos, scroll = true) {
    if (!this.rows.length) return;
    this.active = Math.max(0, Math.min(this.rows.length - 1, pos));
    if (scroll) {
      const rh = this.rowHeight;
      const headHeight = this.head.offsetHeight || rh;
      const y = this.active * rh;
      const view = this.el.clientHeight - headHeight;
      if (y < this.el.scrollTop) this.el.scrollTop = y;
      else if (y + rh > this.el.scrollTop + view) this.el.scrollTop = y + rh - view;
    }
    this.draw();
  }

  onKey(event) {
    if (event.target !== this.el) return;
    const page = Math.max(1, Math.floor(this.el.clientHeight / this.rowHeight) - 1);
    const moves = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1, PageDown: page, PageUp: -page };
    if (event.key in moves) {
      event.preventDefault();
      this.setActive(this.active < 0 ? 0 : this.active + moves[event.key]);
    } else if (event.key === "Home") {
      event.preventDefault();
      this.setActive(0);
    } else if (event.key === "End") {
      event.preventDefault();
      this.setActive(this.rows.length - 1);
    } else if (event.key === "Enter" && this.active >= 0) {
      event.preventDefault();
      if (this.options.onOpen) this.options.onOpen(this.rows[this.active]);
    } else if ((event.key === "x" || event.key === " ") && this.active >= 0) {
      event.preventDefault();
      if (this.options.onToggle) this.options.onToggle(this.rows[this.active]);
    }
  }
}
