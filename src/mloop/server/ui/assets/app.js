// The UI's entry point: theme, sign-in when auth is on, the router of /ui/... URLs, and the
// global keyboard shortcuts. Pages live in pages/*.js and export render(main, params, query),
// which may return a function that stops what the page started (polling, observers).

import { ApiError, api, onUnauthorized, runSeriesRequest, seg, setToken, startEarly, whoami } from "./api.js";
import { clear, errorBox, h } from "./dom.js";

const ROUTES = [
  [/^\/ui\/experiments\/?$/, "experiments"],
  [/^\/ui\/experiments\/([^/]+)\/?$/, "experiment", ["id"]],
  [/^\/ui\/runs\/([^/]+)\/?$/, "run", ["runId"]],
  [/^\/ui\/compare\/?$/, "compare"],
  [/^\/ui\/models\/?$/, "models"],
  [/^\/ui\/models\/([^/]+)\/?$/, "model", ["name"]],
  [/^\/ui\/datasets\/?$/, "datasets"],
  [/^\/ui\/datasets\/([^/]+)\/?$/, "dataset", ["name"]],
  [/^\/ui\/pipelines\/([^/]+)\/?$/, "pipeline", ["runId"]],
  [/^\/ui\/monitoring\/([^/]+)\/?$/, "monitoring", ["model"]],
  [/^\/ui\/traces\/([^/]+)\/?$/, "trace", ["traceId"]],
  [/^\/ui\/sign-in\/?$/, "signin"],
];

const main = document.getElementById("main");
let stopPage = null;
let renderSeq = 0;
let identity = null;

// -- theme -----------------------------------------------------------------------------------

const THEME_KEY = "mloop.theme";

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  document.dispatchEvent(new CustomEvent("mloop:theme", { detail: theme }));
}

function initialTheme() {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === "dark" || saved === "light") return saved;
  return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function toggleTheme() {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
}

applyTheme(initialTheme());
document.getElementById("theme-toggle").addEventListener("click", toggleTheme);

// -- routing ---------------------------------------------------------------------------------

function match(pathname) {
  for (const [re, page, names = []] of ROUTES) {
    const m = re.exec(pathname);
    if (m) {
      const params = {};
      names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1]);
      });
      return { page, params };
    }
  }
  return null;
}

export function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  route();
}

/** Change the query string of the current page without re-rendering it. */
export function setQuery(params) {
  const url = new URL(location.href);
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === "") url.searchParams.delete(k);
    else url.searchParams.set(k, v);
  }
  history.replaceState(null, "", url.pathname + url.search);
}

