// /ui/models: the registered models with their aliases.

import { api } from "../api.js";
import { add, clear, empty, fmtTime, h, link, setTitle } from "../dom.js";

export async function render(main) {
  setTitle("Models");
  const models = await api("/registered-models");
  add(clear(main), h("div", { class: "page-head" }, h("h1", null, "Models"), h("span", { class: "muted" }, `${models.length}`)));
  if (!models.length) {
    add(main, 
      empty("No registered models yet. Register one from a run:", 'mloop.models.log_model(model, "model", registered_model_name="churn")', h("p", null, "or run the whole loop on bundled data: ", h("code", { class: "cmd" }, "mloop demo"))),
    );
    return;
  }
  add(main, 
    h(
      "table",
      { class: "grid list" },
      h("thead", null, h("tr", null, h("th", null, "name"), h("th", null, "latest version"), h("th", null, "aliases"), h("th", null, "updated"), h("th", null, "description"))),
      h(
        "tbody",
        null,
        models.map((m) =>
          h(
            "tr",
            null,
            h("td", null, link(`/ui/models/${encodeURIComponent(m.name)}`, m.name)),
            h("td", null, m.latest_version === null ? "" : `v${m.latest_version}`),
            h(
              "td",
              null,
              Object.entries(m.aliases)
                .sort()
                .map(([alias, v]) => h("span", { class: `chip alias alias-${alias}` }, `@${alias} \u2192 v${v}`)),
            ),
            h("td", null, fmtTime(m.last_update_time)),
            h("td", { class: "muted" }, m.description.slice(0, 120)),
          ),
        ),
      ),
    ),
  );
}
