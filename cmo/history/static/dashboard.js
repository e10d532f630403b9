// History dashboard: one card per dashboard from /api/dashboards, charts drawn with the
// vendored Vega-Lite (no network beyond this server). Every card carries
// data-state="loading" | "rendered" | "empty" | "error" so tests can wait on it.
"use strict";

const RANGES_MS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const MAX_TABLE_ROWS = 200;
const MAX_POINTS = 60;  // line charts mark each point up to this many rows
const PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9",
                 "#ec4899", "#84cc16", "#64748b", "#14b8a6"];

const $ = (id) => document.getElementById(id);
const state = { dashboards: [], cards: new Map(), timer: null, seq: 0 };

// ---------------------------------------------------------------- time range

function currentRange() {
  const choice = $("range").value;
  if (choice === "custom") {
    const from = $("from").value ? new Date($("from").value) : null;
    const to = $("to").value ? new Date($("to").value) : null;
    if (!from || !to || isNaN(from) || isNaN(to) || from >= to) return null;
    return { start: from, end: to };
  }
  const end = new Date();
  return { start: new Date(end.getTime() - RANGES_MS[choice]), end };
}

function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
         `T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function localStamp(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${toLocalInput(date).replace("T", " ")}:${pad(date.getSeconds())}`;
}

function describeRange(range) {
  const fmt = (d) => d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  const offset = -new Date().getTimezoneOffset() / 60;
  const zone = `UTC${offset >= 0 ? "+" : "−"}${Math.abs(offset)}`;
  return `${fmt(range.start)} → ${fmt(range.end)} (local time, ${zone})`;
}

// ---------------------------------------------------------------- values

// Times arrive as ISO 8601 ("...Z"), "YYYY-MM-DD hh:mm:ss[.fff]" (UTC) or "YYYY-MM-DD" dates.
const DATE_RE = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

function parseTime(value) {
  if (typeof value !== "string" || !DATE_RE.test(value)) return null;
  if (value.length === 10) {  // a calendar date (ClickHouse Date): local midnight
    const [y, m, d] = value.split("-").map(Number);
    return new Date(y, m - 1, d).getTime();
  }
  let text = value.replace(" ", "T");
  if (!/(Z|[+-]\d{2}:?\d{2})$/.test(text)) text += "Z";
  const ms = Date.parse(text);
  return isNaN(ms) ? null : ms;
}

function isNumeric(value) {
  return typeof value === "number" ||
         (typeof value === "string" && value.trim() !== "" && !isNaN(Number(value)));
}

function columnNames(columns) {
  return columns.map((c) => (typeof c === "string" ? c : c.name));
}

// Rows as objects, times as epoch ms, numeric y as numbers; returns the x field's type.
function toRecords(result, chart) {
  const names = columnNames(result.columns);
  const xs = result.rows.map((r) => r[names.indexOf(chart.x)]);
  const temporal = xs.length > 0 && xs.every((v) => v === null || parseTime(v) !== null);
  const records = result.rows.map((row) => {
    const rec = {};
    names.forEach((name, i) => { rec[name] = row[i]; });
    if (temporal) rec[chart.x] = parseTime(rec[chart.x]);
    if (isNumeric(rec[chart.y])) rec[chart.y] = Number(rec[chart.y]);
    if (chart.color && rec[chart.color] !== null) rec[chart.color] = String(rec[chart.color]);
    return rec;
  });
  const quantitativeX = !temporal && xs.every((v) => v === null || isNumeric(v));
  if (quantitativeX) records.forEach((r) => { r[chart.x] = Number(r[chart.x]); });
  return { records, xType: temporal ? "temporal" : quantitativeX ? "quantitative" : "nominal" };
}

// ---------------------------------------------------------------- charts

function label(name) {
  return name.replace(/_/g, " ");
}

// The smallest gap between distinct times: the data's bucket size (Infinity for one point).
function timeStep(times) {
  const sorted = [...new Set(times.filter((t) => t !== null))].sort((a, b) => a - b);
  let step = Infinity;
  for (let i = 1; i < sorted.length; i++) step = Math.min(step, sorted[i] - sorted[i - 1]);
  return { step, span: sorted.length ? sorted[sorted.length - 1] - sorted[0] : 0 };
}

