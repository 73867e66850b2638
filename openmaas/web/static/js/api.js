// The browser's API key and calls to this server with it.
// The key lives in localStorage and goes only into same-origin requests' Authorization header.

const STORAGE_KEY = "openmaas.apiKey";
const listeners = new Set();
let identity; // undefined: not checked yet; null: no usable key; else /api/console/me's answer
let checking = null;

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

async function check() {
  try {
    identity = await api("/api/console/me");
  } catch (error) {
    identity = null;
    if (!(error instanceof ApiError)) throw error;
    return error;
  }
  return null;
}

function notify() {
  for (const listener of listeners) listener(identity);
}

// Calls back with the signed-in identity (or null) now and after every key change.
export function onIdentity(listener) {
  listeners.add(listener);
  if (identity !== undefined) listener(identity);
  else refreshIdentity();
}

export async function refreshIdentity() {
  if (!checking) {
    checking = check().finally(() => {
      checking = null;
    });
    const failure = await checking;
    notify();
    return failure;
  }
  return checking;
}

// Stores the key if the server accepts it; returns the server's refusal otherwise.
export async function saveKey(key) {
  const previous = storedKey();
  localStorage.setItem(STORAGE_KEY, key);
  const failure = await refreshIdentity();
  if (failure) {
    if (previous) localStorage.setItem(STORAGE_KEY, previous);
    else localStorage.removeItem(STORAGE_KEY);
    await refreshIdentity();
  }
  return failure;
}

export async function forgetKey() {
  localStorage.removeItem(STORAGE_KEY);
  await refreshIdentity();
}
