// The result view, shared by the coder's page and a queue's encounter page: the timeline (by day for a
// long stay), the lines aggregated by code, modifiers and date, the findings grouped by id, what a policy
// change changes, and the audit of billed lines against the record.
import { api, el, errorText, isError, uploadBody } from "./common.js";
import { clock, dayLabel, drawTimeline, timelineDays, wallMinutes } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const READINESS = { ready: "ready", ready_with_warnings: "ready with warnings", hold: "hold", error: "error" };
const SEVERITY = { error: 0, warning: 1, info: 2 };
const view = { encounter: null, result: null, timeline: null, day: null, rows: [], audit: null, flagged: [] };

export function currentResult() {
  return view.result;
}

function activate(node) {
  document.querySelectorAll(".active").forEach((n) => n.classList.remove("active"));
  if (node) node.classList.add("active");
}

// hover and keyboard focus both highlight; leaving clears
function hoverable(node, on) {
  const off = () => { activate(null); if (view.timeline) view.timeline.clear(); };
  const go = () => { activate(node); on(); };
  node.addEventListener("mouseenter", go);
  node.addEventListener("focus", go);
  node.addEventListener("mouseleave", off);
  node.addEventListener("blur", off);
}

const mods = (list) => (list || []).join(", ");

// Lines by code, modifiers and date, in the engine's order of first appearance.
export function groupLines(lines) {
  const groups = new Map();
  lines.forEach((line, index) => {
    const key = [line.code || line.hcpcs, [...(line.modifiers || [])].join("-"), line.date || ""].join("|");
    if (!groups.has(key)) groups.set(key, { key, first: line, lines: [], indexes: [], units: 0 });
    const group = groups.get(key);
    group.lines.push(line);
    group.indexes.push(index);
    group.units += line.units || 0;
  });
  return [...groups.values()];
}

// Findings by id: errors first, then the largest groups.
export function groupFindings(findings) {
  const groups = new Map();
  for (const f of findings) {
    if (!groups.has(f.id)) groups.set(f.id, { id: f.id, severity: f.severity, rule: f.rule, items: [] });
    const group = groups.get(f.id);
    group.items.push(f);
    if (SEVERITY[f.severity] < SEVERITY[group.severity]) group.severity = f.severity;
  }
  return [...groups.values()].sort((a, b) => SEVERITY[a.severity] - SEVERITY[b.severity] || b.items.length - a.items.length || a.id.localeCompare(b.id));
}

function uniq(list) {
  return [...new Set(list)];
}

function adminNames(ids) {
  const byId = Object.fromEntries((view.encounter.administrations || []).map((a) => [a.id, a]));
  return ids.map((id) => (byId[id] && byId[id].substance ? `${id} (${byId[id].substance})` : id)).join(", ");
}

function expander(label, controls, count) {
  const button = el("button", { type: "button", class: "expander", "aria-expanded": "false", "aria-controls": controls, "aria-label": `${label}: show the ${count} lines` }, `+ ${count}`);
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    button.textContent = `${open ? "−" : "+"} ${count}`;
    document.querySelectorAll(`[data-group-of="${controls}"]`).forEach((row) => { row.hidden = !open; });
  });
  return button;
}

// a row's explanation shows two lines; a click or Enter on the row shows it whole
function unclamps(row) {
  row.setAttribute("aria-expanded", "false");
  const toggle = () => row.setAttribute("aria-expanded", String(row.getAttribute("aria-expanded") !== "true"));
  row.addEventListener("click", toggle);
  row.addEventListener("keydown", (event) => { if (event.key === "Enter" && event.target === row) toggle(); });
}

function td(label, ...children) {
  return el("td", { "data-label": label }, ...children);
}

