// /ui/datasets: the latest version of every dataset.

import { api } from "../api.js";
import { add, clear, empty, fmtBytes, fmtTime, h, link, setTitle } from "../dom.js";

export async function render(main) {
  setTitle("Datasets");
  const datasets = await api("/datasets");
  add(clear(main), h("div", { class: "page-head" }, h("h1", null, "Datasets"), h("span", { class: "muted" }, `${datasets.length}`)));
  if (!datasets.length) {
    add(main, empty("No datasets yet. Register one (a Parquet or CSV file, or a DataFrame):", 'mloop data register train.parquet --name churn-train', h("p", null, "or from Python: ", h("code", { class: "cmd" }, 'mloop.data.register(df, "churn-train")'))));
    return;
  }
  add(main, 
    h(
      "table",
      { class: "grid list" },
      h("thead", null, h("tr", null, h("th", null, "name"), h("th", null, "latest"), h("th", null, "rows"), h("th", null, "columns"), h("th", null, "size"), h("th", null, "sha256"), h("th", null, "registered"))),
      h(
        "tbody",
        null,
        datasets.map((d) =>
          h(
            "tr",
            null,
            h("td", null, link(`/ui/datasets/${encodeURIComponent(d.name)}`, d.name)),
            h("td", null, `v${d.version}`),
            h("td", { class: "right" }, d.num_rows.toLocaleString()),
            h("td", { class: "right" }, d.num_columns.toLocaleString()),
            h("td", { class: "right" }, fmtBytes(d.size_bytes)),
            h("td", null, h("code", { title: d.digest }, d.digest.slice(0, 12) + "\u2026")),
            h("td", null, fmtTime(d.creation_time)),
          ),
        ),
      ),
    ),
  );
}
