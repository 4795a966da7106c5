// The plant overview: every line and work unit with its state and current-shift OEE.
"use strict";

MOM.page("overview", async (main) => {
  const params = new URLSearchParams(location.search);
  main.innerHTML = `
    <div class="page-head">
      <div><div class="crumbs" id="site-name">Plant</div><h1>Plant overview</h1><div class="sub" id="shift-name">Current shift</div></div>
      <div class="legend">${["running", "stopped", "down", "setup", "starved", "unknown"].map(MOM.stateBadge).join("")}</div>
    </div>
    <div class="grid hero">
      <section class="panel"><h2>Plant OEE <small id="plant-span"></small></h2>
        <div class="oee-hero"><div class="gauge" id="plant-gauge"></div><div class="apq" id="plant-apq"></div></div>
      </section>
      <section class="panel"><h2>Six big losses this shift <small>minutes so far</small></h2><div class="chart small" id="plant-losses"></div></section>
    </div>
    <div id="lines" class="grid"></div>`;

  let site = params.get("site");
  let watching = false;

  const apqBars = (f) => [["Availability", f && f.availability], ["Performance", f && f.performance], ["Quality", f && f.quality]]
    .map(([name, ratio]) => `<div class="bar"><span class="name">${name}</span><span class="track"><span class="fill" style="width:${ratio == null ? 0 : Math.min(100, ratio * 100)}%"></span></span><span class="num" data-figure="${name.toLowerCase()}">${MOM.pctText(ratio)}</span></div>`)
    .join("") + (f ? `<div class="bar"><span class="name">Good / total</span><span></span><span class="num">${f.good_count} / ${f.total_count}</span></div>` : "");

  function renderLosses(f) {
    const chart = MOM.chart(document.getElementById("plant-losses"));
    const values = MOM.LOSSES.map(([key]) => (f ? f.losses_s[key] / 60 : 0));
    chart.setOption({
      grid: { left: 150, right: 50, top: 6, bottom: 22 },
      tooltip: { ...MOM.tooltip, trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => `${v.toFixed(1)} min` },
      xAxis: { type: "value", ...MOM.axis },
      yAxis: { type: "category", inverse: true, data: MOM.LOSSES.map(([, name]) => name), ...MOM.axis, axisLabel: { color: "#c5d0e3", fontSize: 13 } },
      series: [{
        type: "bar", barWidth: "58%", data: values.map((v, i) => ({ value: +v.toFixed(2), itemStyle: { color: MOM.LOSS_COLORS[i], borderRadius: [0, 4, 4, 0] } })),
        label: { show: true, position: "right", color: "#c5d0e3", formatter: (p) => p.value.toFixed(1) },
      }],
    });
  }

  function tile(unit, figures, state) {
    const s = (state && state.state) || "unknown";
    const since = state && state.since ? `since ${MOM.clock(state.since)}${state.reason ? ` · ${MOM.esc(MOM.humanize(state.reason))}` : ""}` : "";
    const f = figures;
    return `<a class="tile" href="/equipment?work_unit=${encodeURIComponent(unit)}" data-unit="${MOM.esc(unit)}" data-state="${MOM.esc(s)}" data-oee="${f && f.oee != null ? f.oee : ""}">
      <div class="top"><span class="name">${MOM.esc(unit)}</span>${MOM.stateBadge(s)}</div>
      <div class="oee ${MOM.tone(f && f.oee)}"><span data-figure="oee">${MOM.pct(f && f.oee)}</span><small>% OEE</small></div>
      <div class="apq"><span>A<b data-figure="availability">${MOM.pct(f && f.availability)}</b></span><span>P<b data-figure="performance">${MOM.pct(f && f.performance)}</b></span><span>Q<b data-figure="quality">${MOM.pct(f && f.quality)}</b></span></div>
      <div class="since">${since}</div>
    </a>`;
  }

  const refresh = MOM.serial(load);
  async function load() {
    const tree = await MOM.hierarchy();
    if (!site) site = tree.sites[0];
    if (!site) {
      document.getElementById("lines").innerHTML = `<div class="empty">No equipment registered yet. The overview fills in as soon as maintenance registers the plant's assets.</div>`;
      // Without a site there is no feed to follow yet; look again shortly.
      setTimeout(refresh, 3000);
      return;
    }
    document.getElementById("site-name").textContent = `Site ${site}`;
    const q = (level, id) => `${level}=${encodeURIComponent(id)}`;
    const units = tree.lines.flatMap((line) => line.units);
    // The site's answer fixes the instant ("now" on the server); every other figure of this
    // refresh is asked as of that same instant, so lines and units add up to the plant.
    const { shift: plant, asOf } = await MOM.currentShift(q("site", site));
    const shiftOf = (scope) => MOM.currentShift(scope, asOf).then((r) => r.shift);
    const [lineFigures, unitFigures, equipment] = await Promise.all([
      Promise.all(tree.lines.map((line) => (line.orphan ? null : shiftOf(q("work_center", line.id))))),
      Promise.all(units.map((unit) => shiftOf(q("work_unit", unit)))),
      MOM.projections("/api/equipment").catch(() => null),
    ]);
    const figuresOf = Object.fromEntries(units.map((u, i) => [u, unitFigures[i]]));
    const stateOf = {};
    for (const e of (equipment && equipment.equipment) || []) stateOf[e.work_unit] = e;

    const shift = document.getElementById("shift-name");
    if (plant) {
      const left = (Date.parse(plant.end) - Date.now()) / 1000;
      const soFar = plant.as_of ? ` · so far (as of ${MOM.clock(plant.as_of)})` : "";
      shift.textContent = `Shift ${plant.label || ""} · ${MOM.clock(plant.start)}–${MOM.clock(plant.end)}${soFar}${left > 0 ? ` · ${MOM.duration(left).replace(/ \d+ s$/, "")} to go` : ""}`;
      main.dataset.shiftStart = plant.start;
      main.dataset.shiftEnd = plant.end;
      main.dataset.asOf = asOf;
    } else {
      shift.textContent = "No production recorded this shift yet";
    }
    document.getElementById("plant-span").textContent = plant ? `planned ${MOM.duration(plant.planned_production_time_s)}${plant.as_of ? " so far" : ""}` : "";
    MOM.chart(document.getElementById("plant-gauge")).setOption(MOM.gaugeOption(plant && plant.oee != null ? +(plant.oee * 100).toFixed(1) : null, "OEE"));
    document.getElementById("plant-gauge").dataset.oee = plant && plant.oee != null ? plant.oee : "";
    document.getElementById("plant-apq").innerHTML = apqBars(plant);
    renderLosses(plant);

    document.getElementById("lines").innerHTML = tree.lines.map((line, i) => {
      const f = lineFigures[i];
      return `<section class="panel line" data-line="${MOM.esc(line.id)}">
        <div class="line-head"><h3>${MOM.esc(line.orphan ? "Not on a line" : line.id)}</h3><span class="area">${MOM.esc(line.area ? `area ${line.area}` : "")}</span>
          <div class="figs"><span>OEE<b data-figure="oee">${MOM.pctText(f && f.oee)}</b></span><span>A<b>${MOM.pctText(f && f.availability)}</b></span><span>P<b>${MOM.pctText(f && f.performance)}</b></span><span>Q<b>${MOM.pctText(f && f.quality)}</b></span><span>Good<b>${f ? f.good_count : "—"}</b></span></div></div>
        <div class="tiles">${line.units.map((unit) => tile(unit, figuresOf[unit], stateOf[unit])).join("")}</div>
      </section>`;
    }).join("") || `<div class="empty">No work units registered yet.</div>`;

    if (!watching) {
      watching = true;
      MOM.follow(`${MOM.bases.oee}/api/oee/watch?site=${encodeURIComponent(site)}&granularity=hour`, ["period"], refresh, 800);
      if (MOM.hasProjections()) MOM.follow(`${MOM.bases.projections}/api/projections/watch`, ["equipment"], refresh, 300);
    }
    MOM.updated();
  }
  await refresh();
});
