// The infusion timeline: one lane per access, drawn from what was CODED: an administration on a timed line
// (an infusion code) is a bar whatever the source's method word, one on a push or injection line a mark;
// substances mixed in one bag (`mix`) are one bar. Hydration is hatched, overlaps within a lane hatched,
// midnight marked. A stay longer than a day is shown whole (one column per day, labelled by date) or one
// day at a time. Times are the facility's wall clock as written (converted when an offset and the
// encounter's time zone are both known).

const NS = "http://www.w3.org/2000/svg";
const VASCULAR = new Set(["intravenous", "iv", "intra-arterial", "intraarterial", "ia"]);
const HYDRATION_CODES = new Set(["96360", "96361"]);
// How a coded line is drawn: codes that count minutes are infusions (bars); the others are pushes or
// injections (marks). Presentation only: the coding itself is the engine's.
const TIMED_CODES = new Set(["96360", "96361", "96365", "96366", "96367", "96368", "96369", "96370", "96371",
  "96413", "96415", "96416", "96417", "96422", "96423", "96425", "96521", "96522"]);
const PUSH_CODES = new Set(["96374", "96375", "96376", "96409", "96411", "96420"]);
const INJECTION_CODES = new Set(["96372", "96373", "96401", "96402", "96405", "96379"]);
const NOT_CODED = new Set(["flush", "kvo", "carrier"]);
const RIGHT = 12;
const AXIS = 40;
const ROW = 26;
const LANE_PAD = 6;
const MARK_PX = 9;
const CHAR_PX = 6.8;
const BOLD_PX = 8.0; // labels on a bar are bold
const DAY = 1440;

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

export function dayLabel(minutes, style = "short") {
  const d = new Date(minutes * 60000);
  if (style === "day") return String(d.getUTCDate());
  if (style === "long") return d.toLocaleDateString("en-US", { timeZone: "UTC", weekday: "short", month: "short", day: "numeric" });
  return d.toLocaleDateString("en-US", { timeZone: "UTC", month: "short", day: "numeric" });
}

