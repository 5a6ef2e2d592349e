// Shared by the coder page and the batch page: calls to the /v1 API and small DOM helpers.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function authHeaders() {
  const field = document.getElementById("api-key");
  if (field && field.value) sessionStorage.setItem("infusion-coder:key", field.value);
  const key = (field && field.value) || sessionStorage.getItem("infusion-coder:key");
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export function restoreKey() {
  const field = document.getElementById("api-key");
  const key = sessionStorage.getItem("infusion-coder:key");
  if (field && key) field.value = key;
}

// POST or GET to the API; resolves to {status, data} where data is parsed JSON (an error object on failure).
export async function api(path, { body = null, contentType = "application/json", query = {} } = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) params.set(key, value);
  const url = params.toString() ? `${path}?${params}` : path;
  const init = { method: body === null ? "GET" : "POST", headers: authHeaders() };
  if (body !== null) {
    init.body = body;
    if (contentType) init.headers["Content-Type"] = contentType;
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    return { status: 0, data: { encounter_id: null, error: { message: "the server cannot be reached", field: null } } };
  }
  let data;
  try {
    data = await response.json();
  } catch (err) {
    data = { encounter_id: null, error: { message: `unexpected answer (HTTP ${response.status})`, field: null } };
  }
  return { status: response.status, data };
}

export function isError(result) {
  return result && typeof result === "object" && "error" in result && !("lines" in result);
}

// An uploaded file or pasted text, as a multipart body for /v1/import/{format}.
export function uploadBody(file, text, name, mapping = null) {
  const form = new FormData();
  form.append("file", file || new Blob([text], { type: "application/octet-stream" }), file ? file.name : name);
  if (mapping) form.append("mapping", mapping.blob, mapping.name);
  return form;
}

// Contract JSON in the page: an object, an array, or JSON Lines -> list of values (null where unreadable).
export function parseEncounters(text) {
  const trimmed = text.trim();
  if (!trimmed) return { values: [], problem: "paste an encounter or choose a file first" };
  try {
    const value = JSON.parse(trimmed);
    return { values: Array.isArray(value) ? value : [value], problem: null };
  } catch (err) {
    const values = [];
    for (const line of trimmed.split(/\r?\n/)) {
      if (!line.trim()) continue;
      try {
        values.push(JSON.parse(line));
      } catch (lineErr) {
        const sniffed = sniffFormat(trimmed);
        const looks = sniffed ? `: this looks like ${sniffed.what}` : "";
        return { values: [], problem: `not valid JSON or JSON Lines${looks || `: ${err.message}`}` };
      }
    }
    return { values, problem: null };
  }
}

export function errorText(data) {
  const error = (data && data.error) || {};
  return error.field ? `${error.message} (field: ${error.field})` : String(error.message || "request failed");
}

// What a pasted text looks like, when it is plainly not JSON: {format, what}, or null (JSON or unknown).
export function sniffFormat(text) {
  const trimmed = String(text || "").replace(/^\uFEFF/, "").trim();
  if (!trimmed || trimmed[0] === "{" || trimmed[0] === "[") return null;
  if (/^MSH\|/.test(trimmed) || /[\r\n]MSH\|/.test(trimmed.slice(0, 2000))) return { format: "hl7", what: "an HL7 v2 message" };
  if (/^ISA[*|^~]/.test(trimmed)) return { format: null, what: "an X12 837 claim (its billed lines go under Audit billed lines, beside a coded encounter)" };
  if (trimmed[0] === "<") return { format: null, what: "XML (the FHIR importer reads FHIR JSON)" };
  const lines = trimmed.split(/\r?\n/, 3);
  const sep = [",", ";", "\t", "|"].find((s) => lines[0].split(s).length >= 3);
  if (sep && (lines.length === 1 || lines[1].split(sep).length >= 2)) return { format: "mar", what: "CSV" };
  return null;
}