// Bars on a time axis need a time unit to get a band width: the data's bucket size.
function barTimeUnit(step) {
  if (step >= 86400e3) return "yearmonthdate";
  if (step >= 3600e3) return "yearmonthdatehours";
  if (step >= 60e3) return "yearmonthdatehoursminutes";
  return null;
}

// Daily data gets date labels on whole days; finer data gets clock times, dates at midnight.
function timeAxis(step, span) {
  if (step >= 86400e3) {
    const days = Math.max(1, Math.ceil(span / 86400e3 / 6));
    return { format: "%b %d", tickCount: { interval: "day", step: days }, labelOverlap: true };
  }
  return { labelOverlap: true, tickCount: 6,
           labelExpr: "hours(datum.value) == 0 && minutes(datum.value) == 0" +
                      " ? timeFormat(datum.value, '%b %d') : timeFormat(datum.value, '%H:%M')" };
}

// Legend entries in as many columns as their longest label leaves room for.
function legendColumns(records, field) {
  const longest = Math.max(0, ...records.map((r) => String(r[field] ?? "").length));
  return longest > 30 ? 1 : longest > 14 ? 2 : longest > 9 ? 3 : 4;
}

function vegaLiteSpec(chart, records, xType) {
  const color = chart.color
    ? { field: chart.color, type: "nominal", title: label(chart.color),
        legend: { orient: "bottom", direction: "horizontal", columns: legendColumns(records, chart.color),
                  labelLimit: 175 } }
    : { value: PALETTE[0] };
  const xTitle = xType === "temporal" ? null : label(chart.x);
  const { step, span } = xType === "temporal" ? timeStep(records.map((r) => r[chart.x])) : {};
  const xAxis = xType === "temporal" ? timeAxis(step, span) : { labelLimit: 140 };
  let x = { field: chart.x, type: xType, title: xTitle, axis: xAxis };
  let y = { field: chart.y, type: "quantitative", title: label(chart.y) };
  let mark;
  if (chart.kind === "bar") {
    mark = { type: "bar", tooltip: true, cornerRadiusEnd: 2 };
    const unit = xType === "temporal" ? barTimeUnit(step) : null;
    if (unit) {
      x = { ...x, timeUnit: unit };
      mark.width = { band: 0.85 };
    }
    if (xType === "nominal") {
      // Categories read better down the side: horizontal bars sorted by value.
      x = { field: chart.y, type: "quantitative", title: label(chart.y) };
      y = { field: chart.x, type: "nominal", title: null, sort: "-x",
            axis: { labelLimit: 180 } };
    }
  } else if (chart.kind === "area") {
    mark = { type: "area", tooltip: true, opacity: 0.85, line: true };
    if (chart.color) y.stack = "zero";
  } else {
    mark = { type: "line", tooltip: true, point: records.length <= MAX_POINTS, strokeWidth: 2 };
  }
  const tooltip = [
    xType === "temporal"
      ? { field: chart.x, type: "temporal", title: label(chart.x), format: "%Y-%m-%d %H:%M" }
      : { field: chart.x, type: xType, title: label(chart.x) },
    { field: chart.y, type: "quantitative", title: label(chart.y), format: ",.4~g" },
  ];
  if (chart.color) tooltip.push({ field: chart.color, type: "nominal", title: label(chart.color) });
  return {
    width: "container",
    height: 228,  // the whole chart, legend included (autosize fit)
    autosize: { type: "fit", contains: "padding" },
    background: "transparent",
    data: { values: records },
    mark,
    encoding: { x, y, color, tooltip },
    config: {
      font: getComputedStyle(document.body).fontFamily,
      view: { stroke: null },
      range: { category: PALETTE },
      axis: { labelColor: "#475569", titleColor: "#334155", gridColor: "#e2e8f0",
              domainColor: "#cbd5e1", tickColor: "#cbd5e1", labelFontSize: 11,
              titleFontSize: 11, titleFontWeight: 600 },
      legend: { labelColor: "#334155", titleColor: "#334155", labelFontSize: 11,
                titleFontSize: 11, symbolSize: 80 },
    },
  };
}

function cellText(value) {
  if (value === null || value === undefined) return "∅";
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "number" && !Number.isInteger(value)) {
    return value.toLocaleString(undefined, { maximumSignificantDigits: 6 });
  }
  const text = String(value);
  const ms = text.length > 10 ? parseTime(text) : null;  // date-times in local time
  return ms === null ? text : localStamp(new Date(ms));
}

