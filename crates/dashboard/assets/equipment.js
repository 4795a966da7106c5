// The equipment page: one work unit's shift in detail (state timeline, OEE trend, six-big-loss
// waterfall, loss Pareto by reason, downtime log).
"use strict";

MOM.page("equipment", async (main) => {
  const tree = await MOM.hierarchy();
  const params = new URLSearchParams(location.search);
  const all = tree.lines.flatMap((line) => line.units);
  const unit = params.get("work_unit") || all[0];
  if (!unit) {
    main.innerHTML = `<div class="empty">No work units registered yet.</div>`;
    return;
  }
  const line = tree.unitLine[unit];
  const options = all.map((u) => `<option value="${MOM.esc(u)}"${u === unit ? " selected" : ""}>${MOM.esc(u)}</option>`).join("");
  main.innerHTML = `
    <div class="page-head">
      <div><div class="crumbs"><a href="/">Overview</a> › ${MOM.esc(line && line.area ? `${line.area} › ` : "")}${MOM.esc(line && !line.orphan ? line.id : "")}</div>
        <h1><span id="unit-name">${MOM.esc(unit)}</span> <span id="unit-state">${MOM.stateBadge("unknown")}</span></h1>
        <div class="sub" id="unit-sub">Current shift</div></div>
      <label>Work unit <select class="select" id="unit-select">${options}</select></label>
    </div>
    <div class="grid hero">
      <section class="panel"><h2>OEE this shift <small id="unit-ppt"></small></h2>
        <div class="oee-hero"><div class="gauge" id="unit-gauge"></div><div class="apq" id="unit-apq"></div></div>
      </section>
      <section class="panel"><h2>State timeline <small id="timeline-span"></small></h2><div class="chart small" id="timeline"></div></section>
    </div>
    <div class="grid cols-2">
      <section class="panel"><h2>From planned production time to fully productive time <small>minutes this shift so far</small></h2><div class="chart" id="waterfall"></div></section>
      <section class="panel"><h2>OEE trend <small>per hour, last 24 h</small></h2><div class="chart" id="trend"></div></section>
    </div>
    <div class="grid cols-2">
      <section class="panel"><h2>Loss Pareto by reason <small>this shift so far</small></h2><div class="chart tall" id="pareto"></div></section>
      <section class="panel"><h2>Downtime log <small>newest first</small></h2><div id="downtime" class="table-wrap short"></div></section>
    </div>
    <div class="grid cols-2">
      <section class="panel"><h2>Losses by category <small>reason catalogue, this shift so far</small></h2><div id="pareto-category" class="table-wrap short"></div></section>
    </div>`;
  document.getElementById("unit-select").addEventListener("change", (e) => {
    location.href = `/equipment?work_unit=${encodeURIComponent(e.target.value)}`;
  });
  const scope = `work_unit=${encodeURIComponent(unit)}`;

  function apq(f) {
    const bar = (name, ratio) => `<div class="bar"><span class="name">${name}</span><span class="track"><span class="fill" style="width:${ratio == null ? 0 : Math.min(100, ratio * 100)}%"></span></span><span class="num" data-figure="${name.toLowerCase()}">${MOM.pctText(ratio)}</span></div>`;
    return bar("Availability", f && f.availability) + bar("Performance", f && f.performance) + bar("Quality", f && f.quality)
      + (f ? `<div class="bar"><span class="name">Good / total</span><span></span><span class="num">${f.good_count} / ${f.total_count}</span></div>` : "");
  }

  function waterfall(f) {
    const m = (s) => +(s / 60).toFixed(2);
    const names = ["Planned production", ...MOM.LOSSES.map(([, name]) => name), "Fully productive"];
    const base = [], loss = [], ends = [];
    if (f) {
      let left = m(f.planned_production_time_s);
      base.push(0); loss.push(null); ends.push(left);
      for (const [key] of MOM.LOSSES) {
        const v = m(f.losses_s[key]);
        left = +(left - v).toFixed(2);
        base.push(Math.max(0, left)); loss.push(v); ends.push(null);
      }
      base.push(0); loss.push(null); ends.push(m(f.fully_productive_time_s));
    }
    MOM.chart(document.getElementById("waterfall")).setOption({
      grid: { left: 48, right: 16, top: 24, bottom: 62 },
      tooltip: { ...MOM.tooltip, trigger: "axis", axisPointer: { type: "shadow" },
        formatter: (items) => { const it = items.find((i) => i.seriesName !== "base" && i.value != null); return it ? `${it.name}<br><b>${it.value.toFixed(1)} min</b>` : ""; } },
      xAxis: { type: "category", data: names, ...MOM.axis, axisLabel: { color: "#c5d0e3", interval: 0, rotate: 28, fontSize: 11 } },
      yAxis: { type: "value", ...MOM.axis },
      series: [
        { name: "base", type: "bar", stack: "w", itemStyle: { color: "transparent" }, emphasis: { disabled: true }, data: base },
        { name: "loss", type: "bar", stack: "w", data: loss.map((v, i) => (v == null ? null : { value: v, itemStyle: { color: MOM.LOSS_COLORS[i - 1] } })),
          label: { show: true, position: "top", color: "#c5d0e3", formatter: (p) => (p.value ? p.value.toFixed(1) : "") } },
        { name: "total", type: "bar", stack: "w", data: ends.map((v, i) => (v == null ? null : { value: v, itemStyle: { color: i === 0 ? "#4f6a96" : "#2fbf71" } })),
          label: { show: true, position: "top", color: "#e6edf7", fontWeight: 700, formatter: (p) => (p.value ? p.value.toFixed(1) : "") } },
      ],
    });
  }

  function trend(periods) {
    const series = [["OEE", "oee", "#2fbf71", 3], ["Availability", "availability", "#4da3ff", 1.5], ["Performance", "performance", "#a78bfa", 1.5], ["Quality", "quality", "#f5b83d", 1.5]];
    MOM.chart(document.getElementById("trend")).setOption({
      grid: { left: 44, right: 16, top: 36, bottom: 28 },
      legend: { top: 0, textStyle: { color: "#8a9ab5" }, itemWidth: 14 },
      tooltip: { ...MOM.tooltip, trigger: "axis", valueFormatter: (v) => (v == null ? "—" : `${v.toFixed(1)} %`) },
      xAxis: { type: "time", ...MOM.axis, axisLabel: { color: "#8a9ab5", formatter: "{HH}:{mm}" } },
      yAxis: { type: "value", min: 0, max: 100, ...MOM.axis, axisLabel: { color: "#8a9ab5", formatter: "{value} %" } },
      series: series.map(([name, key, color, width]) => ({
        name, type: "line", smooth: false, showSymbol: periods.length < 12, symbolSize: 5, connectNulls: false, lineStyle: { width, color }, itemStyle: { color },
        areaStyle: key === "oee" ? { color: new echarts.graphic.LinearGradient(0, 0, 0, 1, [{ offset: 0, color: "rgba(47,191,113,.28)" }, { offset: 1, color: "rgba(47,191,113,0)" }]) } : undefined,
        data: periods.map((p) => [p.start, p[key] == null ? null : +(p[key] * 100).toFixed(2)]),
      })),
    });
  }

  function pareto(data) {
    const rows = [];
    for (const loss of (data && data.losses) || []) {
      for (const r of loss.reasons) if (r.seconds > 0) rows.push({ name: `${MOM.humanize(r.reason)}`, loss: loss.loss, minutes: r.seconds / 60 });
    }
    rows.sort((a, b) => b.minutes - a.minutes);
    // A reason can appear under two losses (a dimension reject in and after the startup window).
    const seen = {};
    for (const r of rows) seen[r.name] = (seen[r.name] || 0) + 1;
    for (const r of rows) if (seen[r.name] > 1) r.name = `${r.name} (${MOM.humanize(r.loss).split(" ")[0]})`;
    const top = rows.slice(0, 10);
    const total = rows.reduce((sum, r) => sum + r.minutes, 0) || 1;
    let running = 0;
    const cumulative = top.map((r) => { running += r.minutes; return +((running / total) * 100).toFixed(1); });
    const lossIndex = (key) => MOM.LOSSES.findIndex(([k]) => k === key);
    MOM.chart(document.getElementById("pareto")).setOption({
      grid: { left: 44, right: 44, top: 24, bottom: 70 },
      tooltip: { ...MOM.tooltip, trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "category", data: top.map((r) => r.name), ...MOM.axis, axisLabel: { color: "#c5d0e3", interval: 0, rotate: 28, fontSize: 11, width: 96, overflow: "truncate" } },
      yAxis: [{ type: "value", name: "min", nameTextStyle: { color: "#8a9ab5" }, ...MOM.axis }, { type: "value", min: 0, max: 100, ...MOM.axis, splitLine: { show: false }, axisLabel: { color: "#8a9ab5", formatter: "{value}%" } }],
      series: [
        { name: "Minutes", type: "bar", barWidth: "55%", data: top.map((r) => ({ value: +r.minutes.toFixed(1), itemStyle: { color: MOM.LOSS_COLORS[Math.max(0, lossIndex(r.loss))], borderRadius: [4, 4, 0, 0] } })) },
        { name: "Cumulative", type: "line", yAxisIndex: 1, data: cumulative, symbolSize: 6, lineStyle: { color: "#e6edf7", width: 1.5 }, itemStyle: { color: "#e6edf7" } },
      ],
      graphic: top.length ? [] : [{ type: "text", left: "center", top: "middle", style: { text: "No losses this shift", fill: "#8a9ab5", fontSize: 14 } }],
    });
  }

  // The loss Pareto grouped by the site's reason catalogue (docs/reason-codes.md).
  function byCategory(data) {
    const rows = ((data && data.by_category) || []).filter((c) => c.seconds > 0);
    const total = rows.reduce((sum, c) => sum + c.seconds, 0) || 1;
    const el = document.getElementById("pareto-category");
    el.dataset.rows = rows.length;
    el.innerHTML = rows.length
      ? `<table class="data"><thead><tr><th>Category</th><th class="num">Minutes</th><th class="num">Share</th></tr></thead><tbody>${rows.map((c) => `<tr data-category="${MOM.esc(c.code)}"><td>${MOM.esc(c.name)}</td><td class="num">${(c.seconds / 60).toFixed(1)}</td><td class="num">${((c.seconds / total) * 100).toFixed(0)} %</td></tr>`).join("")}</tbody></table>`
      : `<div class="empty">No losses this shift</div>`;
  }

  function timeline(intervals, log, from, to) {
    const start = Date.parse(from), end = Math.min(Date.parse(to), Date.now());
    const bar = (state, from, to, reason) => {
      const a = Math.max(start, Date.parse(from)), b = Math.min(end, to ? Date.parse(to) : end);
      return { value: [0, a, b, state, reason || ""], itemStyle: { color: MOM.STATE_COLORS[state] || MOM.STATE_COLORS.unknown } };
    };
    // Production's run/stop/setup states, with maintenance's breakdowns ("down") and
    // inventory's starvations drawn over them (later items are drawn on top), as the unit's
    // tile reports them.
    const overlay = { breakdown: "down", starvation: "starved" };
    const data = (intervals || []).map((i) => bar(i.state, i.from, i.to, i.reason))
      .concat(((log && log.downtime) || []).filter((d) => overlay[d.kind]).map((d) => bar(overlay[d.kind], d.from, d.to, d.reason)))
      .filter((d) => d.value[2] > d.value[1]);
    const states = [...new Set(data.map((d) => d.value[3]))];
    MOM.chart(document.getElementById("timeline")).setOption({
      grid: { left: 26, right: 26, top: 10, bottom: 52 },
      tooltip: { ...MOM.tooltip, formatter: (p) => `<b>${MOM.humanize(p.value[3])}</b>${p.value[4] ? ` · ${MOM.esc(MOM.humanize(p.value[4]))}` : ""}<br>${MOM.clock(p.value[1])}–${MOM.clock(p.value[2])} (${MOM.duration((p.value[2] - p.value[1]) / 1000)})` },
      legend: { bottom: 0, data: states.map((s) => ({ name: MOM.humanize(s), itemStyle: { color: MOM.STATE_COLORS[s] } })), textStyle: { color: "#8a9ab5" }, selectedMode: false },
      xAxis: { type: "time", min: start, max: Date.parse(to), ...MOM.axis, axisLabel: { color: "#8a9ab5", formatter: "{HH}:{mm}", alignMinLabel: "left", alignMaxLabel: "right" } },
      yAxis: { type: "category", data: [""], show: false },
      series: [
        { type: "custom", encode: { x: [1, 2], y: 0 }, data,
          renderItem: (params, api) => {
            const a = api.coord([api.value(1), 0]), b = api.coord([api.value(2), 0]);
            const h = api.size([0, 1])[1] * 0.7;
            const rect = echarts.graphic.clipRectByRect({ x: a[0], y: a[1] - h / 2, width: Math.max(1, b[0] - a[0]), height: h },
              { x: params.coordSys.x, y: params.coordSys.y, width: params.coordSys.width, height: params.coordSys.height });
            return rect && { type: "rect", shape: rect, style: api.style() };
          } },
        ...states.map((s) => ({ name: MOM.humanize(s), type: "bar", data: [], itemStyle: { color: MOM.STATE_COLORS[s] } })),
      ],
      graphic: data.length ? [] : [{ type: "text", left: "center", top: "middle", style: { text: MOM.hasProjections() ? "No state changes recorded this shift" : "State timeline needs the projections read models", fill: "#8a9ab5", fontSize: 14 } }],
    }, true);
  }

  function downtime(data) {
    const rows = (data && data.downtime) || [];
    document.getElementById("downtime").innerHTML = rows.length
      ? `<table class="data"><thead><tr><th>From</th><th>Kind</th><th>Reason</th><th class="num">Duration</th></tr></thead><tbody>${rows.slice(0, 50).map((d) => `<tr><td>${MOM.dateTime(d.from)}</td><td>${MOM.stateBadge({ breakdown: "down", starvation: "starved", stop: "stopped" }[d.kind] || d.kind)}</td><td>${MOM.esc(MOM.humanize(d.reason))}</td><td class="num">${d.to ? MOM.duration(d.duration_ms / 1000) : "ongoing"}</td></tr>`).join("")}</tbody></table>`
      : `<div class="empty">${MOM.hasProjections() ? "No downtime recorded yet." : "The downtime log needs the projections read models."}</div>`;
  }

  async function load() {
    // The shift's answer fixes the instant ("now" on the server); the hours and the Pareto are
    // asked as of the same instant, so the hour and the shift in progress end where it does.
    const { shift, asOf } = await MOM.currentShift(scope);
    const at = `&as_of=${encodeURIComponent(asOf)}`;
    const from = shift ? shift.start : MOM.iso(MOM.hourFloor(MOM.hours(-8)));
    const to = shift ? shift.end : MOM.iso(MOM.hourFloor(MOM.hours(1)));
    const enc = encodeURIComponent;
    const [hourly, losses, equipment, intervals, log] = await Promise.all([
      MOM.oee(`/api/oee?${scope}&granularity=hour&from=${MOM.iso(MOM.hourFloor(MOM.hours(-23)))}&to=${MOM.iso(MOM.hourFloor(MOM.hours(1)))}${at}`),
      MOM.oee(`/api/oee/losses?${scope}&from=${enc(from)}&to=${enc(to)}${at}`),
      MOM.projections(`/api/equipment?work_center=${enc(line && !line.orphan ? line.id : "")}`).catch(() => null),
      MOM.projections(`/api/equipment/timeline?${scope}&from=${enc(from)}&to=${enc(to)}&page_size=1000`).catch(() => null),
      MOM.projections(`/api/equipment/downtime?${scope}&page_size=50`).catch(() => null),
    ]);
    const state = ((equipment && equipment.equipment) || []).find((e) => e.work_unit === unit);
    document.getElementById("unit-state").innerHTML = MOM.stateBadge(state ? state.state : "unknown");
    main.dataset.state = state ? state.state : "unknown";
    if (shift) {
      main.dataset.shiftStart = shift.start;
      main.dataset.asOf = asOf;
      document.getElementById("unit-sub").textContent = `Shift ${shift.label || ""} · ${MOM.clock(shift.start)}–${MOM.clock(shift.end)}${shift.as_of ? ` · so far (as of ${MOM.clock(shift.as_of)})` : ""}${state && state.product ? ` · making ${state.product}` : ""}${state && state.since ? ` · ${MOM.humanize(state.state)} since ${MOM.clock(state.since)}` : ""}`;
    } else {
      document.getElementById("unit-sub").textContent = "No production recorded this shift yet";
    }
    document.getElementById("unit-ppt").textContent = shift ? `planned ${MOM.duration(shift.planned_production_time_s)}${shift.as_of ? " so far" : ""}` : "";
    const gauge = document.getElementById("unit-gauge");
    gauge.dataset.oee = shift && shift.oee != null ? shift.oee : "";
    MOM.chart(gauge).setOption(MOM.gaugeOption(shift && shift.oee != null ? +(shift.oee * 100).toFixed(1) : null, "OEE"));
    document.getElementById("unit-apq").innerHTML = apq(shift);
    waterfall(shift);
    trend((hourly && hourly.periods) || []);
    pareto(losses);
    byCategory(losses);
    document.getElementById("timeline-span").textContent = `${MOM.clock(from)}–${MOM.clock(to)}`;
    timeline(intervals && intervals.intervals, log, from, to);
    downtime(log);
    MOM.updated();
  }
  const refresh = MOM.serial(load);
  await refresh();
  MOM.follow(`${MOM.bases.oee}/api/oee/watch?${scope}&granularity=hour`, ["period"], refresh, 600);
  if (MOM.hasProjections()) MOM.follow(`${MOM.bases.projections}/api/projections/watch`, ["equipment"], refresh, 300);
});