function markNav(page) {
  const section = { experiment: "experiments", run: "experiments", compare: "experiments", pipeline: "experiments", model: "models", monitoring: "models", trace: "experiments", dataset: "datasets" }[page] || page;
  for (const a of document.querySelectorAll("header nav a")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function route() {
  const seq = ++renderSeq;
  if (stopPage) {
    try {
      stopPage();
    } catch (err) {
      console.error(err);
    }
    stopPage = null;
  }
  const found = match(location.pathname);
  markNav(found ? found.page : "");
  clear(main);
  main.setAttribute("aria-busy", "true");
  if (!found) {
    main.append(h("h1", null, "Not found"), h("p", null, "No page at ", h("code", null, location.pathname), ". ", h("a", { href: "/ui/experiments" }, "Experiments")));
    main.removeAttribute("aria-busy");
    return;
  }
  try {
    const module = await import(`./pages/${found.page}.js`);
    if (seq !== renderSeq) return;
    const query = new URLSearchParams(location.search);
    const stop = await module.render(main, found.params, query, { identity, navigate, setQuery });
    if (seq !== renderSeq) {
      if (typeof stop === "function") stop();
      return;
    }
    stopPage = typeof stop === "function" ? stop : null;
  } catch (err) {
    if (seq !== renderSeq) return;
    if (err instanceof ApiError && err.status === 401) return; // the sign-in page took over
    if (!(err instanceof ApiError)) console.error(err); // a bug: keep the stack for developers
    clear(main).append(errorBox(err));
  } finally {
    if (seq === renderSeq) main.removeAttribute("aria-busy");
  }
}

document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest("a[href]");
  if (!a || a.getAttribute("target") || a.hasAttribute("download")) return;
  // getAttribute: an SVG <a> (the pipeline graph) has no string .href.
  const url = new URL(a.getAttribute("href"), location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/ui/")) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

window.addEventListener("popstate", route);

// -- sign-in ---------------------------------------------------------------------------------

onUnauthorized(() => {
  if (location.pathname.startsWith("/ui/sign-in")) return;
  sessionStorage.setItem("mloop.after-sign-in", location.pathname + location.search);
  navigate("/ui/sign-in", { replace: true });
});

// -- keyboard --------------------------------------------------------------------------------

const help = document.getElementById("help");

function showHelp(show) {
  help.hidden = !show;
  if (show) document.getElementById("help-close").focus();
}

document.getElementById("help-toggle").addEventListener("click", () => showHelp(true));
document.getElementById("help-close").addEventListener("click", () => showHelp(false));

let pendingG = false;
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !help.hidden) {
    showHelp(false);
    return;
  }
  const t = event.target;
  if (event.metaKey || event.ctrlKey || event.altKey) return;
  if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  if (pendingG) {
    pendingG = false;
    const target = { e: "/ui/experiments", m: "/ui/models", d: "/ui/datasets" }[event.key];
    if (target) {
      event.preventDefault();
      navigate(target);
    }
    return;
  }
  if (event.key === "g") {
    pendingG = true;
    setTimeout(() => {
      pendingG = false;
    }, 1500);
  } else if (event.key === "?") {
    showHelp(help.hidden);
  } else if (event.key === "t") {
    toggleTheme();
  } else if (event.key === "/") {
    const filter = document.querySelector("[data-filter]");
    if (filter) {
      event.preventDefault();
      filter.focus();
      filter.select();
    }
  }
});

// -- who is signed in -------------------------------------------------------------------------

const who = document.getElementById("who");

function signOut() {
  setToken(null);
  identity = null;
  showIdentity();
  sessionStorage.removeItem("mloop.after-sign-in");
  navigate("/ui/sign-in", { replace: true });
}

function showIdentity() {
  clear(who);
  if (!identity || !identity.auth_enabled || !identity.name) return;
  who.append(
    h("span", { "data-identity": identity.name }, identity.name),
    h("span", { class: "badge role", "data-role": identity.role, title: "what this token may do" }, identity.role),
    h("button", { type: "button", id: "sign-out", onclick: signOut, title: "Forget the token in this tab" }, "Sign out"),
  );
}

async function refreshIdentity() {
  try {
    identity = await whoami();
  } catch (err) {
    identity = null;
    if (!(err instanceof ApiError && err.status === 401)) console.warn("whoami failed", err);
  }
  showIdentity();
}

// The sign-in page announces a new token; the header then shows whose it is.
document.addEventListener("mloop:signed-in", refreshIdentity);

// -- start -----------------------------------------------------------------------------------

// A run page's data are asked for at once, beside the loading of its modules (the page's
// module, the chart module and uPlot are fetched in parallel, not one after the other), so the
// answers are there when the page's code is.
function startRunPage() {
  const m = /^\/ui\/runs\/([^/]+)\/?$/.exec(location.pathname);
  if (!m) return;
  const runId = decodeURIComponent(m[1]);
  const xAxis = new URLSearchParams(location.search).get("x") === "time" ? "time" : "step";
  for (const module of ["./pages/run.js", "./chart.js", "./artifacts.js", "../vendor/uplot/uPlot.esm.js"]) {
    document.head.append(h("link", { rel: "modulepreload", href: new URL(module, import.meta.url).pathname }));
  }
  startEarly(`run:${runId}`, () => api(`/runs/${seg(runId)}`));
  startEarly(`series:${runId}:${xAxis}`, () => api("/metrics/histories", { method: "POST", body: runSeriesRequest(runId, xAxis) }));
}

// The page renders at once; who is signed in is asked beside it (any 401 from the API shows
// the sign-in page).
startRunPage();
route();
refreshIdentity();