function renderTable(container, columns, rows, limit) {
  const names = columnNames(columns);
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  names.forEach((name) => {
    const th = document.createElement("th");
    th.textContent = name;
    head.appendChild(th);
  });
  const body = table.createTBody();
  rows.slice(0, limit).forEach((row) => {
    const tr = body.insertRow();
    row.forEach((value) => {
      const td = tr.insertCell();
      td.textContent = cellText(value);
      if (isNumeric(value)) td.className = "num";
    });
  });
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.appendChild(table);
  container.replaceChildren(wrap);
  if (rows.length > limit) {
    const more = document.createElement("p");
    more.className = "meta";
    more.textContent = `Showing ${limit} of ${rows.length} rows.`;
    container.appendChild(more);
  }
}

// ---------------------------------------------------------------- cards

function createCard(dashboard) {
  const card = document.createElement("article");
  card.className = `card kind-${dashboard.chart.kind}`;
  card.dataset.name = dashboard.name;
  card.dataset.kind = dashboard.chart.kind;
  card.dataset.state = "loading";
  card.innerHTML = `
    <div class="card-head">
      <h2></h2>
      <span class="meta card-meta"></span>
    </div>
    <p class="description"></p>
    <div class="card-body"><div class="placeholder">Loading…</div></div>`;
  card.querySelector("h2").textContent = dashboard.title;
  card.querySelector(".description").textContent = dashboard.description || "";
  return card;
}

function setCardMessage(card, cls, text) {
  const body = card.querySelector(".card-body");
  const p = document.createElement("div");
  p.className = cls;
  p.textContent = text;
  body.replaceChildren(p);
}

async function renderCard(entry, result) {
  const { card, dashboard, view } = entry;
  const chart = dashboard.chart;
  const body = card.querySelector(".card-body");
  const rows = result.rows || [];
  const elapsed = typeof result.elapsed_ms === "number" ? ` · ${result.elapsed_ms.toFixed(0)} ms` : "";
  card.querySelector(".card-meta").textContent =
    `${rows.length} row${rows.length === 1 ? "" : "s"}${elapsed}`;
  if (view) { view.finalize(); entry.view = null; }
  if (rows.length === 0) {
    setCardMessage(card, "empty", "No data in this time range.");
    return "empty";
  }
  if (chart.kind === "table") {
    renderTable(body, result.columns, rows, MAX_TABLE_ROWS);
    return "rendered";
  }
  const names = columnNames(result.columns);
  const missing = [chart.x, chart.y, chart.color].filter((c) => c && !names.includes(c));
  if (missing.length) throw new Error(`query result lacks column(s): ${missing.join(", ")}`);
  const { records, xType } = toRecords(result, chart);
  const target = document.createElement("div");
  target.className = "chart";
  body.replaceChildren(target);
  const embedded = await vegaEmbed(target, vegaLiteSpec(chart, records, xType),
                                   { mode: "vega-lite", actions: false, renderer: "svg" });
  entry.view = embedded.view;
  return "rendered";
}

// The server's error message: FastAPI's {"detail": "..."} or its list of validation errors.
function detailText(payload, response) {
  const detail = payload && payload.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return `HTTP ${response.status} ${response.statusText}`.trim();
}

async function loadCard(entry, range, seq) {
  const { card, dashboard } = entry;
  card.dataset.state = "loading";
  card.classList.add("busy");
  const params = new URLSearchParams({ start: range.start.toISOString(),
                                       end: range.end.toISOString() });
  let outcome;
  try {
    const response = await fetch(`api/dashboards/${encodeURIComponent(dashboard.name)}?${params}`);
    const payload = await response.json().catch(() => ({}));
    if (seq !== state.seq) return;
    if (!response.ok) throw new Error(detailText(payload, response));
    outcome = await renderCard(entry, payload);
  } catch (err) {
    if (seq !== state.seq) return;
    if (entry.view) { entry.view.finalize(); entry.view = null; }
    card.querySelector(".card-meta").textContent = "";
    setCardMessage(card, "error", `Query failed: ${err.message || err}`);
    outcome = "error";
  }
  card.classList.remove("busy");
  card.dataset.state = outcome;
}

