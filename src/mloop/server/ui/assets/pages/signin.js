// /ui/sign-in: shown when the server answers 401. The token stays in this tab's sessionStorage
// and travels as "Authorization: Bearer"; no cookie is set.

import { setToken, whoami } from "../api.js";
import { add, clear, errorBox, h, setTitle } from "../dom.js";

export async function render(main, params, query, app) {
  setTitle("Sign in");
  const input = h("input", { type: "password", id: "token", autocomplete: "off", spellcheck: "false", placeholder: "mlp_\u2026", required: true });
  const problem = h("div");
  const form = h(
    "form",
    { class: "card signin" },
    h("h1", null, "Sign in"),
    h("p", null, "This server needs an API token. Ask its admin for one (", h("code", null, "mloop token create NAME --role reader"), "); it is kept only in this tab."),
    h("label", { for: "token" }, "Token"),
    input,
    problem,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    try {
      const who = await whoami();
      if (who.auth_enabled === false || who.name) {
        document.dispatchEvent(new CustomEvent("mloop:signed-in", { detail: who }));
        const next = sessionStorage.getItem("mloop.after-sign-in") || "/ui/experiments";
        sessionStorage.removeItem("mloop.after-sign-in");
        app.navigate(next, { replace: true });
      }
    } catch (err) {
      setToken(null);
      problem.replaceChildren(errorBox(err));
    }
  });
  add(clear(main), form);
  input.focus();
}
