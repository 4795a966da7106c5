// The shifts page: a work center's plant calendar for the coming week, from the OEE service's
// /api/oee/calendar (docs/calendars.md): per local day its shifts with their times and breaks,
// or that it is a holiday or has no shift. The work center is chosen in the page (its URL keeps
// it); its calendar is the one its first work unit follows (by id prefix).
"use strict";

(() => {
  const day = (date) => date.toISOString().slice(0, 10);

  /** "06:00" in the calendar's zone (or the browser's when the day has none). */
  function local(instant, zone) {
    const options = { hour: "2-digit", minute: "2-digit", hour12: false };
    if (zone) options.timeZone = zone;
    return new Intl.DateTimeFormat(undefined, options).format(new Date(instant));
  }

  function shiftCell(s, zone) {
    const breaks = s.breaks.map((b) => `${local(b.from, zone)}–${local(b.to, zone)}`).join(", ");
    return `<div class="shift" data-shift="${MOM.esc(s.name)}"><b>${MOM.esc(s.name)}</b> `
      + `${MOM.esc(local(s.from, zone))}–${MOM.esc(local(s.to, zone))} `
      + `<span class="faint">${s.hours.toFixed(1)} h</span>`
      + (breaks ? `<div class="faint">break ${MOM.esc(breaks)}</div>` : "")
      + `</div>`;
  }

  function dayRow(d) {
    const tone = d.status === "working" ? "good" : d.status === "holiday" ? "warn" : "";
    const shifts = d.shifts.length
      ? d.shifts.map((s) => shiftCell(s, d.time_zone)).join("")
      : `<span class="faint">no shift</span>`;
    return `<tr data-date="${MOM.esc(d.date)}" data-status="${MOM.esc(d.status)}">
      <td>${MOM.esc(d.date)}</td>
      <td><span class="tag ${tone}">${MOM.esc(MOM.humanize(d.status))}</span></td>
      <td>${shifts}</td>
      <td class="faint">${MOM.esc(d.version_effective_from || "default shifts")}</td>
    </tr>`;
  }

  MOM.page("shifts", async (main) => {
    const live = document.getElementById("live");
    if (live) live.style.display = "none";
    const { lines } = await MOM.hierarchy();
    const params = new URLSearchParams(location.search);
    const chosen = params.get("work_center") || (lines[0] && lines[0].id) || "";
    const options = lines.map((l) => `<option value="${MOM.esc(l.id)}"${l.id === chosen ? " selected" : ""}>${MOM.esc(l.id)}</option>`).join("");
    main.innerHTML = `<section class="card">
      <h2>Shifts for the coming week</h2>
      <label>Work center <select id="shifts-work-center">${options}</select></label>
      <div id="shifts-calendar"><div class="loading">Loading…</div></div>
    </section>`;
    const select = document.getElementById("shifts-work-center");
    const target = document.getElementById("shifts-calendar");
    const show = MOM.serial(async () => {
      const line = lines.find((l) => l.id === select.value);
      const scope = line ? (line.units[0] || line.id) : select.value;
      if (!scope) {
        target.innerHTML = `<p class="faint">No work centers yet.</p>`;
        return;
      }
      const data = await MOM.oee(`/api/oee/calendar?scope=${encodeURIComponent(scope)}&from=${day(new Date())}&days=7`);
      if (!data) {
        target.innerHTML = `<p class="faint">No plant calendar applies to ${MOM.esc(select.value)}: the default three shifts (06:00, 14:00, 22:00).</p>`;
      } else {
        target.innerHTML = `<p class="faint">Calendar <b>${MOM.esc(data.scope)}</b></p>
          <table class="table"><thead><tr><th>Date</th><th>Day</th><th>Shifts</th><th>Version from</th></tr></thead>
          <tbody>${data.days.map(dayRow).join("")}</tbody></table>`;
      }
      MOM.updated();
    });
    select.addEventListener("change", () => {
      const url = new URL(location.href);
      url.searchParams.set("work_center", select.value);
      history.replaceState(null, "", url);
      show();
    });
    await show();
  });
})();