async function refreshAll() {
  const range = currentRange();
  if (!range) {
    showPageError("Choose a custom range with From before To.");
    return;
  }
  showPageError(null);
  $("range-label").textContent = describeRange(range);
  const seq = ++state.seq;
  await Promise.all([...state.cards.values()].map((entry) => loadCard(entry, range, seq)));
  if (seq === state.seq) {
    $("last-updated").textContent = new Date().toLocaleTimeString();
    $("last-updated").dateTime = new Date().toISOString();
  }
}

function showPageError(text) {
  const box = $("page-error");
  box.hidden = !text;
  box.textContent = text || "";
}

async function loadDashboards() {
  try {
    const response = await fetch("api/dashboards");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    state.dashboards = await response.json();
  } catch (err) {
    showPageError(`Could not load the dashboard list: ${err.message || err}`);
    return false;
  }
  const grid = $("cards");
  grid.replaceChildren();
  state.cards.clear();
  for (const dashboard of state.dashboards) {
    const card = createCard(dashboard);
    grid.appendChild(card);
    state.cards.set(dashboard.name, { card, dashboard, view: null });
  }
  if (state.dashboards.length === 0) showPageError("The server lists no dashboards.");
  return true;
}

// ---------------------------------------------------------------- auto-refresh

function scheduleRefresh() {
  clearInterval(state.timer);
  state.timer = null;
  if (!$("auto-refresh").checked) return;
  const seconds = Number($("refresh-interval").value);
  state.timer = setInterval(() => { if (!document.hidden) refreshAll(); }, seconds * 1000);
}

// ---------------------------------------------------------------- SQL box

async function runSql(event) {
  event.preventDefault();
  const out = $("sql-result");
  const status = $("sql-status");
  const sql = $("sql").value.trim();
  if (!sql) return;
  out.dataset.state = "loading";
  status.textContent = "Running…";
  $("sql-run").disabled = true;
  try {
    const response = await fetch("api/sql", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sql, format: "json" }),
    });
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(detailText(payload, response));
    const rows = payload.rows || [];
    renderTable(out, payload.columns || [], rows, 500);
    const elapsed = typeof payload.elapsed_ms === "number" ? ` in ${payload.elapsed_ms.toFixed(0)} ms` : "";
    status.textContent = `${rows.length} row${rows.length === 1 ? "" : "s"}${elapsed}`;
    out.dataset.state = "rendered";
  } catch (err) {
    const p = document.createElement("div");
    p.className = "error";
    p.textContent = err.message || String(err);
    out.replaceChildren(p);
    status.textContent = "Error";
    out.dataset.state = "error";
  } finally {
    $("sql-run").disabled = false;
  }
}

// ---------------------------------------------------------------- wiring

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const range = params.get("range");
  if (range && (range in RANGES_MS || range === "custom")) $("range").value = range;
  // from/to: a datetime-local value (local time) or any ISO 8601 instant, e.g. ...Z
  for (const key of ["from", "to"]) {
    const date = params.get(key) ? new Date(params.get(key)) : null;
    if (date && !isNaN(date)) $(key).value = toLocalInput(date);
  }
}

function writeHash() {
  const params = new URLSearchParams({ range: $("range").value });
  if ($("range").value === "custom") {
    params.set("from", $("from").value);
    params.set("to", $("to").value);
  }
  history.replaceState(null, "", `#${params}`);
}

function onRangeChange() {
  const custom = $("range").value === "custom";
  $("custom-range").hidden = !custom;
  if (custom && !$("from").value) {
    const now = new Date();
    $("from").value = toLocalInput(new Date(now.getTime() - RANGES_MS["24h"]));
    $("to").value = toLocalInput(now);
  }
  writeHash();
  if (!custom) refreshAll();
}

async function main() {
  readHash();
  $("custom-range").hidden = $("range").value !== "custom";
  $("range").addEventListener("change", onRangeChange);
  $("controls").addEventListener("submit", (e) => { e.preventDefault(); writeHash(); refreshAll(); });
  $("refresh").addEventListener("click", () => refreshAll());
  $("auto-refresh").addEventListener("change", scheduleRefresh);
  $("refresh-interval").addEventListener("change", scheduleRefresh);
  $("sql-form").addEventListener("submit", runSql);
  $("sql").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("sql-form").requestSubmit();
  });
  if (typeof vegaEmbed !== "function") {
    showPageError("The chart library failed to load (static/vendor).");
  }
  if (await loadDashboards()) {
    await refreshAll();
    scheduleRefresh();
  }
}

document.addEventListener("DOMContentLoaded", main);
