// The audit page: who did what, when and why, from a domain service's audit trail
// (/api/audit/events, newest first, paged with the token the API returns) and the head of each
// service's hash chain (/api/audit/head). The filters live in the page's URL, so a view can be
// linked. Refusals (401, 403) and bad filters are shown in the page with the API's message.
"use strict";

(() => {
  const SERVICES = ["production", "quality", "maintenance", "inventory"];
  const FILTERS = ["principal", "aggregate_type", "aggregate_id", "from", "until"];

  /** Fetches same-origin JSON; throws the API's `error` message on any failure. */
  async function audit(path) {
    const response = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) {
      const message = (body && body.error) || `${response.status} ${response.statusText}`;
      const err = new Error(message);
      err.status = response.status;
      throw err;
    }
    return body;
  }

  const short = (hash) => (hash ? `${hash.slice(0, 12)}…` : "—");
  const dash = `<span class="tag">—</span>`;
  const text = (value) => (value == null || value === "" ? dash : MOM.esc(value));

  /** "approved by Jane Doe (jane) at …: reason" as tags. */
  function signature(sig) {
    if (!sig) return dash;
    const who = sig.name && sig.name !== sig.signer ? `${sig.name} (${sig.signer})` : sig.signer;
    return `<span class="tag good">${MOM.esc(sig.meaning)}</span> ${MOM.esc(who)}`
      + `<div class="faint">${MOM.esc(MOM.dateTime(sig.signed_at))}${sig.reason ? ` · ${MOM.esc(sig.reason)}` : ""}</div>`;
  }

  function row(e) {
    const payload = JSON.stringify(e.payload, null, 2);
    return `<tr data-position="${e.position}">
      <td class="num">${e.position}</td>
      <td>${MOM.esc(MOM.dateTime(e.recorded_time))}</td>
      <td>${MOM.esc(MOM.dateTime(e.event_time))}</td>
      <td data-field="principal"><b>${MOM.esc(e.principal)}</b></td>
      <td data-field="on_behalf_of">${text(e.on_behalf_of)}</td>
      <td>${e.auth_method ? `<span class="tag">${MOM.esc(e.auth_method)}</span>` : dash}</td>
      <td data-field="event_type">${MOM.esc(e.event_type)}</td>
      <td><span class="faint">${MOM.esc(MOM.humanize(e.aggregate_type))}</span><div class="mono">${MOM.esc(e.aggregate_id)}</div></td>
      <td data-field="signature">${signature(e.signature)}</td>
      <td class="mono">${text(e.correlation_id)}</td>
      <td><details><summary class="mono" title="${MOM.esc(e.hash || "")}">${MOM.esc(short(e.hash))}</summary><pre class="payload">${MOM.esc(payload)}</pre></details></td>
    </tr>`;
  }

  const HEAD = ["#", "Recorded", "Event time", "Who", "On behalf of", "Auth", "What", "Aggregate", "Signature", "Correlation", "Hash · payload"];

  MOM.page("audit", async (main) => {
    // No live feed here: an audit view is a fixed query until it is asked again.
    const live = document.getElementById("live");
    if (live) live.style.display = "none";
    const params = new URLSearchParams(location.search);
    const chosen = SERVICES.includes(params.get("service")) ? params.get("service") : SERVICES[0];
    const input = (name, label, type = "text", placeholder = "") => {
      let value = params.get(name) || "";
      // datetime-local shows local time without a zone.
      if (type === "datetime-local" && value) {
        const d = new Date(value);
        value = Number.isNaN(d.getTime()) ? "" : new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
      }
      return `<label>${label}<input class="select" id="audit-${name}" name="${name}" type="${type}" placeholder="${placeholder}" value="${MOM.esc(value)}"></label>`;
    };
    main.innerHTML = `<div class="page-head"><div><h1>Audit trail</h1><div class="sub">Who did what, when and why: every recorded event of a service, newest first</div></div></div>
      <div class="kpis" id="audit-heads">${SERVICES.map((s) => `<div class="kpi" id="head-${s}"><div class="label">${MOM.esc(s)} chain head</div><div class="value">…</div><div class="faint mono"></div></div>`).join("")}</div>
      <section class="panel">
        <form class="filters" id="audit-filters">
          <label>Service<select class="select" id="audit-service" name="service">${SERVICES.map((s) => `<option value="${s}"${s === chosen ? " selected" : ""}>${s}</option>`).join("")}</select></label>
          ${input("principal", "Who (principal)", "text", "any")}
          ${input("aggregate_type", "Aggregate type", "text", "e.g. ncr")}
          ${input("aggregate_id", "Aggregate id", "text", "any")}
          ${input("from", "From", "datetime-local")}
          ${input("until", "Until", "datetime-local")}
          <button class="button" id="audit-apply" type="submit">Show</button>
        </form>
      </section>
      <div id="audit-error" class="empty error" hidden></div>
      <section class="panel"><h2>Events <small id="audit-count"></small></h2>
        <div class="table-wrap tall"><table class="data" id="audit-table"><thead><tr>${HEAD.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody id="audit-rows"></tbody></table>
        <div id="audit-empty" class="empty" hidden>No events match.</div></div>
        <div class="more"><button class="button" id="audit-older" type="button" hidden>Older events</button></div>
      </section>`;

    const el = (id) => document.getElementById(id);
    const showError = (err) => {
      const box = el("audit-error");
      box.textContent = err ? `${err.status ? `${err.status}: ` : ""}${err.message}` : "";
      box.hidden = !err;
      if (err) MOM.note(`audit: ${err.message}`);
    };

    async function heads() {
      await Promise.all(SERVICES.map(async (s) => {
        const box = el(`head-${s}`);
        try {
          const head = await audit(`/api/audit/head?service=${s}`);
          box.dataset.position = String(head.position);
          box.querySelector(".value").innerHTML = `${head.position.toLocaleString()}<small>events</small>`;
          box.querySelector(".mono").textContent = short(head.hash);
          box.querySelector(".mono").title = head.hash;
        } catch (err) {
          box.dataset.error = err.message;
          box.querySelector(".value").textContent = "—";
          box.querySelector(".mono").textContent = err.status === 403 || err.status === 401 ? "not permitted" : "unavailable";
          box.querySelector(".mono").title = err.message;
        }
      }));
    }

    /** The query of the form, times as RFC 3339 UTC. */
    function query() {
      const q = new URLSearchParams({ service: el("audit-service").value });
      for (const name of FILTERS) {
        let value = el(`audit-${name}`).value.trim();
        if (!value) continue;
        if (name === "from" || name === "until") value = new Date(value).toISOString();
        q.set(name, value);
      }
      return q;
    }

    let next = null;
    let shown = 0;
    async function load(append) {
      const q = query();
      if (!append) history.replaceState(null, "", `/audit?${q}`);
      q.set("page_size", "50");
      if (append && next) q.set("page_token", next);
      try {
        const page = await audit(`/api/audit/events?${q}`);
        showError(null);
        const rows = page.events.map(row).join("");
        if (append) el("audit-rows").insertAdjacentHTML("beforeend", rows);
        else el("audit-rows").innerHTML = rows;
        shown = (append ? shown : 0) + page.events.length;
        next = page.next_page_token;
        el("audit-older").hidden = !next;
        el("audit-empty").hidden = shown > 0;
        el("audit-count").textContent = `${shown.toLocaleString()}${next ? "+" : ""} events of ${q.get("service")}`;
      } catch (err) {
        if (!append) { el("audit-rows").innerHTML = ""; shown = 0; next = null; el("audit-older").hidden = true; el("audit-count").textContent = ""; }
        el("audit-empty").hidden = true;
        showError(err);
      }
      MOM.updated();
    }

    el("audit-filters").addEventListener("submit", (event) => { event.preventDefault(); load(false); });
    el("audit-service").addEventListener("change", () => load(false));
    el("audit-older").addEventListener("click", () => load(true));
    await Promise.all([heads(), load(false)]);
  });
})();
