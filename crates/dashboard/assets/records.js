// The record pages over the projections' read models: orders, quality, maintenance, inventory.
// Each section is one JSON endpoint rendered as a table; a section whose endpoint answers 404
// (that read model is not served here yet) says so instead of failing the page.
"use strict";

(() => {
  const TIME = /(^|_)(at|from|to|since|due|requested|started|closed|expiry|scheduled_from|scheduled_until|time)$/;

  /** Formats one cell by its column name and value. */
  function cell(column, value) {
    if (value == null || value === "") return `<span class="tag">—</span>`;
    if (typeof value === "boolean") return value ? `<span class="tag ${/overdue|late|held/.test(column) ? "bad" : "good"}">yes</span>` : "";
    if (column === "state" || column === "status") {
      const tone = /done|completed|released|closed|on_time|pass|accepted|available/.test(value) ? "good"
        : /hold|late|open|in_progress|running|requested|scheduled/.test(value) ? "warn"
          : /missed|cancel|reject|fail|scrap|blocked/.test(value) ? "bad" : "";
      return `<span class="tag ${tone}">${MOM.esc(MOM.humanize(value))}</span>`;
    }
    if (typeof value === "number") {
      // MTBF is 0 until a second failure: there is no mean yet.
      if (column === "mtbf_ms" && value === 0) return `<span class="tag">—</span>`;
      if (/_ms$/.test(column)) return MOM.duration(value / 1000);
      if (/_s$/.test(column)) return MOM.duration(value);
      if (/(ratio|fpy|compliance|yield|rate|progress)$/.test(column) && value <= 1) return MOM.pctText(value);
      return Number.isInteger(value) ? value.toLocaleString() : value.toFixed(2);
    }
    if (typeof value === "string" && TIME.test(column) && /^\d{4}-\d\d-\d\dT/.test(value)) return MOM.dateTime(value);
    if (typeof value === "object") return `<span class="tag">${MOM.esc(JSON.stringify(value))}</span>`;
    return MOM.esc(value);
  }
  const header = (column) => MOM.humanize(column.replace(/_ms$|_s$/, ""));
  const numeric = (rows, column) => rows.some((r) => typeof r[column] === "number");

  function table(rows, columns) {
    const cols = columns || [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((c) => typeof rows[0][c] !== "object" || rows[0][c] === null);
    return `<table class="data"><thead><tr>${cols.map((c) => `<th class="${numeric(rows, c) ? "num" : ""}">${MOM.esc(header(c))}</th>`).join("")}</tr></thead>
      <tbody>${rows.map((r) => `<tr>${cols.map((c) => `<td class="${typeof r[c] === "number" ? "num" : ""}">${cell(c, r[c])}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
  }

  /** The first array in `data` (the rows of a list answer), or []. */
  function rowsOf(data, key) {
    if (!data) return [];
    if (key && Array.isArray(data[key])) return data[key];
    if (Array.isArray(data)) return data;
    const first = Object.values(data).find(Array.isArray);
    return first || [];
  }

  function kpi(label, value, unit = "") {
    return `<div class="kpi"><div class="label">${MOM.esc(label)}</div><div class="value">${value}${unit ? `<small>${unit}</small>` : ""}</div></div>`;
  }

  /** Renders the genealogy answer of one lot as a tree: the lot, then its inputs (or outputs). */
  function genealogy(data) {
    const lots = Object.fromEntries(rowsOf(data, "lots").map((l) => [l.lot, l]));
    const backward = data.direction !== "forward";
    const next = {};
    for (const link of data.links || []) {
      const [from, to] = backward ? [link.output_lot, link.input_lot] : [link.input_lot, link.output_lot];
      (next[from] = next[from] || []).push(to);
    }
    const seen = new Set();
    const node = (lot) => {
      const l = lots[lot] || { lot };
      const children = seen.has(lot) ? [] : (next[lot] || []);
      seen.add(lot);
      return `<li><span class="node"><b>${MOM.esc(lot)}</b>${l.material ? `<span class="tag">${MOM.esc(l.material)}</span>` : ""}${l.quantity != null ? `<span>${MOM.esc(l.quantity)}</span>` : ""}${l.held ? `<span class="tag bad">on hold</span>` : ""}</span>
        ${children.length ? `<ul>${children.map(node).join("")}</ul>` : ""}</li>`;
    };
    return `<div class="tree"><ul>${node(data.lot)}</ul></div>`;
  }

  /** A records page: KPIs on top, then one panel per section. */
  function recordsPage(id, title, subtitle, sections, kpis, feedEvents) {
    MOM.page(id, async (main) => {
      main.innerHTML = `<div class="page-head"><div><h1>${MOM.esc(title)}</h1><div class="sub">${MOM.esc(subtitle)}</div></div></div>
        <div class="kpis" id="kpis"></div>
        <div class="grid cols-2" id="sections">${sections.map((s, i) => `<section class="panel" style="${s.wide ? "grid-column: 1 / -1" : ""}"><h2>${MOM.esc(s.title)} <small id="count-${i}"></small></h2><div class="table-wrap" id="section-${i}"><div class="loading">Loading…</div></div></section>`).join("")}</div>`;
      if (!MOM.hasProjections()) {
        document.getElementById("sections").innerHTML = `<div class="empty" style="grid-column: 1 / -1">This instance serves no projections read models, so there is nothing to show here yet.</div>`;
        MOM.updated();
        return;
      }
      async function load() {
        const answers = [];
        for (const s of sections) {
          // A section's path may depend on the answers before it (the genealogy of a lot listed).
          const path = typeof s.path === "function" ? s.path(answers) : s.path;
          answers.push(path == null ? { __empty: s.empty || "No data yet." } : await MOM.projections(path).catch((err) => ({ __error: err.message })));
        }
        sections.forEach((s, i) => {
          const el = document.getElementById(`section-${i}`);
          const data = answers[i];
          if (data && data.__error) { el.innerHTML = `<div class="empty">Could not load: ${MOM.esc(data.__error)}</div>`; return; }
          if (data == null) { el.innerHTML = `<div class="empty">No data yet: this read model is not served by this instance.</div>`; return; }
          if (data.__empty) { el.innerHTML = `<div class="empty">${MOM.esc(data.__empty)}</div>`; return; }
          if (s.render) { el.innerHTML = s.render(data); return; }
          const rows = rowsOf(data, s.key);
          document.getElementById(`count-${i}`).textContent = rows.length ? `${rows.length}${data.next_page_token ? "+" : ""} rows` : "";
          el.innerHTML = rows.length ? table(rows, s.columns && s.columns.filter((c) => rows.some((r) => c in r))) : `<div class="empty">No data yet.</div>`;
        });
        document.getElementById("kpis").innerHTML = kpis ? kpis(answers) : "";
        MOM.updated();
      }
      const refresh = MOM.serial(load);
      await refresh();
      MOM.follow(`${MOM.bases.projections}/api/projections/watch`, feedEvents, refresh, 500);
    });
  }

  const mean = (values) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : null);

  recordsPage("orders", "Production orders", "Status, progress and lead time of every order", [
    { title: "Orders", path: "/api/orders?page_size=200", key: "orders", wide: true,
      columns: ["order_id", "product", "status", "held", "quantity", "good", "scrap", "progress", "operations_done", "operations_total", "released_at", "started_at", "ended_at", "lead_time_ms"] },
    { title: "Work in progress by operation", path: "/api/orders/wip", key: "wip", wide: true,
      columns: ["operation", "name", "work_unit", "orders", "held", "remaining", "good", "scrap"] },
  ], (answers) => {
    const rows = rowsOf(answers[0], "orders");
    const count = (re) => rows.filter((r) => re.test(r.status || "")).length;
    return kpi("Orders", rows.length) + kpi("In progress", count(/progress|start|running/)) + kpi("On hold", rows.filter((r) => r.held).length) + kpi("Completed", count(/complete|done/));
  }, ["orders"]);

  recordsPage("quality", "Quality", "First-pass yield, nonconformances and corrective actions", [
    { title: "First-pass yield", path: "/api/quality/fpy", key: "yields",
      columns: ["product", "operation", "inspected", "rejected", "first_pass_yield"] },
    { title: "Nonconformances (NCR)", path: "/api/quality/ncrs?page_size=200", key: "ncrs",
      columns: ["ncr_id", "product", "work_unit", "quantity", "status", "opened_at", "closed_at", "age_ms", "remaining"] },
    { title: "Corrective and preventive actions (CAPA)", path: "/api/quality/capas?page_size=200", key: "capas", wide: true,
      columns: ["capa_id", "kind", "title", "owner", "status", "due", "overdue", "closed_late", "opened_at", "closed_at"] },
  ], (answers) => {
    const fpy = rowsOf(answers[0], "yields");
    const ncrs = rowsOf(answers[1], "ncrs");
    const inspected = fpy.reduce((s, r) => s + (r.inspected || 0), 0);
    const rejected = fpy.reduce((s, r) => s + (r.rejected || 0), 0);
    return kpi("First-pass yield", inspected ? MOM.pct((inspected - rejected) / inspected) : "—", inspected ? "%" : "")
      + kpi("Inspected", inspected.toLocaleString()) + kpi("NCRs", ncrs.length) + kpi("Open NCRs", ncrs.filter((n) => !/clos/.test(n.status || "")).length);
  }, ["quality"]);

  recordsPage("maintenance", "Maintenance", "Work-order backlog, reliability and PM compliance", [
    { title: "Backlog (open work orders)", path: "/api/maintenance/backlog?page_size=200", key: "work_orders", wide: true,
      columns: ["work_order", "kind", "priority", "status", "work_unit", "reason", "requested", "age_ms", "scheduled_from", "started"] },
    { title: "Reliability (MTBF / MTTR)", path: "/api/maintenance/reliability", key: "reliability",
      columns: ["work_unit", "failure_mode", "failures", "repairs", "mtbf_ms", "mttr_ms", "mean_downtime_ms"] },
    { title: "PM compliance", path: "/api/maintenance/pm-compliance", key: "plans",
      columns: ["work_unit", "plan", "on_time", "late", "missed", "open", "compliance"] },
  ], (answers) => {
    const backlog = rowsOf(answers[0], "work_orders");
    const all = rowsOf(answers[1], "reliability").filter((r) => r.failure_mode === "*");
    const mtbf = mean(all.filter((r) => r.mtbf_ms > 0).map((r) => r.mtbf_ms));
    const mttr = mean(all.filter((r) => r.mttr_ms > 0).map((r) => r.mttr_ms));
    return kpi("Open work orders", backlog.length) + kpi("Corrective", backlog.filter((w) => w.kind === "corrective").length)
      + kpi("MTBF", mtbf == null ? "—" : MOM.minutes(mtbf / 1000), mtbf == null ? "" : "min") + kpi("MTTR", mttr == null ? "—" : MOM.minutes(mttr / 1000), mttr == null ? "" : "min");
  }, ["maintenance"]);

  recordsPage("inventory", "Inventory", "Lots by location, holds and genealogy", [
    { title: "Lots", path: "/api/inventory/lots?page_size=200", key: "lots", wide: true,
      columns: ["lot", "material", "location", "quantity", "status", "expiry", "order_id", "supplier_lot"] },
    { title: "Holds", path: "/api/inventory/holds?page_size=200", key: "holds",
      columns: ["lot", "material", "hold", "reason", "since", "quantity"] },
    { title: "Genealogy of the latest produced lot",
      path: (answers) => {
        const produced = rowsOf(answers[0], "lots").filter((l) => l.order_id);
        const lot = produced.length ? produced[produced.length - 1].lot : null;
        return lot ? `/api/inventory/genealogy/${encodeURIComponent(lot)}?direction=backward` : null;
      },
      empty: "No lot produced by an order yet.",
      render: genealogy },
  ], (answers) => {
    const lots = rowsOf(answers[0], "lots");
    const holds = rowsOf(answers[1], "holds");
    return kpi("Lots", lots.length) + kpi("Holds", holds.length) + kpi("Materials", new Set(lots.map((l) => l.material)).size) + kpi("Locations", new Set(lots.map((l) => l.location)).size);
  }, ["inventory"]);
})();