function renderLines(result) {
  const body = $("lines").querySelector("tbody");
  const rows = [];
  const groups = groupLines(result.lines);
  const out = [];
  groups.forEach((group, g) => {
    const id = `line-group-${g}`;
    const many = group.lines.length > 1;
    const admins = uniq(group.lines.flatMap((l) => l.administrations));
    const minutes = many ? "" : (group.first.minutes ?? "");
    const head = el("tr", { class: "hoverable group", tabindex: 0, "data-group": g, "data-code": group.first.code, "aria-describedby": "timeline-hint", ...(many ? {} : { "data-line": group.indexes[0] }) },
      el("td", { class: "code", "data-label": "code" }, group.first.code, many ? " " : "", many ? expander(`${group.first.code} ${group.first.date || ""}`, id, group.lines.length) : ""),
      td("units", group.units), td("modifiers", mods(group.first.modifiers)), td("date", group.first.date || ""),
      td("minutes", minutes), td("administrations", many ? `${admins.length} administrations` : admins.join(", ")),
      td("rule", uniq(group.lines.map((l) => l.rule)).join(", ")),
      el("td", { class: "explanation", "data-label": "explanation" }, el("div", { class: "clamp" }, many ? `${group.lines.length} lines: expand for each one and its explanation.` : group.first.explanation)));
    hoverable(head, () => view.timeline && view.timeline.highlightLines(group.lines));
    unclamps(head);
    out.push(head);
    if (many) {
      group.lines.forEach((line, k) => {
        const row = el("tr", { class: "hoverable detail", tabindex: 0, hidden: true, "data-group-of": id, "data-line": group.indexes[k], "data-code": line.code },
          el("td", { class: "code", "data-label": "code" }, line.code), td("units", line.units), td("modifiers", mods(line.modifiers)),
          td("date", line.date || ""), td("minutes", line.minutes ?? ""), td("administrations", adminNames(line.administrations)),
          td("rule", line.rule), el("td", { class: "explanation", "data-label": "explanation" }, el("div", { class: "clamp" }, line.explanation)));
        hoverable(row, () => view.timeline && view.timeline.highlightLine(line));
        unclamps(row);
        out.push(row);
        rows[group.indexes[k]] = row;
      });
    } else rows[group.indexes[0]] = head;
  });
  body.replaceChildren(...out);
  if (!out.length) body.append(el("tr", {}, el("td", { colspan: 8 }, "No administration line to bill.")));
  const units = {};
  for (const line of result.lines) units[line.code] = (units[line.code] || 0) + line.units;
  $("lines-summary").textContent = result.lines.length
    ? `${result.lines.length} lines in ${groups.length} rows: ${Object.entries(units).map(([c, n]) => `${c} x${n}`).join(", ")}.`
    : "";
  view.rows = rows;

  const drugs = result.drug_lines || [];
  $("drug-lines-wrap").hidden = !drugs.length;
  const drugUnits = {};
  for (const d of drugs) drugUnits[d.hcpcs] = (drugUnits[d.hcpcs] || 0) + d.units;
  $("drug-lines-count").textContent = `${drugs.length}: ${Object.entries(drugUnits).map(([c, n]) => `${c} x${n}`).join(", ")}`;
  $("drug-lines-details").open = drugs.length <= 12;
  $("drug-lines").querySelector("tbody").replaceChildren(
    ...groupLines(drugs).map((group) => el("tr", { "data-drug": group.first.hcpcs },
      el("td", { class: "code", "data-label": "HCPCS" }, group.first.hcpcs), td("units", group.units), td("modifiers", mods(group.first.modifiers)),
      td("date", group.first.date || ""), td("NDC", uniq(group.lines.map((d) => d.ndc).filter(Boolean)).join(", ")),
      td("administrations", uniq(group.lines.flatMap((d) => d.administrations)).join(", ")),
      el("td", { class: "explanation", "data-label": "explanation" }, group.lines.length > 1 ? `${group.lines.length} lines; first: ${group.first.explanation}` : group.first.explanation))),
  );
}

