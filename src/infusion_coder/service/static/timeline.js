// The infusion timeline: one lane per access, bars for infusions, marks for pushes and injections,
// hydration hatched, overlaps within a lane hatched, midnight marked. Drawn from the encounter and its
// coding result alone; times are the facility's wall clock as written (converted when an offset and the
// encounter's time zone are both known).

const NS = "http://www.w3.org/2000/svg";
const VASCULAR = new Set(["intravenous", "iv", "intra-arterial", "intraarterial", "ia"]);
const HYDRATION_CODES = new Set(["96360", "96361"]);
const NOT_CODED = new Set(["flush", "kvo", "carrier"]);
const W = 1000;
const LABEL = 170;
const RIGHT = 16;
const AXIS = 36;
const ROW = 28;
const LANE_PAD = 8;
const MARK_PX = 10;
const CHAR_PX = 6.8;

function labelText(item) {
  return item.shape === "bar" && item.labelInside ? String(item.admin.substance || item.admin.id)
    : `${item.admin.id} ${item.admin.substance || ""}`.trim();
}

function labelFits(item, widthPx) {
  const name = String(item.admin.substance || item.admin.id);
  return item.kind !== "hydration" && item.kind !== "nocode" && name.length * CHAR_PX + 10 < widthPx;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  if (text !== null) node.textContent = text;
  return node;
}

// Minutes since 1970 on the wall clock; null for a missing or unreadable time.
export function wallMinutes(text, zone) {
  if (typeof text !== "string") return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(text.trim());
  if (!m) return null;
  const hasOffset = /(Z|[+-]\d{2}:?\d{2})$/.test(text.trim());
  if (hasOffset && zone) {
    try {
      const instant = new Date(text.trim());
      const parts = Object.fromEntries(
        new Intl.DateTimeFormat("en-CA", {
          timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", second: "2-digit",
        }).formatToParts(instant).map((p) => [p.type, p.value]),
      );
      return Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second) / 60000;
    } catch (err) {
      // an unknown zone: fall back to the wall clock as written
    }
  }
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) / 60000;
}

