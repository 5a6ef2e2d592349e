// The coder's page: read an encounter (contract JSON or an importer format), code it, and show the result
// (result.js). Input that is in another format than the one chosen is recognised and offered in its own.
import { api, el, errorText, isError, parseEncounters, restoreKey, sniffFormat, uploadBody } from "./common.js";
import { currentResult, hideResult, showError, showResult, startAudit } from "./result.js";

const $ = (id) => document.getElementById(id);
const state = { encounters: [], exampleMapping: null, exampleName: null };
const FORMAT_NAMES = { json: "Contract JSON", fhir: "FHIR bundle / NDJSON", hl7: "HL7 v2 message", mar: "MAR CSV" };

function setStatus(text, bad = false) {
  $("status").textContent = text;
  $("status").classList.toggle("bad", bad);
}

// An input that is not what the format selector says: say what it looks like and offer to read it so.
class WrongFormat extends Error {
  constructor(message, format) {
    super(message);
    this.format = format;
  }
}

function offerFormat(err) {
  const box = $("input-hint");
  const available = err.format && [...$("format").options].some((o) => o.value === err.format);
  const button = !err.format ? "" : available
    ? el("button", { type: "button", id: "read-as", class: "secondary", onclick: () => {
      $("format").value = err.format;
      $("format").dispatchEvent(new Event("change"));
      submit();
    } }, `Read it as ${FORMAT_NAMES[err.format] || err.format}`)
    : el("span", { class: "hint" }, ` (the ${err.format} importer is not installed on this server)`);
  box.replaceChildren(el("span", {}, err.message, " "), button);
  box.hidden = false;
}

async function readInput() {
  const format = $("format").value;
  const file = $("file").files[0] || null;
  const text = file ? await file.text() : $("source").value;
  if (format === "json") {
    const sniffed = sniffFormat(text);
    if (sniffed) {
      const choose = sniffed.format ? `: choose ${FORMAT_NAMES[sniffed.format]}` : "";
      throw new WrongFormat(`This looks like ${sniffed.what}, not contract JSON${choose}.`, sniffed.format);
    }
    const { values, problem } = parseEncounters(text);
    if (problem) throw new Error(problem);
    const fhir = values.find((v) => v && typeof v === "object" && !Array.isArray(v) && "resourceType" in v);
    if (fhir) {
      throw new WrongFormat(`This is a FHIR ${String(fhir.resourceType).slice(0, 40)}, not a contract encounter: choose ${FORMAT_NAMES.fhir}.`, "fhir");
    }
    return values;
  }
  if (!text.trim()) throw new Error("paste a record or choose a file first");
  const { status, data } = await api(`/v1/import/${encodeURIComponent(format)}`, {
    body: uploadBody(file, $("source").value, state.exampleName || `pasted.${format}`, await mappingFor(format)),
    query: { timezone: $("timezone").value.trim() },
    contentType: null,
  });
  if (status !== 200) throw new Error(errorText(data));
  if (!data.length) throw new Error("the upload holds no encounter");
  return data;
}

// the site mapping to send with a MAR upload: the one chosen, else the one a bundled example needs
async function mappingFor(format) {
  if (format !== "mar") return null;
  const chosen = $("mapping").files[0];
  if (chosen) return { blob: chosen, name: chosen.name };
  if (!state.exampleMapping) return null;
  const response = await fetch(`/v1/examples/${encodeURIComponent(state.exampleMapping)}`);
  if (!response.ok) return null;
  return { blob: new Blob([await response.text()]), name: state.exampleMapping };
}

function chooseFrom(encounters) {
  state.encounters = encounters;
  const select = $("encounter-select");
  select.replaceChildren(
    ...encounters.map((value, index) =>
      el("option", { value: index }, isError(value)
        ? `${index + 1}: unreadable (${(value.error && value.error.message) || "error"})`.slice(0, 90)
        : `${index + 1}: ${(value && value.encounter_id) || "(no id)"}`),
    ),
  );
  $("encounter-choice").hidden = encounters.length < 2;
}

async function codeSelected(previous = null) {
  const encounter = state.encounters[Number($("encounter-select").value || 0)];
  if (encounter === undefined) return;
  if (isError(encounter)) {
    showError(encounter);
    setStatus(`Error: ${errorText(encounter)}`, true);
    return;
  }
  setStatus("Coding…");
  const { status, data } = await api("/v1/code", {
    body: JSON.stringify(encounter),
    query: { policy: $("policy").value, timezone: $("timezone").value.trim() },
  });
  if (status !== 200) {
    showError(data);
    setStatus(`Error: ${errorText(data)}`, true);
    return;
  }
  showResult(encounter, data, previous);
  setStatus(`Coded ${data.encounter_id}: ${data.lines.length} lines, ${data.findings.length} findings.`);
}

async function submit(event) {
  if (event) event.preventDefault();
  $("input-hint").hidden = true;
  hideResult();
  try {
    setStatus("Reading…");
    chooseFrom(await readInput());
    await codeSelected();
  } catch (err) {
    if (err instanceof WrongFormat) offerFormat(err);
    setStatus(`Error: ${err.message}`, true);
  }
}

function start() {
  restoreKey();
  startAudit();
  $("input-form").addEventListener("submit", submit);
  $("open-example").addEventListener("click", () => {
    const name = $("example-select").value;
    if (name) window.location.assign(`/?example=${encodeURIComponent(name)}`);
  });
  $("encounter-select").addEventListener("change", () => codeSelected());
  const showMapping = () => { $("mapping-field").hidden = $("format").value !== "mar"; };
  $("format").addEventListener("change", showMapping);
  $("policy").addEventListener("change", () => {
    const result = currentResult();
    if (result) codeSelected(result);
  });
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (file) setStatus(`File chosen: ${file.name}. Press Code.`);
  });
  if (document.getElementById("example-data")) {
    const opened = JSON.parse(document.getElementById("example-data").textContent);
    if ([...$("format").options].some((option) => option.value === opened.format)) $("format").value = opened.format;
    state.exampleMapping = opened.mapping;
    if (opened.format !== "json") state.exampleName = opened.name;
    showMapping();
    submit();
  }
}

start();