function renderFindings(result) {
  const box = $("findings");
  box.replaceChildren();
  if (!result.findings.length) {
    box.append(el("p", {}, "No findings."));
    return;
  }
  const item = (f) => {
    const node = el("li", { class: `finding ${f.severity}`, tabindex: 0, "data-finding": f.id, "data-severity": f.severity },
      el("span", { class: `sev ${f.severity}` }, f.severity), " ", el("span", { class: "fid" }, f.id),
      f.rule ? ` (${f.rule})` : "", ": ", f.message,
      f.denial_risk ? el("span", { class: "hint" }, ` Denial risk ${f.denial_risk}${f.remark ? `, ${f.remark}` : ""}.`) : "",
      f.administrations.length ? el("span", { class: "hint" }, ` Administrations: ${f.administrations.join(", ")}.`) : "");
    hoverable(node, () => view.timeline && view.timeline.highlightAdmins(f.administrations));
    if (f.message.length > 280) {
      node.classList.add("long");
      node.setAttribute("aria-expanded", "false");
      const toggle = () => node.setAttribute("aria-expanded", String(node.getAttribute("aria-expanded") !== "true"));
      node.addEventListener("click", toggle);
      node.addEventListener("keydown", (event) => { if (event.key === "Enter") toggle(); });
    }
    return node;
  };
  const groups = groupFindings(result.findings);
  // information (what was not coded and why, notes of the import) folds away on a long result
  const infos = groups.filter((g) => g.severity === "info");
  let infoBox = box;
  if (infos.length) {
    const count = infos.reduce((n, g) => n + g.items.length, 0);
    infoBox = el("details", { class: "info-findings", id: "info-findings", open: groups.length <= 8 },
      el("summary", {}, el("span", { class: "sev info" }, "information"), ` ${count} findings in ${infos.length} groups: ${infos.slice(0, 6).map((g) => g.id).join(", ")}${infos.length > 6 ? ", …" : ""}`));
  }
  for (const group of groups) {
    const target = group.severity === "info" ? infoBox : box;
    const n = group.items.length;
    if (n === 1) {
      target.append(el("ul", { class: "findings single", "data-finding-group": group.id, "data-count": 1 }, item(group.items[0])));
      continue;
    }
    const first = group.items[0];
    const summary = el("summary", { class: "finding-summary" },
      el("span", { class: `sev ${group.severity}` }, group.severity), " ", el("span", { class: "fid" }, group.id),
      el("span", { class: "count" }, ` ×${n}`), group.rule ? ` (${group.rule})` : "", ": ",
      el("span", { class: "first-message" }, `${first.message} …`));
    const details = el("details", { class: `finding-group ${group.severity}`, "data-finding-group": group.id, "data-count": n },
      summary, el("ul", { class: "findings" }, group.items.map(item)));
    const ids = uniq(group.items.flatMap((f) => f.administrations));
    hoverable(summary, () => view.timeline && view.timeline.highlightAdmins(ids));
    target.append(details);
  }
  if (infoBox !== box) box.append(infoBox);
}

function timelineWidth() {
  const wrap = $("timeline-wrap");
  return Math.max(360, (wrap && wrap.clientWidth ? wrap.clientWidth : 1000) - 14);
}

function drawDay(day) {
  view.day = day;
  const timeline = drawTimeline($("timeline"), view.encounter, view.result, { view: day === null ? null : { start: day }, width: timelineWidth() });
  view.timeline = timeline;
  $("timeline-summary").textContent = timeline.summary || "";
  document.querySelectorAll("#timeline-days button").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.day === String(day ?? "all")));
  });
  // an administration on the timeline points back to the lines that carry it
  $("timeline").querySelectorAll(".admin").forEach((node) => {
    const ids = (node.getAttribute("data-admins") || "").split(" ");
    const on = () => {
      timeline.highlightAdmins(ids);
      view.result.lines.forEach((line, i) => {
        if (view.rows[i]) view.rows[i].classList.toggle("active", line.administrations.some((a) => ids.includes(a)));
      });
    };
    const off = () => { timeline.clear(); document.querySelectorAll("tr.active").forEach((r) => r.classList.remove("active")); };
    node.addEventListener("mouseenter", on);
    node.addEventListener("focus", on);
    node.addEventListener("mouseleave", off);
    node.addEventListener("blur", off);
  });
  if (view.flagged.length) timeline.flag(view.flagged, "audit-flag");
}

function renderDays() {
  const days = timelineDays(view.encounter, view.result);
  const pager = $("timeline-days");
  if (days.length < 2) {
    pager.hidden = true;
    pager.replaceChildren();
    drawDay(null);
    return;
  }
  pager.hidden = false;
  const button = (day, text, title) => {
    const b = el("button", { type: "button", class: "secondary day", "data-day": day === null ? "all" : day, "aria-pressed": "false", title }, text);
    b.addEventListener("click", () => drawDay(day));
    return b;
  };
  pager.replaceChildren(
    button(null, `Whole stay (${days.length} days)`, "every day, one column each"),
    ...days.map((d) => button(d.start, `${dayLabel(d.start)} (${d.items})`, `${dayLabel(d.start, "long")}: ${d.items} administrations`)),
  );
  drawDay(null);
}

