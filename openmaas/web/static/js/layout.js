// Every page: the "Add API Key" dialog, the key shown in the header, copy buttons, and
// which parts of the page a key unlocks (data-needs-key, data-admin-only).

import { ApiError, forgetKey, onIdentity, refreshIdentity, saveKey, storedKey } from "./api.js";

const dialog = document.getElementById("key-dialog");
const form = document.getElementById("key-form");
const input = document.getElementById("key-input");
const errorText = document.getElementById("key-error");
const label = document.getElementById("key-label");
const addButton = document.getElementById("add-key-button");
const forgetButton = document.getElementById("forget-key-button");
const saveButton = document.getElementById("key-save");
const retryButton = document.getElementById("retry-button");

function openKeyDialog() {
  errorText.hidden = true;
  input.value = "";
  dialog.showModal();
  input.focus();
}

addButton.addEventListener("click", openKeyDialog);
for (const button of document.querySelectorAll("[data-open-key-dialog]")) {
  button.addEventListener("click", openKeyDialog);
}
document.getElementById("key-cancel").addEventListener("click", () => dialog.close());
forgetButton.addEventListener("click", () => forgetKey());

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = input.value.trim();
  // One check at a time: a second submit waits for the first's answer.
  if (!key || saveButton.disabled) return;
  saveButton.disabled = true;
  errorText.hidden = true;
  let failure;
  try {
    failure = await saveKey(key);
  } finally {
    saveButton.disabled = false;
  }
  if (failure) {
    errorText.textContent =
      failure instanceof ApiError
        ? `This key was refused: ${failure.message}`
        : `Could not reach the server to check the key: ${failure.message}`;
    errorText.hidden = false;
    input.focus();
    return;
  }
  dialog.close();
});

retryButton.addEventListener("click", async () => {
  retryButton.disabled = true;
  try {
    await refreshIdentity();
  } finally {
    retryButton.disabled = false;
  }
});

onIdentity((identity, { error, unreachable }) => {
  const signedIn = identity !== null;
  if (identity && identity.auth_disabled) label.textContent = "Keys are off on this server";
  else if (identity) label.textContent = `Key ${identity.key_prefix}…${identity.is_admin ? " (admin)" : ""}`;
  else if (unreachable) label.textContent = "Server unreachable";
  else label.textContent = storedKey() ? "Key refused" : "No API key";
  addButton.textContent = identity ? "Change key" : "Add API Key";
  forgetButton.hidden = !storedKey();
  document.getElementById("signin-notice").hidden = signedIn;
  // Unreachable: no key would help yet; say so and offer to check again.
  document.getElementById("signin-add").hidden = Boolean(unreachable);
  document.getElementById("signin-unreachable").hidden = !unreachable;
  document.getElementById("unreachable-message").textContent = unreachable
    ? `Could not reach the server (${error ? error.message : "no answer"}). Check the connection and retry.`
    : "";
  for (const section of document.querySelectorAll("[data-needs-key]")) section.hidden = !signedIn;
  for (const item of document.querySelectorAll("[data-admin-only]")) item.hidden = !(identity && identity.is_admin);
});

// Copy buttons: data-copy-target names the element whose text is copied.
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain HTTP on a LAN address has no Clipboard API: a selected textarea and execCommand still work.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  try {
    await copyText(source.textContent);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => {
    button.textContent = "Copy";
  }, 1500);
});
