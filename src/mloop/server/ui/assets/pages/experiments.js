// /ui/experiments: every experiment, newest activity first.

import { api } from "../api.js";
import { add, clear, cmd, empty, fmtTime, h, link, setTitle } from "../dom.js";

export async function render(main) {
  setTitle("Experiments");
  const experiments = await api("/experiments");
  experiments.sort((a, b) => b.last_update_time - a.last_update_time);
  add(clear(main), h("div", { class: "page-head" }, h("h1", null, "Experiments"), h("span", { class: "muted" }, `${experiments.length}`)));
  if (!experiments.length) {
    add(main, 
      empty("No experiments yet. Run the whole loop on bundled data:", "mloop demo", [
        h("p", null, "or log from your own code with ", cmd("mloop.set_experiment(\"churn\")"), " and ", cmd("with mloop.start_run(): ..."), " against this server: ", cmd(`MLOOP_TRACKING_URI=${location.origin} python train.py`)),
      ]),
    );
    return;
  }
  add(main, 
    h(
      "table",
      { class: "grid list" },
      h("thead", null, h("tr", null, h("th", null, "name"), h("th", null, "id"), h("th", null, "last update"), h("th", null, "created"), h("th", null, "tags"))),
      h(
        "tbody",
        null,
        experiments.map((e) =>
          h(
            "tr",
            null,
            h("td", null, link(`/ui/experiments/${e.experiment_id}`, e.name)),
            h("td", { class: "muted" }, e.experiment_id),
            h("td", null, fmtTime(e.last_update_time)),
            h("td", null, fmtTime(e.creation_time)),
            h(
              "td",
              null,
              Object.entries(e.tags).map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`)),
            ),
          ),
        ),
      ),
    ),
  );
  const first = main.querySelector("tbody a");
  if (first) first.focus({ preventScroll: true });
}
