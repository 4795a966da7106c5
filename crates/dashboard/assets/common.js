// Shared by every page: API access, the live feeds, formatting, charts and the page frame.
"use strict";

const MOM = (() => {
  const meta = (name) => {
    const el = document.querySelector(`meta[name="${name}"]`);
    return el ? el.getAttribute("content") : "";
  };
  const bases = {
    oee: meta("mom-oee-api"),
    // "none" when this instance serves no projections (their pages say so instead of asking).
    projections: meta("mom-projections-api"),
  };

  /** Fetches JSON; resolves to null on 404 (nothing there yet), throws on other failures. */
  async function getJson(base, path) {
    const response = await fetch(base + path, { cache: "no-store", headers: { Accept: "application/json" } });
    if (response.status === 404) return null;
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return response.json();
  }

  const oee = (path) => getJson(bases.oee, path);
  const hasProjections = () => bases.projections !== "none";
  const projections = (path) => (hasProjections() ? getJson(bases.projections, path) : Promise.resolve(null));

  // ---- live feeds -------------------------------------------------------------------------
  const feeds = new Map();
  function updateLive() {
    const el = document.getElementById("live");
    if (!el) return;
    const states = [...feeds.values()].map((f) => f.state);
    const state = states.length === 0 ? "offline" : states.every((s) => s === "live") ? "live" : states.some((s) => s === "live") ? "live" : "connecting";
    el.dataset.state = state;
    el.querySelector("b").textContent = state === "live" ? "live" : state === "offline" ? "offline" : "connecting";
  }

  /**
   * Follows the server-sent events at `url` (events named in `events`); calls `onChange` once
   * per burst of events (debounced by `delayMs`), never on a timer of its own.
   */
  function follow(url, events, onChange, delayMs = 400) {
    const feed = { state: "connecting", source: null };
    feeds.set(url, feed);
    let timer = null;
    const changed = (event) => {
      if (timer) return;
      timer = setTimeout(() => { timer = null; onChange(event); }, delayMs);
    };
    const source = new EventSource(url);
    feed.source = source;
    source.onopen = () => { feed.state = "live"; updateLive(); };
    source.onerror = () => { feed.state = source.readyState === EventSource.CLOSED ? "offline" : "connecting"; updateLive(); };
    for (const name of events) source.addEventListener(name, changed);
    source.onmessage = changed;
    updateLive();
    return source;
  }

  // A page left for another keeps no feed open: the browser allows six connections per host
  // over HTTP/1.1, and a page kept in the back-forward cache with its event streams open would
  // hold them, until the next page's requests wait forever. A page restored from that cache
  // loads again, so its feeds and figures are fresh.
  window.addEventListener("pagehide", () => {
    for (const feed of feeds.values()) if (feed.source) feed.source.close();
  });
  window.addEventListener("pageshow", (event) => { if (event.persisted) location.reload(); });

  // ---- time and formatting ----------------------------------------------------------------
  const pad = (n) => String(n).padStart(2, "0");
  const hourFloor = (date) => { const d = new Date(date); d.setUTCMinutes(0, 0, 0); return d; };
  const iso = (date) => new Date(date).toISOString().replace(/\.\d{3}Z$/, "Z");
  const hours = (h) => new Date(Date.now() + h * 3600e3);
  const clock = (date) => { const d = new Date(date); return `${pad(d.getHours())}:${pad(d.getMinutes())}`; };
  const dateTime = (date) => {
    if (!date) return "—";
    const d = new Date(date);
    if (Number.isNaN(d.getTime())) return String(date);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(d)}`;
  };
  const pct = (ratio, digits = 1) => (ratio == null || Number.isNaN(ratio) ? "—" : `${(ratio * 100).toFixed(digits)}`);
  const pctText = (ratio, digits = 1) => (ratio == null || Number.isNaN(ratio) ? "—" : `${pct(ratio, digits)} %`);
  function duration(seconds) {
    if (seconds == null || Number.isNaN(seconds)) return "—";
    const s = Math.round(Math.abs(seconds));
    const sign = seconds < 0 ? "−" : "";
    if (s < 60) return `${sign}${s} s`;
    if (s < 3600) return `${sign}${Math.floor(s / 60)} min ${pad(s % 60)} s`;
    return `${sign}${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  }
  const minutes = (seconds) => (seconds == null ? "—" : `${(seconds / 60).toFixed(1)}`);
  const tone = (ratio) => (ratio == null ? "" : ratio >= 0.75 ? "tone-good" : ratio >= 0.55 ? "tone-warn" : "tone-bad");
  const esc = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const humanize = (name) => String(name ?? "").replace(/_/g, " ");

  const LOSSES = [
    ["equipment_failure", "Equipment failure"],
    ["setup_and_adjustments", "Setup & adjustments"],
    ["small_stops", "Small stops"],
    ["reduced_speed", "Reduced speed"],
    ["startup_rejects", "Startup rejects"],
    ["production_rejects", "Production rejects"],
  ];
  const LOSS_COLORS = ["#e5484d", "#4da3ff", "#f5b83d", "#a78bfa", "#ff8a4c", "#f472b6"];
  const STATES = ["running", "stopped", "down", "setup", "starved", "planned_shutdown", "unknown"];
  const STATE_COLORS = {
    running: "#2fbf71", stopped: "#e5484d", down: "#ff6b3d", setup: "#4da3ff",
    starved: "#f5b83d", planned_shutdown: "#6b7a99", unknown: "#3a4863",
  };
  const stateBadge = (state) => `<span class="state" data-state="${esc(state || "unknown")}">${esc(humanize(state || "unknown"))}</span>`;

  // ---- the OEE hierarchy and periods ------------------------------------------------------
  /** Returns {sites, areas, lines: [{id, area, units: [id]}], unitLine: {unit: line}}. */
  async function hierarchy() {
    const data = (await oee("/api/oee/assets")) || { assets: [] };
    const by = (level) => data.assets.filter((a) => a.level === level);
    const lines = by("work_center").map((wc) => ({
      id: wc.id, area: wc.parent,
      units: by("work_unit").filter((u) => u.parent === wc.id).map((u) => u.id).sort(),
    })).sort((a, b) => a.area.localeCompare(b.area) || a.id.localeCompare(b.id));
    const unitLine = {};
    for (const line of lines) for (const unit of line.units) unitLine[unit] = line;
    const orphans = by("work_unit").filter((u) => !unitLine[u.id]).map((u) => u.id);
    if (orphans.length) lines.push({ id: "unassigned", area: "", units: orphans, orphan: true });
    return { sites: by("site").map((s) => s.id), areas: by("area"), lines, unitLine };
  }

  /**
   * The latest shift with figures for a scope query (`work_unit=press-1`) as of `asOf` ("now",
   * or the RFC 3339 instant an earlier answer used): the shift in progress then has its figures
   * so far (`shift.as_of` set), not the current state stretched to the shift's end. Resolves to
   * {shift, asOf}: the shift or null, and the instant the API used, so the page's other
   * requests can ask for the very same instant.
   */
  async function currentShift(scope, asOf = "now") {
    const data = await oee(`/api/oee?${scope}&granularity=shift&from=${iso(hourFloor(hours(-24)))}&to=${iso(hourFloor(hours(10)))}&as_of=${encodeURIComponent(asOf)}`);
    const at = (data && data.as_of) || asOf;
    // Periods starting after as_of are left out, so the last one is the latest started.
    return { shift: data && data.periods.length ? data.periods[data.periods.length - 1] : null, asOf: at };
  }

  // ---- charts -----------------------------------------------------------------------------
  const charts = new Set();
  const textStyle = { color: "#8a9ab5", fontFamily: "Inter, Segoe UI, Roboto, Arial, sans-serif" };
  function chart(el) {
    let instance = echarts.getInstanceByDom(el);
    if (!instance) {
      instance = echarts.init(el, null, { renderer: "canvas" });
      charts.add(instance);
    }
    return instance;
  }
  window.addEventListener("resize", () => { for (const c of charts) c.resize(); });
  const axis = {
    axisLine: { lineStyle: { color: "#22314d" } },
    axisLabel: { color: "#8a9ab5" },
    splitLine: { lineStyle: { color: "#1a2640" } },
  };
  const tooltip = { backgroundColor: "#17233a", borderColor: "#22314d", textStyle: { color: "#e6edf7" } };

  function gaugeOption(value, label) {
    return {
      series: [{
        type: "gauge", startAngle: 210, endAngle: -30, min: 0, max: 100, radius: "98%", center: ["50%", "56%"],
        progress: { show: true, width: 16, roundCap: true, itemStyle: { color: value == null ? "#3a4863" : value >= 75 ? "#2fbf71" : value >= 55 ? "#f5b83d" : "#e5484d" } },
        axisLine: { roundCap: true, lineStyle: { width: 16, color: [[1, "#1c2942"]] } },
        pointer: { show: false }, axisTick: { show: false }, splitLine: { show: false }, axisLabel: { show: false },
        title: { show: true, offsetCenter: [0, "38%"], color: "#8a9ab5", fontSize: 13 },
        detail: { valueAnimation: true, offsetCenter: [0, "2%"], fontSize: 40, fontWeight: 700, color: "#e6edf7", formatter: (v) => (value == null ? "—" : `${v.toFixed(1)}%`) },
        data: [{ value: value == null ? 0 : value, name: label }],
      }],
    };
  }

  // ---- page frame -------------------------------------------------------------------------
  function startClock() {
    const el = document.getElementById("clock");
    const tick = () => { if (el) el.textContent = clock(new Date()); };
    tick();
    // A clock is the one thing that changes with time alone.
    setInterval(tick, 15000);
  }
  const main = () => document.getElementById("main");
  function note(text) { const el = document.getElementById("footer-note"); if (el) el.textContent = text; }
  function updated() { document.body.dataset.updated = String(Date.now()); note(`Updated ${new Date().toLocaleTimeString()}`); }
  function failed(where, err) {
    note(`${where}: ${err.message}`);
    document.body.dataset.failed = `${where}: ${err.message}`;
  }
  /** Wraps an async `fn` so calls during a run coalesce into one more run after it. */
  function serial(fn) {
    let running = null, again = false;
    const run = async () => {
      if (running) { again = true; return running; }
      running = (async () => {
        do { again = false; await fn(); } while (again);
      })().catch((err) => failed(document.body.dataset.page, err)).finally(() => { running = null; });
      return running;
    };
    return run;
  }
  const pages = {};
  function page(id, render) { pages[id] = render; }
  document.addEventListener("DOMContentLoaded", () => {
    startClock();
    // Without the equipment read model there are no states to show: no grey badges then.
    if (!hasProjections()) document.body.classList.add("no-state");
    const render = pages[document.body.dataset.page];
    if (render) render(main()).catch((err) => failed("page", err));
  });

  return {
    bases, oee, projections, hasProjections, follow, hierarchy, currentShift,
    iso, hours, hourFloor, clock, dateTime, pct, pctText, duration, minutes, tone, esc, humanize,
    LOSSES, LOSS_COLORS, STATES, STATE_COLORS, stateBadge,
    chart, axis, tooltip, textStyle, gaugeOption, page, updated, failed, note, serial,
  };
})();
