// The REST API as the pages use it: a session token instead of the secret, errors as
// ApiError with the service's code and message, and the key's rights for hiding what it may not do.

const STORE = "faceledger.session";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The token, its expiry and the key's rights live in sessionStorage (gone with the tab); the
// secret is only held while signing in. Whether the token still works is the service's to say
// (this machine's clock may be off): a 401 ends the session.
export const session = {
  load() {
    try {
      return JSON.parse(sessionStorage.getItem(STORE) || "null");
    } catch {
      return null;
    }
  },
  save(s) { sessionStorage.setItem(STORE, JSON.stringify(s)); },
  clear() { sessionStorage.removeItem(STORE); sessionStorage.removeItem("faceledger.videoJobs"); },
};

export async function signIn(accessKeyId, secretAccessKey) {
  const r = await fetch("/v1/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ AccessKeyId: accessKeyId, SecretAccessKey: secretAccessKey }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, body.Code || "Error", body.Message || `Sign-in failed (${r.status}).`);
  session.save(body);
  return body;
}

function expired(status, code, message) {
  // Any 401 with a session means the token no longer works (expired, altered, key revoked).
  session.clear();
  window.dispatchEvent(new CustomEvent("faceledger:expired", { detail: message }));
  return new ApiError(status, code === "ExpiredTokenException" ? code : "SessionEnded", message);
}

function authHeaders(extra = {}) {
  const s = session.load();
  return s ? { ...extra, Authorization: `Bearer ${s.SessionToken}` } : extra;
}

// Purpose and case go as X-FaceLedger-* headers, percent-encoded: header values are ASCII.
export function contextHeaders({ purpose, caseId } = {}) {
  const out = {};
  if (purpose) out["X-FaceLedger-Purpose"] = encodeURIComponent(purpose);
  if (caseId) out["X-FaceLedger-Case-Id"] = encodeURIComponent(caseId);
  return out;
}

async function failure(r) {
  const body = await r.json().catch(() => ({}));
  const code = body.Code || "Error";
  const message = body.Message || `The service answered ${r.status}.`;
  if (r.status === 401 && session.load()) return expired(r.status, code, message);
  return new ApiError(r.status, code, message);
}

// `as`: "json" (default) or "blob"; `json` or `form` for a body; `query` for the query string.
export async function api(path, { method = "GET", json, form, query, headers = {}, as = "json" } = {}) {
  let url = `/v1${path}`;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.append(k, v);
    if ([...q].length) url += `?${q}`;
  }
  const init = { method, headers: authHeaders(headers) };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form) {
    init.body = form;
  }
  const r = await fetch(url, init);
  if (!r.ok) throw await failure(r);
  return as === "blob" ? r.blob() : r.json();
}

// The Response itself (for its headers, or a body read as it streams); errors as api() has them.
export async function apiResponse(path, { signal } = {}) {
  const r = await fetch(`/v1${path}`, { headers: authHeaders(), signal });
  if (!r.ok) throw await failure(r);
  return r;
}

// A multipart upload with progress (fetch reports none): onProgress(0..1) while sending.
export function upload(path, form, { headers = {}, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1${path}`);
    for (const [k, v] of Object.entries(authHeaders(headers))) xhr.setRequestHeader(k, v);
    if (onProgress) xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON: reported below */ }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      const code = body.Code || "Error";
      const message = body.Message || `The service answered ${xhr.status}.`;
      reject(xhr.status === 401 && session.load() ? expired(xhr.status, code, message) : new ApiError(xhr.status, code, message));
    };
    xhr.onerror = () => reject(new ApiError(0, "NetworkError", "The service could not be reached."));
    xhr.send(form);
  });
}

// Every page of a paged list: `member` holds the items.
export async function allPages(path, member, query = {}) {
  const out = [];
  let token;
  do {
    const page = await api(path, { query: { ...query, NextToken: token } });
    out.push(...(page[member] || []));
    token = page.NextToken;
  } while (token);
  return out;
}

// The key's rights: may it call `operation` (on `collection`)?
export function may(operation, collection) {
  const s = session.load();
  if (!s) return false;
  const opOk = s.Operations === "*" || s.Operations.includes(operation);
  const colOk = !collection || s.Collections === "*" || s.Collections.includes(collection);
  return opOk && colOk;
}

export function describeError(e) {
  if (!(e instanceof ApiError)) return `Something went wrong: ${e.message || e}`;
  if (e.code === "ExpiredTokenException" || e.code === "SessionEnded") return "Your session has expired: sign in again.";
  if (e.code === "AccessDeniedException") return `This key may not do that: ${e.message}`;
  return `${e.code}: ${e.message}`;
}