export function isoDay(minutes) {
  return new Date(minutes * 60000).toISOString().slice(0, 10);
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

// How each administration was coded: "bar" (a timed code), "push", "injection", or absent (on no line).
export function codedShapes(result) {
  const out = {};
  for (const line of (result && result.lines) || []) {
    const shape = TIMED_CODES.has(line.code) ? "bar" : PUSH_CODES.has(line.code) ? "push"
      : INJECTION_CODES.has(line.code) ? "injection" : null;
    if (!shape) continue;
    for (const id of line.administrations) if (out[id] !== "bar") out[id] = shape;
  }
  return out;
}

function laneOf(admin) {
  const route = String(admin.route || "").toLowerCase();
  if (VASCULAR.has(route)) return admin.access ? String(admin.access) : "IV (access not named)";
  return route ? `${route} (no line)` : "route not given";
}

// The shape from the record when no line says it: the method word, then the length
function recordShape(admin, start, end) {
  const method = String(admin.method || "").toLowerCase();
  const route = String(admin.route || "").toLowerCase();
  if (!VASCULAR.has(route)) return "injection";
  if (method === "push") return "push";
  if (method === "injection") return "injection";
  if (end === null) return "push";
  return method === "infusion" || end - start > 15 ? "bar" : "push";
}

// The items to draw: one per administration, or one per bag when substances share a `mix` label.
export function timelineItems(encounter, result) {
  const zone = encounter.timezone || null;
  const kindOf = kinds(encounter, result);
  const coded = codedShapes(result);
  const items = [];
  const untimed = [];
  const bags = new Map();
  for (const admin of encounter.administrations || []) {
    const start = wallMinutes(admin.start, zone);
    let end = wallMinutes(admin.end, zone);
    if (start === null) {
      untimed.push(admin);
      continue;
    }
    if (end !== null && end < start) end = null;
    let shape = coded[admin.id] || recordShape(admin, start, end);
    const openEnd = end === null && (shape === "bar" || String(admin.method || "").toLowerCase() === "infusion");
    if (shape === "bar" && end === null) shape = "push";
    const lane = laneOf(admin);
    const key = admin.mix ? `${lane}|${admin.mix}` : null;
    if (key && bags.has(key)) {
      const bag = bags.get(key);
      bag.admins.push(admin);
      bag.ids.push(admin.id);
      bag.start = Math.min(bag.start, start);
      if (end !== null) bag.end = Math.max(bag.end ?? end, end);
      if (shape === "bar") bag.shape = "bar";
      if (bag.kind === "nocode" || (bag.kind === "hydration" && kindOf[admin.id] !== "nocode")) bag.kind = kindOf[admin.id];
      continue;
    }
    const item = { admins: [admin], ids: [admin.id], start, end, shape, openEnd, kind: kindOf[admin.id], lane };
    if (key) bags.set(key, item);
    items.push(item);
  }
  for (const item of items) {
    item.name = item.admins.map((a) => String(a.substance || a.id)).join(" + ");
    item.method = item.shape === "bar" ? "infusion" : item.shape;
    if (item.shape === "bar" && item.end === null) item.shape = "push";
  }
  return { items, untimed, zone };
}

// The days an encounter's timeline covers (wall-clock midnights), for the day pager.
export function timelineDays(encounter, result) {
  const { items, zone } = timelineItems(encounter, result);
  const points = items.flatMap((i) => [i.start, i.end ?? i.start]);
  for (const line of (result && result.lines) || []) {
    for (const iv of line.intervals || []) {
      for (const t of [wallMinutes(iv.start, zone), wallMinutes(iv.end, zone)]) if (t !== null) points.push(t);
    }
  }
  if (!points.length) return [];
  const first = Math.floor(Math.min(...points) / DAY) * DAY;
  const last = Math.floor(Math.max(...points) / DAY) * DAY;
  const days = [];
  for (let t = first; t <= last; t += DAY) {
    days.push({ start: t, iso: isoDay(t), items: items.filter((i) => i.start < t + DAY && (i.end ?? i.start) >= t).length });
  }
  return days;
}

function truncate(text, px) {
  const chars = Math.floor(px / CHAR_PX);
  if (chars >= text.length) return text;
  if (chars < 4) return "";
  return `${text.slice(0, chars - 1)}…`;
}

// Draw into `root` (an <svg>). `view` is null for the whole span, or {start} for one wall-clock day.
export function drawTimeline(root, encounter, result, { view = null, width = 1000 } = {}) {
  while (root.firstChild) root.removeChild(root.firstChild);
  root.classList.remove("dimmed");
  const W = Math.max(360, Math.round(width));
  const LABEL = W < 560 ? 92 : W < 760 ? 112 : 170;
  const { items: all, untimed, zone } = timelineItems(encounter, result);
  const intervals = ((result && result.lines) || []).flatMap((line) => line.intervals || []);
  const points = all.flatMap((i) => [i.start, i.end ?? i.start]).concat(
    intervals.flatMap((iv) => [wallMinutes(iv.start, zone), wallMinutes(iv.end, zone)]).filter((v) => v !== null),
  );
  root.setAttribute("width", W);
  if (!points.length) {
    root.setAttribute("viewBox", `0 0 ${W} 40`);
    root.setAttribute("height", 40);
    root.append(svg("text", { x: 10, y: 24, class: "lane-label" }, "No administration has a time: nothing to draw."));
    return controller(root, encounter, {}, null, "No administration has a time.");
  }
  let t0;
  let t1;
  if (view) {
    t0 = view.start;
    t1 = view.start + DAY;
  } else {
    t0 = Math.floor(Math.min(...points) / 60) * 60;
    t1 = Math.ceil(Math.max(...points) / 60) * 60;
    if (t1 - t0 < 60) t1 = t0 + 60;
  }
  const multiDay = !view && t1 - t0 > DAY;
  if (multiDay) {
    t0 = Math.floor(t0 / DAY) * DAY;
    t1 = Math.ceil(t1 / DAY) * DAY;
  }
  const items = all.filter((i) => i.start < t1 && (i.end ?? i.start) >= t0);
  const plotW = W - LABEL - RIGHT;
  const x = (t) => LABEL + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * plotW;
  const perPx = (t1 - t0) / plotW;
  const showMarkLabels = !multiDay;

  // lanes in order of first use; marks share the lane's first row, bars take rows so they never overlap
  const lanes = new Map();
  for (const item of [...items].sort((a, b) => a.start - b.start)) {
    if (!lanes.has(item.lane)) lanes.set(item.lane, { name: item.lane, markRows: [], barRows: [], items: [] });
    const lane = lanes.get(item.lane);
    if (item.shape === "bar") {
      let row = lane.barRows.findIndex((lastEnd) => lastEnd <= item.start);
      if (row === -1) {
        row = lane.barRows.length;
        lane.barRows.push(item.end);
      } else lane.barRows[row] = item.end;
      item.row = row;
      item.band = "bar";
    } else {
      // marks closer than a mark's width take a second row, so stacked pushes stay countable
      const gap = 2 * MARK_PX * perPx;
      // (at most three rows: past that they overlap, and each keeps its own focusable mark and title)
      let row = lane.markRows.findIndex((last) => last + gap <= item.start);
      if (row === -1 && lane.markRows.length < 3) {
        row = lane.markRows.length;
        lane.markRows.push(item.start);
      } else if (row === -1) {
        row = lane.markRows.indexOf(Math.min(...lane.markRows));
      }
      lane.markRows[row] = item.start;
      item.row = row;
      item.band = "mark";
    }
    lane.items.push(item);
  }
  let y = AXIS;
  for (const lane of lanes.values()) {
    lane.y = y;
    lane.marks = lane.markRows.length;
    lane.rows = lane.marks + lane.barRows.length;
    lane.h = Math.max(1, lane.rows) * ROW + LANE_PAD;
    y += lane.h + 4;
    for (const item of lane.items) {
      const row = item.band === "mark" ? item.row : lane.marks + item.row;
      item.cy = lane.y + LANE_PAD / 2 + row * ROW + ROW / 2;
    }
  }
  const height = y + (untimed.length ? 24 : 6);
  root.setAttribute("viewBox", `0 0 ${W} ${height}`);
  root.setAttribute("height", height);

  const defs = svg("defs");
  const hatch = svg("pattern", { id: "hatch-hydration", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
  hatch.append(svg("rect", { width: 6, height: 6, fill: "#e6f4f1" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#0f7a6c", "stroke-width": 3 }));
  const hatchOverlap = svg("pattern", { id: "hatch-overlap", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(-45)" });
  hatchOverlap.append(svg("rect", { width: 6, height: 6, fill: "#fff7ed" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#d97706", "stroke-width": 2 }));
  const clip = svg("clipPath", { id: "plot-clip" });
  clip.append(svg("rect", { x: LABEL, y: 0, width: plotW, height }));
  defs.append(hatch, hatchOverlap, clip);
  root.append(defs);

  const axis = svg("g", { class: "axis" });
  if (multiDay) {
    // one column per day, labelled by its date; alternate days shaded; no clock ticks unless there is room
    const dayPx = (DAY / (t1 - t0)) * plotW;
    const style = dayPx >= 78 ? "short" : dayPx >= 20 ? "day" : null;
    let lastMonth = null;
    for (let t = t0, n = 0; t < t1; t += DAY, n++) {
      if (n % 2 === 1) axis.append(svg("rect", { class: "day-shade", x: x(t), y: AXIS - 4, width: dayPx, height: y - AXIS + 4 }));
      if (t > t0) axis.append(svg("line", { class: "midnight", x1: x(t), x2: x(t), y1: AXIS - 22, y2: y, "data-date": isoDay(t) }));
      const month = dayLabel(t).split(" ")[0];
      if (style) {
        const text = style === "day" && month !== lastMonth ? `${month} ${dayLabel(t, "day")}` : dayLabel(t, style);
        const fits = text.length * CHAR_PX <= dayPx - 2 || style === "short";
        const label = svg("text", { class: "day-label", x: x(t) + dayPx / 2, y: AXIS - 10, "text-anchor": "middle", "data-date": isoDay(t) }, fits ? text : dayLabel(t, "day"));
        label.append(svg("title", {}, dayLabel(t, "long")));
        axis.append(label);
      }
      lastMonth = month;
      if (dayPx >= 150) {
        axis.append(svg("line", { class: "tick", x1: x(t + 720), x2: x(t + 720), y1: AXIS - 4, y2: y }));
      }
    }
    axis.append(svg("text", { class: "tick-label", x: 4, y: 14 }, `${dayLabel(t0, "long")} – ${dayLabel(t1 - 1, "long")}`));
  } else {
    // ticks every 15 min to 12 h so that about a dozen fit; a tick at midnight reads the date instead
    const step = [15, 30, 60, 120, 180, 240, 360, 720].find((s) => (t1 - t0) / s <= Math.max(4, plotW / 70)) || DAY;
    // where each "midnight, <date>" label is drawn (about 7 px a character): no clock label under it
    const labelled = [];
    for (let t = Math.ceil(t0 / DAY) * DAY; t <= t1; t += DAY) {
      if (t !== t0 && t !== t1) labelled.push([x(t), x(t) + 4 + 7 * `midnight, ${dayLabel(t)}`.length]);
    }
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      axis.append(svg("line", { class: "tick", x1: x(t), x2: x(t), y1: AXIS - 6, y2: y }));
      const atMidnight = t % DAY === 0;
      if (atMidnight && t !== t0 && t !== t1) continue; // the midnight line carries the date
      if (labelled.some(([from, to]) => x(t) + 20 > from && x(t) - 20 < to)) continue;
      const text = view && t === t1 ? "24:00" : clock(t); // a day's end, not the next day's start
      axis.append(svg("text", { class: "tick-label", x: x(t), y: AXIS - 10, "text-anchor": t === t0 ? "start" : t === t1 ? "end" : "middle" }, text));
    }
    for (let t = Math.ceil(t0 / DAY) * DAY; t <= t1; t += DAY) {
      if (t === t0 || t === t1) continue;
      axis.append(svg("line", { class: "midnight", x1: x(t), x2: x(t), y1: 12, y2: y, "data-date": isoDay(t) }));
      axis.append(svg("text", { class: "midnight-label", x: x(t) + 4, y: AXIS - 10 }, `midnight, ${dayLabel(t)}`));
    }
    axis.append(svg("text", { class: "tick-label", x: 4, y: 14 }, view ? dayLabel(t0, "long") : dayLabel(t0)));
  }
  root.append(axis);

  const laneLayer = svg("g", { class: "lanes" });
  const overlapLayer = svg("g", { class: "overlaps", "clip-path": "url(#plot-clip)" });
  const itemLayer = svg("g", { class: "items", "clip-path": "url(#plot-clip)" });
  const hlLayer = svg("g", { class: "highlights", "pointer-events": "none" });
  root.append(laneLayer, overlapLayer, itemLayer, hlLayer);
  const laneOfAdmin = {};
  for (const lane of lanes.values()) {
    laneLayer.append(svg("rect", { class: "lane-bg", x: LABEL, y: lane.y, width: plotW, height: lane.h, rx: 3 }));
    const room = Math.floor((LABEL - 10) / CHAR_PX);
    const label = lane.name.length > room ? `${lane.name.slice(0, room - 1)}…` : lane.name;
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
          r.append(svg("title", {}, `overlap ${clock(s)}–${clock(e)}: ${bars[i].ids.join("+")} and ${bars[j].ids.join("+")}`));
          overlapLayer.append(r);
        }
      }
    }
    // labels: inside a bar when it fits, else after it up to the next item of its row, cut to fit
    const byRow = new Map();
    for (const item of lane.items) {
      const key = `${item.band}${item.row}`;
      if (!byRow.has(key)) byRow.set(key, []);
      byRow.get(key).push(item);
    }
    for (const row of byRow.values()) {
      row.sort((a, b) => a.start - b.start);
      row.forEach((item, index) => {
        const next = row[index + 1];
        const limit = next ? x(next.start) - (next.shape === "bar" ? 4 : MARK_PX + 4) : LABEL + plotW - 2;
        // a no-stop-time stub stops short of the next item of its row
        item.stub = Math.max(0, Math.min(60, limit - x(item.start) - 2));
        item.label = placeLabel(item, x, limit, showMarkLabels);
      });
    }
    for (const item of lane.items) {
      for (const id of item.ids) laneOfAdmin[id] = lane;
      item.stubs = !multiDay; // a 60 px stub is longer than a day's column in the whole-stay view
      itemLayer.append(drawItem(item, x, t0, t1));
    }
  }
  if (untimed.length) {
    const names = untimed.map((a) => `${a.id} (${a.substance || "?"})`).join(", ");
    root.append(svg("text", { class: "tick-label untimed", x: 6, y: height - 8 }, truncate(`Not on the timeline (no time): ${names}`, W - 12)));
  }
  const span = view ? `${dayLabel(t0, "long")}` : `${clock(t0)} ${dayLabel(t0)} to ${clock(t1)} ${dayLabel(t1)}`;
  const summary = `${items.length} timed administrations on ${lanes.size} lanes, ${span}.`;
  return controller(root, encounter, laneOfAdmin, { x, zone, top: AXIS, bottom: y, t0, t1 }, summary);
}

function placeLabel(item, x, limit, showMarkLabels) {
  const text = item.name;
  if (item.shape === "bar") {
    const x0 = x(item.start);
    const x1 = x(item.end);
    const inside = x1 - x0 - 10;
    // white on a solid bar; dark with a white halo on a hatched (hydration) or grey (not coded) one
    const insideCls = item.kind === "hydration" || item.kind === "nocode" ? "bar-label outside halo" : "bar-label";
    if (text.length * BOLD_PX <= inside) return { text, at: x0 + 5, cls: insideCls };
    const after = limit - (x1 + 5);
    if (text.length * CHAR_PX <= after) return { text, at: x1 + 5, cls: "bar-label outside" };
    if (inside >= after && inside > 4 * BOLD_PX) return { text: truncate(text, inside * (CHAR_PX / BOLD_PX)), at: x0 + 5, cls: insideCls };
    const cut = truncate(text, after);
    return cut ? { text: cut, at: x1 + 5, cls: "bar-label outside" } : null;
  }
  if (!showMarkLabels) return null;
  const at = x(item.start) + (item.openEnd && showMarkLabels ? Math.max(item.stub + 4, MARK_PX + 3) : MARK_PX + 3);
  const cut = truncate(text, limit - at);
  return cut ? { text: cut, at, cls: "bar-label outside" } : null;
}

function drawItem(item, x, t0, t1) {
  const { start, end, shape, kind, openEnd, cy } = item;
  const when = end !== null ? `${clock(start)}–${clock(end)}` : `${clock(start)}${openEnd ? ", no stop time" : ""}`;
  const access = item.admins[0].access;
  const description = `${item.ids.join(" + ")}: ${item.name}, ${item.method} ${when}${access ? ` on ${access}` : ""}`;
  const g = svg("g", {
    class: `admin ${shape === "bar" ? "bar" : "mark"}-item`, "data-admin": item.ids[0], "data-admins": item.ids.join(" "),
    "data-shape": shape, tabindex: 0, role: "img", "aria-label": description,
  });
  g.append(svg("title", {}, description));
  if (shape === "bar") {
    const x0 = x(start);
    const w = Math.max(3, x(end) - x0);
    g.append(svg("rect", { class: `bar kind-${kind}`, x: x0, y: cy - 9, width: w, height: 18, rx: 3 }));
    if (start < t0) g.append(svg("path", { class: "continues", d: `M ${x0 + 6} ${cy - 5} L ${x0 + 1} ${cy} L ${x0 + 6} ${cy + 5}` }));
    if (end > t1) g.append(svg("path", { class: "continues", d: `M ${x0 + w - 6} ${cy - 5} L ${x0 + w - 1} ${cy} L ${x0 + w - 6} ${cy + 5}` }));
  } else {
    const cx = x(start);
    const path = shape === "injection"
      ? `M ${cx} ${cy - 8} L ${cx + 7} ${cy + 6} L ${cx - 7} ${cy + 6} Z`
      : `M ${cx} ${cy - 8} L ${cx + 7} ${cy} L ${cx} ${cy + 8} L ${cx - 7} ${cy} Z`;
    if (openEnd && item.stubs && item.stub > MARK_PX) g.append(svg("line", { class: "open-end", x1: cx, x2: cx + item.stub, y1: cy, y2: cy }));
    g.append(svg("path", { class: `mark kind-${kind}`, d: path }));
  }
  if (item.label) {
    g.append(svg("text", { class: item.label.cls, x: item.label.at, y: cy + 4 }, item.label.text));
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
    const wanted = new Set(ids);
    root.querySelectorAll(".admin").forEach((n) => {
      if ((n.getAttribute("data-admins") || "").split(" ").some((id) => wanted.has(id))) n.classList.add("hl");
    });
  }
  function band(startText, endText, lanesHit, source) {
    if (!geometry) return;
    const s = wallMinutes(startText, geometry.zone);
    const e = wallMinutes(endText, geometry.zone);
    if (s === null || e === null || e < geometry.t0 || s > geometry.t1) return;
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
    // lines: their own intervals when the result has them, else their administrations' times
    highlightLines(lines) {
      clear();
      const ids = lines.flatMap((line) => line.administrations);
      markAdmins(ids);
      const lanesHit = [...new Set(ids.map((id) => laneOfAdmin[id]).filter(Boolean))];
      for (const line of lines) {
        if (line.intervals && line.intervals.length) {
          for (const iv of line.intervals) band(iv.start, iv.end, lanesHit, "line");
        } else {
          for (const id of line.administrations) {
            const admin = byId[id];
            if (admin && admin.start) band(admin.start, admin.end || admin.start, lanesHit, "administration");
          }
        }
      }
    },
    highlightLine(line) {
      this.highlightLines([line]);
    },
    highlightAdmins(ids) {
      clear();
      markAdmins(ids);
    },
    // whole days (an audit difference's dates of service)
    highlightDays(ids, days) {
      clear();
      markAdmins(ids);
      for (const day of days) band(`${day}T00:00`, `${day}T23:59`, [], "date");
    },
    // a persistent mark (audit differences) that hover highlights do not clear
    flag(ids, cls) {
      root.querySelectorAll(`.admin.${cls}`).forEach((n) => n.classList.remove(cls));
      const wanted = new Set(ids);
      root.querySelectorAll(".admin").forEach((n) => {
        if ((n.getAttribute("data-admins") || "").split(" ").some((id) => wanted.has(id))) n.classList.add(cls);
      });
    },
  };
}
