// The REST API client of the UI: every piece of data comes from /api/v1, with the user's token
// (kept in sessionStorage, gone when the tab closes) as a Bearer header once auth is on.

const TOKEN_KEY = "mloop.token";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? null;
  }
}

const listeners = new Set();

/** Call fn() when the server answers 401: the page shows the sign-in form. */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function send(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, { method, headers, body: payload, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "UNAVAILABLE", `the server cannot be reached (${err.message})`);
  }
  if (resp.ok) return resp;
  let code = "HTTP_" + resp.status;
  let message = `the server answered HTTP ${resp.status}`;
  let details = null;
  try {
    const data = await resp.json();
    if (data && data.error) ({ code, message, details } = data.error);
  } catch {
    // not the JSON error shape (a proxy's page): keep the status line
  }
  const error = new ApiError(resp.status, code, message, details);
  if (resp.status === 401) for (const fn of listeners) fn(error);
  throw error;
}

/** GET or POST path (under /api/v1) and return the decoded JSON. */
export async function api(path, options) {
  const resp = await send(path, options);
  if (resp.status === 204) return null;
  return resp.json();
}

/** The raw response (artifacts: text, images, HTML reports). */
export function apiRaw(path, options) {
  return send(path, options);
}

/** Who the token belongs to; {auth_enabled: false} when the server has no auth (its
 *  whoami route answers 404). */
export async function whoami() {
  try {
    return await api("/auth/whoami");
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return { auth_enabled: false };
    throw err;
  }
}

/** Encode one path segment (names, run ids). */
export function seg(value) {
  return encodeURIComponent(String(value));
}

/** Encode a path of segments (artifact paths, tag keys), keeping the slashes. */
export function segs(value) {
  return String(value).split("/").map(encodeURIComponent).join("/");
}

/** A metric value from JSON: the strings "NaN", "Infinity", "-Infinity" as numbers. */
export function num(value) {
  if (typeof value === "number" || value === null || value === undefined) return value ?? null;
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  return Number(value);
}

// -- requests started before the page's module has loaded -----------------------------------

const early = new Map();

/** Start a request now, before the page that needs it has loaded its modules (app.js does this
 *  for the page in the URL); the page takes it with takeEarly(key), or asks again. */
export function startEarly(key, request) {
  const promise = request();
  promise.catch(() => null); // the page that takes it sees the error
  early.set(key, promise);
}

/** The request started early under key, once (null when none was). */
export function takeEarly(key) {
  const promise = early.get(key) || null;
  early.delete(key);
  return promise;
}

/** How many metric charts a run page draws before "Show more", and the width in pixels of one
 *  when two share a row: the series are asked for this wide before the page is laid out. */
export const RUN_PAGE_CHARTS = 24;

export function chartWidthGuess(perRow = 2) {
  return Math.max(240, Math.floor((Math.min(window.innerWidth, 1600) - 100) / perRow));
}

/** The body of POST /metrics/histories for the first charts of a run page: keys null asks for
 *  the run's own keys, so it can be sent before the run is read. */
export function runSeriesRequest(runId, xAxis) {
  return { run_ids: [runId], max_keys: RUN_PAGE_CHARTS, x_axis: xAxis, max_points: Math.min(20000, chartWidthGuess(2)) };
}
