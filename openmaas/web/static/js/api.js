// The browser's API key and calls to this server with it.
// The key lives in localStorage and goes only into same-origin requests' Authorization header.

const STORAGE_KEY = "openmaas.apiKey";
const listeners = new Set();
let identity; // undefined: not checked yet; null: no usable key; else /api/console/me's answer

export class ApiError extends Error {
  constructor(message, status, code = null, param = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

export function storedKey() {
  return localStorage.getItem(STORAGE_KEY);
}

export function authHeaders(extra = {}) {
  const key = storedKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
}

// The message of an error body in any of the server's dialects (OpenAI, portal envelope, generate).
export function errorMessage(body, fallback) {
  if (body && typeof body === "object") {
    if (body.error && body.error.message) return body.error.message;
    if (typeof body.msg === "string" && body.code !== 200) return body.msg;
    if (typeof body.detail === "string") return body.detail;
  }
  return fallback;
}

export async function apiError(response) {
  const body = await response.json().catch(() => null);
  const error = body && body.error ? body.error : {};
  return new ApiError(
    errorMessage(body, `${response.status} ${response.statusText}`),
    response.status,
    error.code ?? null,
    error.param ?? null,
  );
}

// JSON in, JSON out; throws ApiError with the server's own message.
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = authHeaders(body === undefined ? {} : { "Content-Type": "application/json" });
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await apiError(response);
  if (response.status === 204) return null;
  return response.json();
}

// One look at /api/console/me with the given key (none: no Authorization header), never throwing:
// {identity, failure, unreachable}; failure is the server's refusal (ApiError) or, with unreachable,
// the network's error.
async function check(key) {
  let response;
  try {
    response = await fetch("/api/console/me", { headers: key ? { Authorization: `Bearer ${key}` } : {} });
    if (response.ok) return { identity: await response.json(), failure: null, unreachable: false };
  } catch (error) {
    return { identity: null, failure: error, unreachable: true };
  }
  return { identity: null, failure: await apiError(response), unreachable: false };
}

// The identity shown to listeners comes from the newest check of the key stored now: an older
// check's answer, or one for a key replaced meanwhile, is never shown.
let problem = { error: null, unreachable: false }; // why identity is null, when a check failed
let identityKey = null; // the key `identity` was checked with
let started = 0; // checks started so far (each check's number)
let shown = 0; // the number of the check whose answer listeners have
let checking = null; // the check in flight for refreshIdentity: {key, number, result}

function startCheck(key) {
  started += 1;
  return { key, number: started, result: check(key) };
}

// Shows the check's answer if it is newer than the one shown and for the key stored now.
function show(run, result) {
  if (run.number <= shown || run.key !== storedKey()) return false;
  shown = run.number;
  identity = result.identity;
  identityKey = run.key;
  problem = { error: result.failure, unreachable: result.unreachable };
  notify();
  return true;
}

function notify() {
  for (const listener of listeners) listener(identity, problem);
}

// Calls back with the signed-in identity (or null) now and after every key change, and with
// {error, unreachable}: why there is none (unreachable: the server did not answer at all).
export function onIdentity(listener) {
  listeners.add(listener);
  if (identity !== undefined) listener(identity, problem);
  else refreshIdentity();
}

// Checks the stored key again (again, if it changed during the check); returns the failure or null.
export async function refreshIdentity() {
  for (;;) {
    const key = storedKey();
    if (!checking || checking.key !== key) {
      const run = startCheck(key);
      checking = run;
      run.result.then(() => {
        if (checking === run) checking = null;
      });
    }
    const run = checking;
    const result = await run.result;
    show(run, result);
    // Done once what is shown is at least this new and for the key stored now.
    if (shown >= run.number && identityKey === storedKey()) return problem.error;
  }
}

// Tests the candidate with the server first and stores it only if accepted; returns the refusal
// (ApiError) or the network's error otherwise, the stored key unchanged.
export async function saveKey(candidate) {
  const run = startCheck(candidate);
  const result = await run.result;
  if (result.failure) return result.failure;
  localStorage.setItem(STORAGE_KEY, candidate);
  // A check started after this one has shown an answer already: check the new key once more.
  if (!show(run, result)) await refreshIdentity();
  return null;
}

// Another tab saved or forgot the key: this one checks the key it would now send.
window.addEventListener("storage", (event) => {
  if (event.key === STORAGE_KEY || event.key === null) refreshIdentity();
});

export async function forgetKey() {
  localStorage.removeItem(STORAGE_KEY);
  await refreshIdentity();
}
