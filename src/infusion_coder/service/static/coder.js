// The coder's page: read an encounter (contract JSON or an importer format), code it, and show the
// timeline, the lines, the findings and what a different policy profile changes.
import { api, el, errorText, isError, parseEncounters, restoreKey, uploadBody } from "./common.js";
import { clock, drawTimeline, wallMinutes } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const state = { encounters: [], encounter: null, result: null, timeline: null, exampleMapping: null, exampleName: null };

function setStatus(text, bad = false) {
  $("status").textContent = text;
  $("status").classList.toggle("bad", bad);
}

async function readInput() {
  const format = $("format").value;
  const file = $("file").files[0] || null;
  if (format === "json") {
    const text = file ? await file.text() : $("source").value;
    const { values, problem } = parseEncounters(text);
    if (problem) throw new Error(problem);
    return values;
  }
  if (!file && !$("source").value.trim()) throw new Error("paste a record or choose a file first");
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
    return;
  }
  setStatus("Coding…");
  const { status, data } = await api("/v1/code", {
    body: JSON.stringify(encounter),
    query: { policy: $("policy").value, timezone: $("timezone").value.trim() },
  });
  if (status !== 200) {
    showError(data);
    return;
  }
  state.encounter = encounter;
  render(encounter, data, previous);
  setStatus(`Coded ${data.encounter_id}: ${data.lines.length} lines, ${data.findings.length} findings.`);
}

function showError(data) {
  $("result").hidden = false;
  $("encounter-id").textContent = (data && data.encounter_id) || "(unreadable)";
  $("readiness").textContent = "error";
  $("readiness").className = "badge error";
  $("error-box").hidden = false;
  $("error-box").textContent = `This encounter cannot be coded: ${errorText(data)}`;
  for (const id of ["lines", "drug-lines", "admins"]) $(id).querySelector("tbody").replaceChildren();
  $("findings").replaceChildren();
  $("timeline").replaceChildren();
  $("changes-section").hidden = true;
  state.result = null;
  setStatus(`Error: ${errorText(data)}`, true);
}

const READINESS = { ready: "ready", ready_with_warnings: "ready with warnings", hold: "hold" };

