// The one module that knows LoRA Atlas's URLs. ROUTES mirrors server/routes.py (a Python test
// parses this list and checks it against the server's table); every call below names its route.
// No side effects at import: ComfyUI imports every .js file under web/ as an extension script.

export const ROUTES = [
  ["GET", "/loras"],
  ["GET", "/loras/{id}"],
  ["PATCH", "/loras/{id}/config"],
  ["POST", "/loras/{id}/config"],
  ["GET", "/preview/{id}"],
  ["GET", "/preview"],
  ["POST", "/plan"],
  ["GET", "/plans"],
  ["POST", "/plans"],
  ["GET", "/plans/{pid}"],
  ["DELETE", "/plans/{pid}"],
  ["GET", "/plans/{pid}/export"],
  ["GET", "/plan-history"],
  ["GET", "/plan-history/{hid}"],
  ["GET", "/templates"],
  ["GET", "/templates/{name}"],
  ["PUT", "/templates/{name}"],
  ["DELETE", "/templates/{name}"],
  ["GET", "/profiles"],
  ["PUT", "/profiles/{name}"],
  ["DELETE", "/profiles/{name}"],
  ["POST", "/jobs/{action}"],
  ["GET", "/jobs"],
  ["GET", "/jobs/{jid}"],
  ["GET", "/settings"],
  ["PUT", "/settings"],
];

// The server's event names (server/events.py).
export const EVENT_JOB = "lora-atlas.job";
export const EVENT_LIBRARY = "lora-atlas.library";
export const EVENT_PREVIEW = "lora-atlas.preview";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The URL of `template` (a ROUTES path) with its {placeholders} filled and a query string. */
export function routeUrl(apiBase, method, template, params = {}, query = null) {
  if (!ROUTES.some(([m, p]) => m === method && p === template)) {
    throw new Error(`no route ${method} ${template}`);
  }
  const path = template.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(String(params[k])));
  let url = apiBase + path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
    }
    const s = qs.toString();
    if (s) url += "?" + s;
  }
  return url;
}

/** The client of one host: `apiBase` is '/lora-atlas' (serve) or '/api/lora-atlas' (ComfyUI). */
export function makeApi(apiBase, fetchImpl = null) {
  const doFetch = fetchImpl || ((url, init) => fetch(url, init));

  async function call(method, template, params, query, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const url = routeUrl(apiBase, method, template, params, query);
    let response;
    try {
      response = await doFetch(url, init);
    } catch (err) {
      throw new ApiError(0, `the server did not answer (${err.message || err})`);
    }
    const type = response.headers.get("Content-Type") || "";
    const doc = type.includes("json") ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) {
      const message = doc && doc.error ? doc.error : `HTTP ${response.status}`;
      throw new ApiError(response.status, message);
    }
    return doc;
  }

  return {
    apiBase,
    listLoras: (query) => call("GET", "/loras", {}, query),
    getLora: (id, analysis = true) => call("GET", "/loras/{id}", { id }, analysis ? null : { analysis: 0 }),
    editConfig: (id, fields) => call("PATCH", "/loras/{id}/config", { id }, null, fields),
    previewUrl: (id) => routeUrl(apiBase, "GET", "/preview/{id}", { id }),
    plan: (request) => call("POST", "/plan", {}, null, request),
    listPlans: () => call("GET", "/plans"),
    savePlan: (name, request) => call("POST", "/plans", {}, null, { name, request }),
    getPlan: (pid) => call("GET", "/plans/{pid}", { pid }),
    deletePlan: (pid) => call("DELETE", "/plans/{pid}", { pid }),
    exportUrl: (pid, format) => routeUrl(apiBase, "GET", "/plans/{pid}/export", { pid }, { format }),
    planHistory: (limit = 20) => call("GET", "/plan-history", {}, { limit }),
    historyEntry: (hid) => call("GET", "/plan-history/{hid}", { hid }),
    listTemplates: () => call("GET", "/templates"),
    listProfiles: () => call("GET", "/profiles"),
    startJob: (action, body) => call("POST", "/jobs/{action}", { action }, null, body || { root: 0 }),
    listJobs: () => call("GET", "/jobs"),
    getJob: (jid) => call("GET", "/jobs/{jid}", { jid }),
    settings: () => call("GET", "/settings"),
  };
}
