// /ui/monitoring/{model}: what the closed loop does with a model: the deployment record
// (versions and weights every replica follows), the loop's state and its timeline of
// transitions with evidence, drift per column over time, realized and estimated performance,
// alerts. The registry part is read today; the loop's parts fill in when the server has them
// (the deployment record at /registered-models/{name}/deployment; a 404 means none yet).

import { api, ApiError, seg } from "../api.js";
import { add, clear, cmd, empty, h, kvTable, link, section, setTitle } from "../dom.js";

async function optional(path) {
  try {
    return await api(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

export async function render(main, params) {
  const name = params.model;
  setTitle(name, "monitoring");
  const [model, deployment] = await Promise.all([api(`/registered-models/${seg(name)}`), optional(`/registered-models/${seg(name)}/deployment`)]);
  add(clear(main), 
    h("div", { class: "page-head" }, h("h1", null, `Monitoring: ${name}`), link(`/ui/models/${encodeURIComponent(name)}`, "registry")),
    section(
      "Aliases",
      kvTable(
        Object.entries(model.aliases)
          .sort()
          .map(([alias, v]) => [`@${alias}`, link(`/ui/models/${encodeURIComponent(name)}?version=${v}`, `v${v}`)]),
        { empty: "No aliases yet." },
      ),
    ),
  );
  if (deployment && deployment.spec) {
    const canary = deployment.spec.canary || [];
    add(main, 
      section(
        `Deployment (generation ${deployment.generation})`,
        kvTable(canary.map((c) => [c.version !== undefined ? `v${c.version}` : c.uri, `${c.weight}%`]), { empty: "No traffic split." }),
        deployment.spec.shadow ? h("p", null, "shadow: ", h("code", null, JSON.stringify(deployment.spec.shadow))) : null,
      ),
    );
  } else {
    add(main, 
      section(
        "Loop",
        empty(
          "No loop yet: no deployment record, loop state or drift history for this model. Start the closed loop with:",
          "mloop loop run loop.yaml",
          h("p", { class: "muted" }, "Until then, serve it with ", cmd(`mloop serve models:/${name}@champion`), " and check drift by hand with ", cmd("mloop drift REFERENCE CURRENT"), "."),
        ),
      ),
    );
  }
  for (const title of ["Loop state and transitions", "Drift per column over time", "Performance over time", "Alerts"]) {
    add(main, section(title, h("p", { class: "muted" }, "Filled by the loop controller once it runs for this model.")));
  }
}
