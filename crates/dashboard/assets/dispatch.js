// The dispatch page (docs/dispatching.md): per work center, the operations not done yet of
// released orders in the order they should run (queue position, priority, due date), with the
// work unit each is dispatched to or runs on. It follows the read models' live feed (event
// "dispatch") and redraws on each change.
"use strict";

MOM.page("dispatch", async (main) => {
  main.innerHTML = `
    <div class="page-head">
      <div><h1>Dispatch list</h1>
        <div class="sub">Released orders per work center: sequence, priority, due date and work units</div></div>
      <label>Work center <select class="select" id="dispatch-work-center"><option value="">All</option></select></label>
    </div>
    <div class="grid" id="dispatch-lists"><div class="loading">Loading…</div></div>`;
  const lists = document.getElementById("dispatch-lists");
  if (!MOM.hasProjections()) {
    lists.innerHTML = `<div class="empty">This instance serves no projections read models, so there is no dispatch list to show.</div>`;
    MOM.updated();
    return;
  }
  const select = document.getElementById("dispatch-work-center");
  const STATE_TONE = { running: "good", dispatched: "warn", pending: "" };
  const cell = (value) => (value == null || value === "" ? `<span class="tag">—</span>` : MOM.esc(value));

  /** Every row of the list (pages of 1000 followed, at most 20 pages). */
  async function rows() {
    let all = [], token = "";
    for (let page = 0; page < 20; page++) {
      const data = await MOM.projections(`/api/dispatch?page_size=1000${token ? `&page_token=${encodeURIComponent(token)}` : ""}`);
      if (!data) return null;
      all = all.concat(data.rows);
      token = data.next_page_token;
      if (!token) break;
    }
    return all;
  }

  function table(center, items) {
    const body = items.map((r) => `<tr data-order="${MOM.esc(r.order_id)}" data-operation="${r.operation}">
        <td class="num">${r.position == null ? `<span class="tag">—</span>` : r.position}</td>
        <td title="${MOM.esc(r.order_id)}">${MOM.esc(r.order_id.slice(-12))}</td>
        <td class="num">${r.operation}</td><td>${cell(r.name)}</td><td>${cell(r.product)}</td>
        <td class="num">${r.quantity.toLocaleString()}</td>
        <td class="num"><span class="tag ${r.priority <= 2 ? "bad" : r.priority <= 4 ? "warn" : ""}">${r.priority}</span></td>
        <td>${r.due ? MOM.dateTime(r.due) : `<span class="tag">—</span>`}</td>
        <td><span class="tag ${STATE_TONE[r.state] || ""}">${MOM.esc(r.state)}</span>${r.held ? ` <span class="tag bad">held</span>` : ""}</td>
        <td>${cell(r.work_unit || r.dispatched_work_unit)}</td>
        <td>${MOM.esc(r.eligible_work_units.join(", "))}</td></tr>`).join("");
    return `<section class="panel dispatch-list" data-work-center="${MOM.esc(center)}"><h2>${MOM.esc(center)} <small>${items.length} operations</small></h2>
      <div class="table-wrap"><table class="data"><thead><tr><th class="num">Seq</th><th>Order</th><th class="num">Op</th><th>Name</th><th>Product</th>
      <th class="num">Quantity</th><th class="num">Priority</th><th>Due</th><th>State</th><th>Work unit</th><th>Eligible</th></tr></thead>
      <tbody>${body}</tbody></table></div></section>`;
  }

  async function load() {
    const all = await rows();
    if (all == null) {
      lists.innerHTML = `<div class="empty">No data yet: the dispatch read model is not served by this instance.</div>`;
      MOM.updated();
      return;
    }
    const centers = [...new Set(all.map((r) => r.work_center))];
    const chosen = select.value;
    select.innerHTML = `<option value="">All</option>${centers.map((c) => `<option value="${MOM.esc(c)}">${MOM.esc(c)}</option>`).join("")}`;
    select.value = centers.includes(chosen) ? chosen : "";
    const shown = centers.filter((c) => !select.value || c === select.value);
    lists.innerHTML = shown.length
      ? shown.map((c) => table(c, all.filter((r) => r.work_center === c))).join("")
      : `<div class="empty">No released order is waiting.</div>`;
    MOM.updated();
  }
  const refresh = MOM.serial(load);
  select.addEventListener("change", refresh);
  await refresh();
  MOM.follow(`${MOM.bases.projections}/api/projections/watch`, ["dispatch"], refresh, 500);
});
