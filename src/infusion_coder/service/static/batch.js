// The batch page: code many encounters and work through them as a queue, filtered by readiness and finding.
import { api, el, errorText, isError, restoreKey, uploadBody } from "./common.js";

const $ = (id) => document.getElementById(id);
const state = { items: [] }; // {index, encounter, result}
const ORDER = { error: 0, hold: 1, ready_with_warnings: 2, ready: 3 };

function setStatus(text, bad = false) {
  $("batch-status").textContent = text;
  $("batch-status").classList.toggle("bad", bad);
}

function readinessOf(result) {
  return isError(result) ? "error" : result.readiness;
}

async function encountersFrom(format, file, text) {
  if (format === "json") return null; // sent as is: the server splits JSON Lines and arrays
  const { status, data } = await api(`/v1/import/${encodeURIComponent(format)}`, {
    body: uploadBody(file, text, `pasted.${format}`),
    contentType: null,
  });
  if (status !== 200) throw new Error(errorText(data));
  return data;
}

async function run(event) {
  event.preventDefault();
  const format = $("batch-format").value;
  const file = $("batch-file").files[0] || null;
  const text = file ? await file.text() : $("batch-source").value;
  if (!text.trim()) {
    setStatus("Paste encounters or choose a file first.", true);
    return;
  }
  setStatus("Coding…");
  try {
    const imported = await encountersFrom(format, file, text);
    const trimmed = text.trim();
    const lines = trimmed.startsWith("[") ? null : trimmed.split(/\r?\n/).filter((l) => l.trim());
    const body = imported ? JSON.stringify(imported) : trimmed;
    const contentType = imported || !lines || lines.length === 1 ? "application/json" : "application/x-ndjson";
    const { status, data } = await api("/v1/code", { body, contentType, query: { policy: $("batch-policy").value } });
    if (status !== 200 && status !== 422) throw new Error(errorText(data));
    const results = Array.isArray(data) ? data : [data];
    let sources = imported;
    if (!sources) {
      try {
        const parsed = JSON.parse(trimmed);
        sources = Array.isArray(parsed) ? parsed : [parsed];
      } catch (err) {
        sources = lines.map((line) => { try { return JSON.parse(line); } catch (e) { return null; } });
      }
    }
    state.items = results.map((result, index) => ({ index, result, encounter: sources[index] ?? null }));
    fillFindingFilter();
    show();
    setStatus(`Coded ${results.length} encounters.`);
  } catch (err) {
    setStatus(`Error: ${err.message}`, true);
  }
}

function fillFindingFilter() {
  const counts = {};
  for (const { result } of state.items) {
    if (isError(result)) continue;
    for (const id of new Set(result.findings.map((f) => f.id))) counts[id] = (counts[id] || 0) + 1;
  }
  const select = $("filter-finding");
  const keep = select.value;
  select.replaceChildren(el("option", { value: "" }, "any"),
    ...Object.keys(counts).sort().map((id) => el("option", { value: id }, `${id} (${counts[id]})`)));
  if (keep in counts) select.value = keep;
}

function show() {
  $("queue-section").hidden = false;
  const readiness = $("filter-readiness").value;
  const finding = $("filter-finding").value;
  const idText = $("filter-id").value.trim().toLowerCase();
  const tally = { error: 0, hold: 0, ready_with_warnings: 0, ready: 0 };
  for (const { result } of state.items) tally[readinessOf(result)] += 1;
  $("counts").textContent = `${state.items.length} encounters: ${tally.hold} hold, ${tally.ready_with_warnings} ready with warnings, ${tally.ready} ready, ${tally.error} unreadable.`;
  const shown = state.items
    .filter(({ result }) => !readiness || readinessOf(result) === readiness)
    .filter(({ result }) => !finding || (!isError(result) && result.findings.some((f) => f.id === finding)))
    .filter(({ result }) => !idText || String(result.encounter_id || "").toLowerCase().includes(idText))
    .sort((a, b) => ORDER[readinessOf(a.result)] - ORDER[readinessOf(b.result)] || a.index - b.index);
  $("queue").querySelector("tbody").replaceChildren(...shown.map(row));
  $("queue-caption").textContent = `Results, those that need work first: ${shown.length} of ${state.items.length} shown`;
}

function row({ index, result, encounter }) {
  const readiness = readinessOf(result);
  const label = { error: "unreadable", hold: "hold", ready_with_warnings: "ready with warnings", ready: "ready" }[readiness];
  const findings = isError(result)
    ? el("td", {}, errorText(result))
    : el("td", {}, result.findings.filter((f) => f.severity !== "info").map((f) => el("div", {},
      el("span", { class: `sev ${f.severity}` }, f.severity), ` ${f.id}`)),
    result.findings.some((f) => f.severity === "info")
      ? el("div", { class: "hint" }, `${result.findings.filter((f) => f.severity === "info").length} info`) : "");
  const open = encounter && !isError(encounter)
    ? el("button", { type: "button", class: "secondary", "aria-label": `Open ${result.encounter_id || index + 1} in the coder`,
      onclick: () => {
        sessionStorage.setItem("infusion-coder:open", JSON.stringify(encounter));
        window.location.assign("/?open=batch");
      } }, "Open")
    : "";
  return el("tr", { "data-readiness": readiness, "data-encounter": result.encounter_id || "" },
    el("td", {}, index + 1),
    el("td", { class: "code" }, result.encounter_id || "(no id)"),
    el("td", {}, el("span", { class: `badge ${readiness}` }, label)),
    el("td", {}, isError(result) ? "" : result.lines.map((l) => `${l.code}${l.modifiers.length ? `-${l.modifiers.join("-")}` : ""} x${l.units}`).join(", ")),
    findings,
    el("td", {}, open));
}

async function loadExamples() {
  const { status, data } = await api("/v1/examples");
  if (status !== 200) {
    setStatus(`Error: ${errorText(data)}`, true);
    return;
  }
  const lines = [];
  for (const { name } of data.filter((example) => example.format === "json")) {
    const answer = await api(`/v1/examples/${encodeURIComponent(name)}`);
    if (answer.status === 200) lines.push(JSON.stringify(answer.data));
  }
  $("batch-format").value = "json";
  $("batch-source").value = lines.join("\n");
  setStatus(`Loaded ${lines.length} examples. Press Code all.`);
}

restoreKey();
$("batch-form").addEventListener("submit", run);
$("load-examples").addEventListener("click", loadExamples);
for (const id of ["filter-readiness", "filter-finding"]) $(id).addEventListener("change", show);
$("filter-id").addEventListener("input", show);