export function clock(minutes) {
  const d = new Date(minutes * 60000);
  return `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
}

function dayLabel(minutes) {
  const d = new Date(minutes * 60000);
  return d.toLocaleDateString("en-US", { timeZone: "UTC", month: "short", day: "numeric" });
}

// What kind of service each administration is, for its colour: declared category first, then the codes
// of the lines that carry it; on no line and no category: not coded.
export function kinds(encounter, result) {
  const byAdmin = {};
  for (const line of (result && result.lines) || []) {
    const kind = HYDRATION_CODES.has(line.code)
      ? "hydration"
      : /^96(4|5)/.test(line.code) ? "chemotherapy" : "therapeutic";
    for (const id of line.administrations) if (!byAdmin[id] || kind !== "hydration") byAdmin[id] = kind;
  }
  const out = {};
  for (const admin of encounter.administrations || []) {
    if (NOT_CODED.has(String(admin.purpose || "").toLowerCase())) out[admin.id] = "nocode";
    else if (admin.category) out[admin.id] = String(admin.category).toLowerCase();
    else out[admin.id] = byAdmin[admin.id] || "nocode";
  }
  return out;
}

function laneOf(admin) {
  const route = String(admin.route || "").toLowerCase();
  if (VASCULAR.has(route)) return admin.access ? String(admin.access) : "IV (access not named)";
  return route ? `${route} (no line)` : "route not given";
}

function shapeOf(admin, start, end) {
  const method = String(admin.method || "").toLowerCase();
  const route = String(admin.route || "").toLowerCase();
  if (!VASCULAR.has(route) || method === "push" || method === "injection") return "mark";
  if (end === null) return "mark";
  return method === "infusion" || end - start > 15 ? "bar" : "mark";
}

export function drawTimeline(root, encounter, result) {
  while (root.firstChild) root.removeChild(root.firstChild);
  root.classList.remove("dimmed");
  const zone = encounter.timezone || null;
  const kindOf = kinds(encounter, result);
  const items = [];
  const untimed = [];
  for (const admin of encounter.administrations || []) {
    const start = wallMinutes(admin.start, zone);
    const end = wallMinutes(admin.end, zone);
    if (start === null) {
      untimed.push(admin);
      continue;
    }
    const shape = shapeOf(admin, start, end);
    const openEnd = end === null && String(admin.method || "").toLowerCase() === "infusion";
    items.push({ admin, start, end: end !== null && end >= start ? end : null, shape, openEnd, kind: kindOf[admin.id] });
  }
  const intervals = ((result && result.lines) || []).flatMap((line) => line.intervals || []);
  const points = items.flatMap((i) => [i.start, i.end ?? i.start]).concat(
    intervals.flatMap((iv) => [wallMinutes(iv.start, zone), wallMinutes(iv.end, zone)]).filter((v) => v !== null),
  );
  if (!points.length) {
    root.setAttribute("viewBox", `0 0 ${W} 40`);
    root.append(svg("text", { x: 10, y: 24, class: "lane-label" }, "No administration has a time: nothing to draw."));
    return controller(root, encounter, {}, null, null);
  }
  let t0 = Math.floor(Math.min(...points) / 60) * 60;
  let t1 = Math.ceil(Math.max(...points) / 60) * 60;
  if (t1 - t0 < 60) t1 = t0 + 60;
  const plotW = W - LABEL - RIGHT;
  const x = (t) => LABEL + ((t - t0) / (t1 - t0)) * plotW;
  const markMinutes = (MARK_PX / plotW) * (t1 - t0);

  // lanes in order of first use; rows inside a lane so that overlapping items sit apart
  const lanes = new Map();
  for (const item of [...items].sort((a, b) => a.start - b.start)) {
    const name = laneOf(item.admin);
    if (!lanes.has(name)) lanes.set(name, { name, rows: [], items: [] });
    const lane = lanes.get(name);
    // an item takes the room of its label too, so labels never run over one another
    const labelPx = labelText(item).length * CHAR_PX + 12;
    const perPx = (t1 - t0) / plotW;
    let visualStart = item.start;
    let visualEnd;
    if (item.shape === "bar") {
      item.labelInside = labelFits(item, x(item.end) - x(item.start));
      visualEnd = item.labelInside ? item.end : item.end + (labelPx + 6) * perPx;
    } else {
      visualStart = item.start - markMinutes;
      visualEnd = item.start + markMinutes + (labelPx + (item.openEnd ? 64 : 12)) * perPx;
    }
    // a label that would run past the right edge goes to the left of its item
    item.labelLeft = !item.labelInside && x(visualEnd) > W - RIGHT;
    if (item.labelLeft) {
      visualStart -= (labelPx + 6) * perPx;
      visualEnd = item.shape === "bar" ? item.end : item.start + markMinutes;
      if (x(visualStart) < LABEL && item.shape === "bar" && x(item.end) - x(item.start) > labelPx) {
        // no room on either side: write it on the bar, haloed so the hatching does not hide it
        item.labelLeft = false;
        item.labelHalo = true;
        visualStart = item.start;
      }
    }
    let row = lane.rows.findIndex((lastEnd) => lastEnd <= visualStart);
    if (row === -1) {
      row = lane.rows.length;
      lane.rows.push(visualEnd);
    } else lane.rows[row] = visualEnd;
    item.row = row;
    lane.items.push(item);
  }
  let y = AXIS;
  for (const lane of lanes.values()) {
    lane.y = y;
    lane.h = Math.max(1, lane.rows.length) * ROW + LANE_PAD;
    y += lane.h + 4;
  }
  const height = y + (untimed.length ? 24 : 6);
  root.setAttribute("viewBox", `0 0 ${W} ${height}`);

  const defs = svg("defs");
  const hatch = svg("pattern", { id: "hatch-hydration", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
  hatch.append(svg("rect", { width: 6, height: 6, fill: "#e6f4f1" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#0f7a6c", "stroke-width": 3 }));
  const hatchOverlap = svg("pattern", { id: "hatch-overlap", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(-45)" });
  hatchOverlap.append(svg("rect", { width: 6, height: 6, fill: "#fff7ed" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#d97706", "stroke-width": 2 }));
  defs.append(hatch, hatchOverlap);
  root.append(defs);

  // axis: ticks every 15 min to 12 h so that about a dozen fit; midnight always marked
  const step = [15, 30, 60, 120, 180, 240, 360, 720].find((s) => (t1 - t0) / s <= 14) || 1440;
  const axis = svg("g", { class: "axis" });
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    axis.append(svg("line", { class: "tick", x1: x(t), x2: x(t), y1: AXIS - 6, y2: y }));
    axis.append(svg("text", { class: "tick-label", x: x(t), y: AXIS - 10, "text-anchor": "middle" }, clock(t)));
  }
  for (let t = Math.ceil(t0 / 1440) * 1440; t <= t1; t += 1440) {
    if (t === t0) continue;
    axis.append(svg("line", { class: "midnight", x1: x(t), x2: x(t), y1: 12, y2: y, "data-date": new Date(t * 60000).toISOString().slice(0, 10) }));
    axis.append(svg("text", { class: "midnight-label", x: x(t) + 4, y: 12 }, `midnight, ${dayLabel(t)}`));
  }
  axis.append(svg("text", { class: "tick-label", x: 4, y: 12 }, dayLabel(t0)));
  root.append(axis);

  const laneLayer = svg("g", { class: "lanes" });
  const overlapLayer = svg("g", { class: "overlaps" });
  const itemLayer = svg("g", { class: "items" });
  const hlLayer = svg("g", { class: "highlights", "pointer-events": "none" });
  root.append(laneLayer, overlapLayer, itemLayer, hlLayer);
  const laneOfAdmin = {};
  for (const lane of lanes.values()) {
    laneLayer.append(svg("rect", { class: "lane-bg", x: LABEL, y: lane.y, width: plotW, height: lane.h, rx: 3 }));
    const label = lane.name.length > 24 ? `${lane.name.slice(0, 23)}…` : lane.name;
    const text = svg("text", { class: "lane-label", x: 6, y: lane.y + 18, "data-lane": lane.name }, label);
    text.append(svg("title", {}, lane.name));
    laneLayer.append(text);
    const bars = lane.items.filter((i) => i.shape === "bar");
    for (let i = 0; i < bars.length; i++) {
      for (let j = i + 1; j < bars.length; j++) {
        const s = Math.max(bars[i].start, bars[j].start);
        const e = Math.min(bars[i].end, bars[j].end);
        if (e > s) {
          const r = svg("rect", { class: "overlap", x: x(s), y: lane.y + 1, width: Math.max(1, x(e) - x(s)), height: lane.h - 2, "data-start": clock(s), "data-end": clock(e) });
          r.append(svg("title", {}, `overlap ${clock(s)}–${clock(e)}: ${bars[i].admin.id} and ${bars[j].admin.id}`));
          overlapLayer.append(r);
        }
      }
    }
    for (const item of lane.items) {
      laneOfAdmin[item.admin.id] = lane;
      itemLayer.append(drawItem(item, lane, x));
    }
  }
  if (untimed.length) {
    const names = untimed.map((a) => `${a.id} (${a.substance || "?"})`).join(", ");
    root.append(svg("text", { class: "tick-label untimed", x: 6, y: height - 8 }, `Not on the timeline (no time): ${names}`));
  }
  const summary = `${items.length} timed administrations on ${lanes.size} lanes, ${clock(t0)} ${dayLabel(t0)} to ${clock(t1)} ${dayLabel(t1)}.`;
  return controller(root, encounter, laneOfAdmin, { x, zone, top: AXIS, bottom: y, items }, summary);
}

function drawItem(item, lane, x) {
  const { admin, start, end, shape, kind, openEnd } = item;
  const cy = lane.y + LANE_PAD / 2 + item.row * ROW + ROW / 2;
  const method = String(admin.method || (shape === "bar" ? "infusion" : "push")).toLowerCase();
  const when = end !== null ? `${clock(start)}–${clock(end)}` : `${clock(start)}${openEnd ? ", no stop time" : ""}`;
  const description = `${admin.id}: ${admin.substance || "?"}, ${method} ${when}${admin.access ? ` on ${admin.access}` : ""}`;
  const g = svg("g", { class: `admin ${shape}-item`, "data-admin": admin.id, tabindex: 0, role: "img", "aria-label": description });
  g.append(svg("title", {}, description));
  if (shape === "bar") {
    const x0 = x(start);
    const w = Math.max(3, x(end) - x0);
    g.append(svg("rect", { class: `bar kind-${kind}`, x: x0, y: cy - 10, width: w, height: 20, rx: 3 }));
    const fits = item.labelInside;
    const at = fits || item.labelHalo ? x0 + 5 : item.labelLeft ? x0 - 5 : x0 + w + 5;
    g.append(svg("text", { class: fits ? "bar-label" : `bar-label outside${item.labelHalo ? " halo" : ""}`, x: at, y: cy + 4, "text-anchor": item.labelLeft ? "end" : "start" }, labelText(item)));
  } else {
    const cx = x(start);
    const shapePath = method === "injection" || !VASCULAR.has(String(admin.route || "").toLowerCase())
      ? `M ${cx} ${cy - 9} L ${cx + 8} ${cy + 7} L ${cx - 8} ${cy + 7} Z`
      : `M ${cx} ${cy - 9} L ${cx + 8} ${cy} L ${cx} ${cy + 9} L ${cx - 8} ${cy} Z`;
    if (openEnd) g.append(svg("line", { class: "open-end", x1: cx, x2: cx + 60, y1: cy, y2: cy }));
    g.append(svg("path", { class: `mark kind-${kind}`, d: shapePath }));
    const at = item.labelLeft ? cx - 11 : cx + (openEnd ? 64 : 11);
    g.append(svg("text", { class: "bar-label outside", x: at, y: cy + 4, "text-anchor": item.labelLeft ? "end" : "start" }, labelText(item)));
  }
  return g;
}

function controller(root, encounter, laneOfAdmin, geometry, summary) {
  const byId = Object.fromEntries((encounter.administrations || []).map((a) => [a.id, a]));
  function clear() {
    root.classList.remove("dimmed");
    root.querySelectorAll(".admin.hl").forEach((n) => n.classList.remove("hl"));
    const layer = root.querySelector(".highlights");
    if (layer) while (layer.firstChild) layer.removeChild(layer.firstChild);
  }
  function markAdmins(ids) {
    root.classList.add("dimmed");
    for (const id of ids) root.querySelectorAll(`.admin[data-admin="${CSS.escape(id)}"]`).forEach((n) => n.classList.add("hl"));
  }
  function band(startText, endText, lanesHit, source) {
    if (!geometry) return;
    const s = wallMinutes(startText, geometry.zone);
    const e = wallMinutes(endText, geometry.zone);
    if (s === null || e === null) return;
    const top = lanesHit.length ? Math.min(...lanesHit.map((l) => l.y)) : geometry.top;
    const bottom = lanesHit.length ? Math.max(...lanesHit.map((l) => l.y + l.h)) : geometry.bottom;
    const x0 = geometry.x(s);
    const width = Math.max(4, geometry.x(e) - x0);
    const layer = root.querySelector(".highlights");
    layer.append(svg("rect", { class: "hl-interval", x: x0, y: top - 2, width, height: bottom - top + 4, "data-start": startText, "data-end": endText, "data-source": source }));
    layer.append(svg("text", { class: "hl-label", x: x0, y: top - 4 }, `${clock(s)}–${clock(e)}`));
  }
  return {
    summary,
    clear,
    // a line: its own intervals when the result has them, else its administrations' times
    highlightLine(line) {
      clear();
      markAdmins(line.administrations);
      const lanesHit = [...new Set(line.administrations.map((id) => laneOfAdmin[id]).filter(Boolean))];
      if (line.intervals && line.intervals.length) {
        for (const iv of line.intervals) band(iv.start, iv.end, lanesHit, "line");
      } else {
        for (const id of line.administrations) {
          const admin = byId[id];
          if (admin && admin.start) band(admin.start, admin.end || admin.start, lanesHit, "administration");
        }
      }
    },
    highlightAdmins(ids) {
      clear();
      markAdmins(ids);
    },
  };
}