function render(encounter, result, previous) {
  state.result = result;
  $("result").hidden = false;
  $("error-box").hidden = true;
  $("encounter-id").textContent = result.encounter_id;
  $("readiness").textContent = READINESS[result.readiness] || result.readiness;
  $("readiness").className = `badge ${result.readiness}`;
  $("result-policy").textContent = result.policy;
  $("result-reference").textContent = result.reference_version;

  const timeline = drawTimeline($("timeline"), encounter, result);
  state.timeline = timeline;
  $("timeline-summary").textContent = timeline.summary || "";

  const zone = encounter.timezone || null;
  const time = (text) => (text ? `${String(text).slice(0, 10)} ${clock(wallMinutes(text, zone) ?? 0)}` : "");
  $("admins").querySelector("tbody").replaceChildren(
    ...(encounter.administrations || []).map((a) =>
      el("tr", {}, el("td", { class: "code" }, a.id), el("td", {}, a.substance || ""),
        el("td", {}, [a.route, a.method].filter(Boolean).join(" / ")), el("td", {}, a.access || ""),
        el("td", {}, a.start ? time(a.start) : ""), el("td", {}, a.end ? time(a.end) : "")),
    ),
  );

  const rows = result.lines.map((line, index) => {
    const row = el("tr", { class: "hoverable", tabindex: 0, "data-line": index, "data-code": line.code,
      "aria-describedby": "timeline-hint" },
      el("td", { class: "code" }, line.code), el("td", {}, line.units), el("td", {}, line.modifiers.join(", ")),
      el("td", {}, line.date || ""), el("td", {}, line.minutes ?? ""), el("td", {}, line.administrations.join(", ")),
      el("td", {}, line.rule), el("td", {}, line.explanation));
    const on = () => { activate(row); timeline.highlightLine(line); };
    const off = () => { activate(null); timeline.clear(); };
    row.addEventListener("mouseenter", on);
    row.addEventListener("focus", on);
    row.addEventListener("mouseleave", off);
    row.addEventListener("blur", off);
    return row;
  });
  $("lines").querySelector("tbody").replaceChildren(...rows);
  if (!rows.length) $("lines").querySelector("tbody").append(el("tr", {}, el("td", { colspan: 8 }, "No administration line to bill.")));

  const drugs = result.drug_lines || [];
  $("drug-lines-wrap").hidden = !drugs.length;
  $("drug-lines").querySelector("tbody").replaceChildren(
    ...drugs.map((d) => el("tr", {}, el("td", { class: "code" }, d.hcpcs), el("td", {}, d.units),
      el("td", {}, d.modifiers.join(", ")), el("td", {}, d.date || ""), el("td", {}, d.ndc || ""),
      el("td", {}, d.administrations.join(", ")), el("td", {}, d.explanation))),
  );

  const findings = $("findings");
  findings.replaceChildren();
  if (!result.findings.length) findings.append(el("p", {}, "No findings."));
  for (const [severity, title] of [["error", "Errors"], ["warning", "Warnings"], ["info", "Information"]]) {
    const group = result.findings.filter((f) => f.severity === severity);
    if (!group.length) continue;
    const headingId = `findings-${severity}`;
    findings.append(el("h4", { id: headingId }, `${title} (${group.length})`));
    findings.append(el("ul", { class: "findings", "aria-labelledby": headingId }, group.map((f) => {
      const item = el("li", { class: `finding ${severity}`, tabindex: 0, "data-finding": f.id },
        el("span", { class: `sev ${severity}` }, severity), " ", el("span", { class: "fid" }, f.id),
        f.rule ? ` (${f.rule})` : "", ": ", f.message,
        f.denial_risk ? el("span", { class: "hint" }, ` Denial risk ${f.denial_risk}${f.remark ? `, ${f.remark}` : ""}.`) : "",
        f.administrations.length ? el("span", { class: "hint" }, ` Administrations: ${f.administrations.join(", ")}.`) : "");
      const on = () => { activate(item); timeline.highlightAdmins(f.administrations); };
      const off = () => { activate(null); timeline.clear(); };
      item.addEventListener("mouseenter", on);
      item.addEventListener("focus", on);
      item.addEventListener("mouseleave", off);
      item.addEventListener("blur", off);
      return item;
    })));
  }

  // an administration on the timeline points back to the lines that carry it
  $("timeline").querySelectorAll(".admin").forEach((node) => {
    const id = node.getAttribute("data-admin");
    const on = () => {
      timeline.highlightAdmins([id]);
      rows.forEach((row, i) => row.classList.toggle("active", result.lines[i].administrations.includes(id)));
    };
    const off = () => { timeline.clear(); rows.forEach((row) => row.classList.remove("active")); };
    node.addEventListener("mouseenter", on);
    node.addEventListener("focus", on);
    node.addEventListener("mouseleave", off);
    node.addEventListener("blur", off);
  });

  renderChanges(previous, result);
}

function activate(node) {
  document.querySelectorAll(".active").forEach((n) => n.classList.remove("active"));
  if (node) node.classList.add("active");
}

const sorted = (list) => [...list].sort().join(",");
const lineKey = (l) => [l.code, l.date, sorted(l.modifiers), sorted(l.administrations), l.units].join("|");
const pairKey = (l) => [l.code, l.date, sorted(l.administrations)].join("|");

// Lines added, removed and changed (same code, date and administrations; other units or modifiers).
export function diffResults(before, after) {
  const left = [...before.lines];
  const right = [];
  for (const line of after.lines) {
    const same = left.findIndex((l) => lineKey(l) === lineKey(line));
    if (same >= 0) left.splice(same, 1);
    else right.push(line);
  }
  const changes = [];
  for (const line of right) {
    const pair = left.findIndex((l) => pairKey(l) === pairKey(line));
    if (pair >= 0) changes.push({ kind: "changed", before: left.splice(pair, 1)[0], after: line });
    else changes.push({ kind: "added", after: line });
  }
  for (const line of left) changes.push({ kind: "removed", before: line });
  const fKey = (f) => `${f.id}|${sorted(f.administrations)}`;
  const beforeF = new Set(before.findings.map(fKey));
  const afterF = new Set(after.findings.map(fKey));
  return {
    lines: changes,
    findingsAdded: after.findings.filter((f) => !beforeF.has(fKey(f))),
    findingsRemoved: before.findings.filter((f) => !afterF.has(fKey(f))),
    readiness: before.readiness === after.readiness ? null : [before.readiness, after.readiness],
  };
}