let resizeQueued = false;
window.addEventListener("resize", () => {
  if (resizeQueued || !view.result) return;
  resizeQueued = true;
  requestAnimationFrame(() => { resizeQueued = false; if (view.result) drawDay(view.day); });
});

export function showResult(encounter, result, previous = null) {
  view.encounter = encounter;
  view.result = result;
  view.flagged = [];
  $("result").hidden = false;
  $("error-box").hidden = true;
  $("encounter-id").textContent = result.encounter_id;
  $("readiness").textContent = READINESS[result.readiness] || result.readiness;
  $("readiness").className = `badge ${result.readiness}`;
  $("result-policy").textContent = result.policy;
  $("result-reference").textContent = result.reference_version;
  const counts = { error: 0, warning: 0, info: 0 };
  for (const f of result.findings) counts[f.severity] += 1;
  $("result-counts").textContent = `${result.lines.length} lines, ${(result.drug_lines || []).length} drug lines; findings: ${counts.error} errors, ${counts.warning} warnings, ${counts.info} information.`;

  const zone = encounter.timezone || null;
  const time = (text) => (text ? `${String(text).slice(0, 10)} ${clock(wallMinutes(text, zone) ?? 0)}` : "");
  const admins = encounter.administrations || [];
  $("admins-count").textContent = admins.length;
  $("admins").querySelector("tbody").replaceChildren(
    ...admins.map((a) =>
      el("tr", {}, el("td", { class: "code", "data-label": "id" }, a.id), td("substance", a.substance || ""),
        td("route / method", [a.route, a.method].filter(Boolean).join(" / ")), td("access", a.access || ""),
        td("start", a.start ? time(a.start) : ""), td("end", a.end ? time(a.end) : "")),
    ),
  );
  renderLines(result);
  renderFindings(result);
  renderDays();
  renderChanges(previous, result);
  resetAudit();
}

export function showError(data) {
  $("result").hidden = false;
  $("encounter-id").textContent = (data && data.encounter_id) || "(unreadable)";
  $("readiness").textContent = "error";
  $("readiness").className = "badge error";
  $("result-counts").textContent = "";
  $("error-box").hidden = false;
  $("error-box").textContent = `This encounter cannot be coded: ${errorText(data)}`;
  for (const id of ["lines", "drug-lines", "admins"]) $(id).querySelector("tbody").replaceChildren();
  $("findings").replaceChildren();
  $("timeline").replaceChildren();
  $("timeline-days").hidden = true;
  $("lines-summary").textContent = "";
  $("changes-section").hidden = true;
  $("audit-section").hidden = true;
  view.result = null;
  view.timeline = null;
}

