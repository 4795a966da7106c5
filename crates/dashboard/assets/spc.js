// The SPC page: the control charts defined in quality, and per chart (characteristic or process
// parameter) its control chart (points, center line, control limits, the points where a Nelson
// rule fired marked), the dispersion chart below it, the capability figures and the violations.
// It follows the read models' live feed (event "spc") and redraws on each change.
"use strict";

MOM.page("spc", async (main) => {
  const params = new URLSearchParams(location.search);
  main.innerHTML = `
    <div class="page-head">
      <div><h1>Statistical process control <span id="spc-chart-title"></span></h1>
        <div class="sub" id="spc-chart-sub">Control charts with Nelson rules and process capability</div></div>
      <label>Chart <select class="select" id="spc-chart-select"></select></label>
    </div>
    <div class="kpis" id="spc-capability"></div>
    <div class="grid">
      <section class="panel"><h2 id="spc-primary-title">Control chart <small id="spc-primary-note"></small></h2><div class="chart tall" id="spc-primary"></div></section>
      <section class="panel"><h2 id="spc-dispersion-title">Dispersion chart</h2><div class="chart" id="spc-dispersion"></div></section>
    </div>
    <div class="grid cols-2">
      <section class="panel"><h2>Rule violations <small id="spc-violation-count"></small></h2><div class="table-wrap short" id="spc-violations"></div></section>
      <section class="panel"><h2>Charts</h2><div class="table-wrap short" id="spc-chart-list"></div></section>
    </div>`;
  if (!MOM.hasProjections()) {
    document.getElementById("spc-chart-list").innerHTML = `<div class="empty">This instance serves no projections read models, so there are no charts to show.</div>`;
    MOM.updated();
    return;
  }
  const KIND = { i_mr: ["Individuals (X)", "Moving range (MR)"], xbar_r: ["Subgroup means (X̄)", "Ranges (R)"], xbar_s: ["Subgroup means (X̄)", "Standard deviations (S)"], p: ["Fraction defective (p)", null], np: ["Number defective (np)", null], c: ["Defects (c)", null], u: ["Defects per unit (u)", null] };
  const fmt = (v, digits = 4) => (v == null ? "—" : Number(v).toPrecision(digits));
  const kpi = (label, figure, value) => `<div class="kpi"><div class="label">${MOM.esc(label)}</div><div class="value" data-figure="${figure}">${value}</div></div>`;
  const MAX_POINTS = 1000;

  /** Every point of a chart (pages of 1000 followed), the latest MAX_POINTS of them. */
  async function points(id) {
    let all = [], token = "";
    for (let page = 0; page < 20; page++) {
      const data = await MOM.projections(`/api/spc/charts/${encodeURIComponent(id)}/points?page_size=1000${token ? `&page_token=${encodeURIComponent(token)}` : ""}`);
      if (!data) break;
      all = all.concat(data.points);
      if (all.length > MAX_POINTS) all = all.slice(all.length - MAX_POINTS);
      token = data.next_page_token;
      if (!token) break;
    }
    return all;
  }

  function option(pts, part, name) {
    const value = (p) => (part === "primary" ? p.value : p.dispersion);
    const limits = (p) => (part === "primary" ? p.limits : p.dispersion_limits);
    const rules = (p) => (part === "primary" ? p.rules : p.dispersion_rules);
    const x = pts.map((p) => MOM.dateTime(p.subgroup_start));
    const line = (key) => pts.map((p) => (limits(p) ? limits(p)[key] : null));
    const flagged = pts.map((p, i) => (rules(p).length ? { value: [i, value(p)], rules: rules(p) } : null)).filter(Boolean);
    return {
      animation: false,
      grid: { left: 64, right: 24, top: 28, bottom: 40 },
      tooltip: { ...MOM.tooltip, trigger: "axis" },
      legend: { top: 0, textStyle: MOM.textStyle, data: [name, "Center", "UCL", "LCL", "Rule fired"] },
      xAxis: { type: "category", data: x, ...MOM.axis },
      yAxis: { type: "value", scale: true, ...MOM.axis },
      series: [
        { name, type: "line", data: pts.map(value), symbol: "circle", symbolSize: 5, lineStyle: { color: "#4da3ff" }, itemStyle: { color: "#4da3ff" }, connectNulls: false },
        { name: "Center", type: "line", step: "middle", data: line("center"), symbol: "none", lineStyle: { color: "#2fbf71", width: 1 } },
        { name: "UCL", type: "line", step: "middle", data: line("upper"), symbol: "none", lineStyle: { color: "#e5484d", type: "dashed", width: 1 } },
        { name: "LCL", type: "line", step: "middle", data: line("lower"), symbol: "none", lineStyle: { color: "#e5484d", type: "dashed", width: 1 } },
        { name: "Rule fired", type: "scatter", data: flagged, symbolSize: 12, itemStyle: { color: "#e5484d" },
          tooltip: { formatter: (p) => `rules ${p.data.rules.join(", ")}` } },
      ],
    };
  }

  function capability(c, chart) {
    if (!chart.kind || !["i_mr", "xbar_r", "xbar_s"].includes(chart.kind)) {
      return kpi("Points", "points", chart.points) + kpi("Violations", "violations", chart.violations) + kpi("Capability", "cp", "—");
    }
    return kpi("Samples", "count", c ? c.count : 0) + kpi("Mean", "mean", fmt(c && c.mean)) + kpi("σ within", "sigma_within", fmt(c && c.sigma_within))
      + kpi("σ overall", "sigma_overall", fmt(c && c.sigma_overall)) + kpi("Cp", "cp", fmt(c && c.cp, 3)) + kpi("Cpk", "cpk", fmt(c && c.cpk, 3))
      + kpi("Pp", "pp", fmt(c && c.pp, 3)) + kpi("Ppk", "ppk", fmt(c && c.ppk, 3));
  }

  function violationTable(rows) {
    if (!rows.length) return `<div class="empty">No rule violated.</div>`;
    return `<table class="data" id="spc-violation-table"><thead><tr><th>Last point</th><th class="num">Rule</th><th>Part</th><th>Pattern</th><th>Recorded</th></tr></thead><tbody>${rows.map((v) => `
      <tr data-rule="${v.rule}" data-part="${MOM.esc(v.part)}"><td>${MOM.dateTime(v.at)}</td><td class="num">${v.rule}</td><td>${MOM.esc(v.part)}</td><td>${MOM.esc(v.description)} (${v.points.length} points)</td>
      <td>${v.recorded ? `<span class="tag bad">recorded</span>` : `<span class="tag">—</span>`}</td></tr>`).join("")}</tbody></table>`;
  }

  function chartList(charts, selected) {
    if (!charts.length) return `<div class="empty">No control chart defined yet.</div>`;
    return `<table class="data"><thead><tr><th>Chart</th><th>Kind</th><th>Source</th><th class="num">Points</th><th class="num">Violations</th></tr></thead><tbody>${charts.map((c) => `
      <tr${c.chart_id === selected ? ` aria-current="true"` : ""}><td><a href="/spc?chart=${encodeURIComponent(c.chart_id)}" data-chart="${MOM.esc(c.chart_id)}">${MOM.esc(c.chart_id)}</a></td><td>${MOM.esc(c.kind)}</td>
      <td>${MOM.esc(c.source === "parameter" ? `${c.parameter}${c.work_unit ? ` @ ${c.work_unit}` : ""}` : `${c.product} / ${c.operation} / ${c.characteristic}`)}</td>
      <td class="num">${c.points}</td><td class="num">${c.violations ? `<span class="tag bad">${c.violations}</span>` : 0}</td></tr>`).join("")}</tbody></table>`;
  }

  async function load() {
    const list = (await MOM.projections("/api/spc/charts?page_size=1000")) || { charts: [] };
    const charts = list.charts;
    const id = params.get("chart") || (charts[0] && charts[0].chart_id);
    document.getElementById("spc-chart-list").innerHTML = chartList(charts, id);
    const select = document.getElementById("spc-chart-select");
    select.innerHTML = charts.map((c) => `<option value="${MOM.esc(c.chart_id)}"${c.chart_id === id ? " selected" : ""}>${MOM.esc(c.chart_id)}</option>`).join("");
    const chart = charts.find((c) => c.chart_id === id);
    if (!chart) {
      document.getElementById("spc-chart-title").textContent = id ? `${id} (not defined)` : "";
      document.getElementById("spc-capability").innerHTML = "";
      document.body.dataset.spcPoints = "0";
      MOM.updated();
      return;
    }
    document.getElementById("spc-chart-title").textContent = chart.chart_id;
    document.getElementById("spc-chart-sub").textContent = `${chart.description || chart.kind} · spec ${fmt(chart.spec_lower)} … ${fmt(chart.spec_upper)}`;
    const [pts, violations, cap] = await Promise.all([
      points(id),
      MOM.projections(`/api/spc/charts/${encodeURIComponent(id)}/violations?page_size=200`),
      MOM.projections(`/api/spc/charts/${encodeURIComponent(id)}/capability`),
    ]);
    const [primaryName, dispersionName] = KIND[chart.kind] || ["Value", null];
    document.getElementById("spc-primary-title").firstChild.textContent = `${primaryName} `;
    document.getElementById("spc-primary-note").textContent = pts.length && !pts[pts.length - 1].limits ? "baseline incomplete: no limits yet" : `${pts.length} points`;
    MOM.chart(document.getElementById("spc-primary")).setOption(option(pts, "primary", primaryName), true);
    const dispersion = document.getElementById("spc-dispersion");
    dispersion.parentElement.hidden = !dispersionName;
    if (dispersionName) {
      document.getElementById("spc-dispersion-title").textContent = dispersionName;
      MOM.chart(dispersion).setOption(option(pts, "dispersion", dispersionName), true);
    }
    document.getElementById("spc-capability").innerHTML = capability(cap, chart);
    const rows = (violations && violations.violations) || [];
    document.getElementById("spc-violation-count").textContent = rows.length ? `${rows.length}${violations.next_page_token ? "+" : ""}` : "";
    document.getElementById("spc-violations").innerHTML = violationTable(rows);
    document.body.dataset.spcPoints = String(pts.length);
    document.body.dataset.spcViolations = String(rows.length);
    MOM.updated();
  }

  document.getElementById("spc-chart-select").addEventListener("change", (e) => {
    location.href = `/spc?chart=${encodeURIComponent(e.target.value)}`;
  });
  const refresh = MOM.serial(load);
  await refresh();
  MOM.follow(`${MOM.bases.projections}/api/projections/watch`, ["spc"], refresh, 500);
});