function renderChanges(previous, result) {
  const section = $("changes-section");
  if (!previous || previous.encounter_id !== result.encounter_id || previous.policy === result.policy) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  $("changes-from").textContent = previous.policy;
  $("changes-to").textContent = result.policy;
  const diff = diffResults(previous, result);
  const box = $("changes");
  box.replaceChildren();
  if (!diff.lines.length && !diff.findingsAdded.length && !diff.findingsRemoved.length && !diff.readiness) {
    box.append(el("p", { class: "no-change" }, `No difference: the lines and findings are the same under ${previous.policy} and ${result.policy}.`));
    return;
  }
  if (diff.readiness) box.append(el("p", {}, `Readiness: ${READINESS[diff.readiness[0]]} → ${READINESS[diff.readiness[1]]}.`));
  if (diff.lines.length) {
    const fmt = (l, field) => (l ? (field === "modifiers" ? l.modifiers.join(", ") : l[field]) : "");
    const both = (c, field) => (c.kind === "changed" && String(fmt(c.before, field)) !== String(fmt(c.after, field))
      ? `${fmt(c.before, field)} → ${fmt(c.after, field)}` : fmt(c.after || c.before, field));
    box.append(el("table", { class: "changes-table" },
      el("caption", {}, "Lines that differ"),
      el("thead", {}, el("tr", {}, ...["change", "code", "units", "modifiers", "date", "administrations"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, diff.lines.map((c) => el("tr", { class: `change ${c.kind}`, "data-change": c.kind },
        el("td", { class: c.kind }, c.kind), el("td", { class: "code" }, (c.after || c.before).code),
        el("td", {}, both(c, "units")), el("td", {}, both(c, "modifiers")), el("td", {}, (c.after || c.before).date || ""),
        el("td", {}, (c.after || c.before).administrations.join(", ")))))));
  }
  if (diff.findingsAdded.length || diff.findingsRemoved.length) {
    box.append(el("ul", { class: "finding-changes" },
      diff.findingsAdded.map((f) => el("li", { class: "added" }, `finding added: ${f.id} (${f.severity})`)),
      diff.findingsRemoved.map((f) => el("li", { class: "removed" }, `finding removed: ${f.id} (${f.severity})`))));
  }
}

async function submit(event) {
  if (event) event.preventDefault();
  $("changes-section").hidden = true;
  try {
    setStatus("Reading…");
    chooseFrom(await readInput());
    await codeSelected();
  } catch (err) {
    setStatus(`Error: ${err.message}`, true);
  }
}

function start() {
  restoreKey();
  $("input-form").addEventListener("submit", submit);
  $("open-example").addEventListener("click", () => {
    const name = $("example-select").value;
    if (name) window.location.assign(`/?example=${encodeURIComponent(name)}`);
  });
  $("encounter-select").addEventListener("change", () => codeSelected());
  const showMapping = () => { $("mapping-field").hidden = $("format").value !== "mar"; };
  $("format").addEventListener("change", showMapping);
  $("policy").addEventListener("change", () => {
    if (state.encounter && state.result) codeSelected(state.result);
  });
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (file) setStatus(`File chosen: ${file.name}. Press Code.`);
  });
  const params = new URLSearchParams(window.location.search);
  if (params.get("open") === "batch") {
    const held = sessionStorage.getItem("infusion-coder:open");
    if (held) $("source").value = held;
    submit();
  } else if (document.getElementById("example-data")) {
    const opened = JSON.parse(document.getElementById("example-data").textContent);
    if ([...$("format").options].some((option) => option.value === opened.format)) $("format").value = opened.format;
    state.exampleMapping = opened.mapping;
    if (opened.format !== "json") state.exampleName = opened.name;
    showMapping();
    submit();
  }
}

start();