// Hide the whole result: a new input that fails to read must not leave the last result (or its error) up.
export function hideResult() {
  $("result").hidden = true;
  $("error-box").hidden = true;
  $("error-box").textContent = "";
  $("changes-section").hidden = true;
  view.result = null;
  view.timeline = null;
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
    box.append(el("table", { class: "changes-table stack" },
      el("caption", {}, "Lines that differ"),
      el("thead", {}, el("tr", {}, ...["change", "code", "units", "modifiers", "date", "administrations"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, diff.lines.map((c) => el("tr", { class: `change ${c.kind}`, "data-change": c.kind },
        el("td", { class: c.kind, "data-label": "change" }, c.kind), el("td", { class: "code", "data-label": "code" }, (c.after || c.before).code),
        td("units", both(c, "units")), td("modifiers", both(c, "modifiers")), td("date", (c.after || c.before).date || ""),
        td("administrations", (c.after || c.before).administrations.join(", ")))))));
  }
  if (diff.findingsAdded.length || diff.findingsRemoved.length) {
    box.append(el("ul", { class: "finding-changes" },
      diff.findingsAdded.map((f) => el("li", { class: "added" }, `finding added: ${f.id} (${f.severity})`)),
      diff.findingsRemoved.map((f) => el("li", { class: "removed" }, `finding removed: ${f.id} (${f.severity})`))));
  }
}

// ------------------------------------------------------------------------------------------------ audit

function resetAudit() {
  $("audit-section").hidden = !view.encounter || view.encounter.synthetic === true;
  $("audit-result").hidden = true;
  $("audit-status").textContent = "";
  $("audit-status").classList.remove("bad");
}

const money = (value) => (value === null || value === undefined ? "no figure" : `$${Number(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`);

async function runAudit(event) {
  event.preventDefault();
  const status = $("audit-status");
  const bad = (text) => { status.textContent = text; status.classList.add("bad"); };
  status.classList.remove("bad");
  if (!view.encounter || !view.result) return bad("Code an encounter first.");
  const file = $("billed-file").files[0] || null;
  const text = $("billed-source").value;
  if (!file && !text.trim()) return bad("Paste billed lines or choose a CSV or 837 file first.");
  status.textContent = "Reading the billed lines…";
  const read = await api("/v1/billed", {
    body: uploadBody(file, text, "billed.csv"),
    contentType: null,
    query: { encounter_id: String(view.result.encounter_id) },
  });
  if (read.status !== 200) return bad(`Error: ${errorText(read.data)}`);
  if (!read.data.lines.length) return bad(`No billed line for this encounter${read.data.problems.length ? `: ${read.data.problems.join("; ")}` : ""}.`);
  const encounter = { ...view.encounter, billed_lines: read.data.lines };
  delete encounter.synthetic;
  const { status: code, data } = await api("/v1/audit", {
    body: JSON.stringify(encounter),
    query: { policy: view.result.policy },
  });
  if (code !== 200) return bad(`Error: ${errorText(data)}`);
  view.audit = data;
  renderAudit(data, read.data);
  status.textContent = `Compared ${read.data.lines.length} billed lines: ${data.differences.length} differences.${read.data.note ? ` ${read.data.note}` : ""}`;
}

function renderAudit(audit, billed) {
  $("audit-result").hidden = false;
  const unknown = audit.amounts_unknown ? `; ${audit.amounts_unknown} without a published figure` : "";
  $("audit-total").textContent = audit.differences.length
    ? `Amount at stake: ${money(audit.amount_at_stake)} (national unadjusted Medicare figures${unknown}).`
    : "The billed lines match what the record supports.";
  const byCode = {};
  for (const line of [...audit.lines, ...(audit.drug_lines || [])]) {
    const code = line.code || line.hcpcs;
    (byCode[code] = byCode[code] || []).push(line);
  }
  const flagged = [];
  const rows = audit.differences.map((d, i) => {
    const supported = byCode[d.code] || [];
    const ids = uniq(supported.flatMap((l) => l.administrations));
    flagged.push(...ids);
    const days = uniq([...(d.billed_dates || []), ...(d.supported_dates || [])]);
    const row = el("tr", { class: `hoverable diff ${d.money === "more than supported" ? "over" : d.money === "less than supported" ? "under" : "unknown"}`, tabindex: 0, "data-difference": i, "data-kind": d.kind, "data-code": d.code },
      td("difference", d.kind), el("td", { class: "code", "data-label": "code" }, d.code),
      td("billed", `${d.billed_units}${d.billed_modifiers.length ? ` (${d.billed_modifiers.join(", ")})` : ""}`),
      td("supported", `${d.supported_units}${d.supported_modifiers.length ? ` (${d.supported_modifiers.join(", ")})` : ""}`),
      td("dates", days.join(", ")),
      el("td", { class: "amount", "data-label": "amount", title: d.basis || "" }, money(d.amount)),
      el("td", { class: "explanation", "data-label": "why" }, d.message));
    hoverable(row, () => {
      if (!view.timeline) return;
      if (supported.length) view.timeline.highlightLines(supported);
      else view.timeline.highlightDays(ids, days);
    });
    return row;
  });
  $("differences").querySelector("tbody").replaceChildren(...rows);
  view.flagged = uniq(flagged);
  if (view.timeline) view.timeline.flag(view.flagged, "audit-flag");
  if (billed.problems && billed.problems.length) {
    $("audit-total").append(el("span", { class: "hint" }, ` Not read: ${billed.problems.join("; ")}`));
  }
}

export function startAudit() {
  $("audit-form").addEventListener("submit", runAudit);
}
