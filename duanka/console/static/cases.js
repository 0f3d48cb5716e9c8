// duanka console: the cases page. Rows are updated in place as cases change, so the
// analyst keeps their place. Written for duanka; no third-party code.
"use strict";

(() => {
  const {el, api, when, money, severity} = duanka;
  const body = document.querySelector("#cases tbody");
  const count = document.getElementById("count");
  const filters = document.getElementById("filters");
  const POLL_MS = 3000;
  let timer = null;

  function query() {
    const params = new URLSearchParams();
    for (const name of ["status", "rule", "institution"]) {
      const value = filters.elements[name].value;
      if (value) params.set(name, value);
    }
    return params.toString();
  }

  function cells(c) {
    const m = c.member_counts;
    return [
      el("td", {}, severity(c.severity)),
      el("td", {}, el("a", {href: "/console/cases/" + c.case_id}, c.summary)),
      el("td", {class: "num"}, m.identities),
      el("td", {class: "num"}, m.msisdns),
      el("td", {class: "num"}, m.devices),
      el("td", {class: "num"}, m.accounts),
      el("td", {class: "num"}, m.outlets),
      el("td", {}, c.institutions.join(", ")),
      el("td", {class: "num"}, money(c.amount_minor)),
      el("td", {class: "when"}, when(c.first_at)),
      el("td", {class: "when"}, when(c.last_at)),
      el("td", {class: `status status-${c.status}`}, c.status),
    ];
  }

  /** The row's content without the time it was built: what tells a change. */
  function signature(c) {
    const {updated_at, ...rest} = c;
    return JSON.stringify(rest);
  }

  function fill(select, values) {
    const chosen = select.value;
    const have = new Set([...select.options].map((o) => o.value));
    for (const value of values) {
      if (!have.has(value)) select.append(el("option", {value}, value.replaceAll("_", " ")));
    }
    select.value = chosen;
  }

  function render(data) {
    fill(filters.elements.rule, data.facets.rule);
    fill(filters.elements.institution, data.facets.institution);
    const rows = new Map([...body.children].map((row) => [row.dataset.caseId, row]));
    const wanted = new Set(data.cases.map((c) => c.case_id));
    for (const [id, row] of rows) if (!wanted.has(id)) row.remove();
    let previous = null;
    for (const c of data.cases) {
      let row = rows.get(c.case_id);
      const sig = signature(c);
      if (!row) {
        row = el("tr", {"data-case-id": c.case_id}, cells(c));
        row.dataset.signature = sig;
      } else if (row.dataset.signature !== sig) {
        const focused = row.contains(document.activeElement);
        row.replaceChildren(...cells(c));
        row.dataset.signature = sig;
        row.classList.remove("changed");
        void row.offsetWidth;
        row.classList.add("changed");
        if (focused) row.querySelector("a").focus();
      }
      const expected = previous ? previous.nextSibling : body.firstChild;
      if (expected !== row) body.insertBefore(row, expected);
      previous = row;
    }
    const shown = data.cases.length;
    count.textContent = data.total === shown
      ? `${shown} case${shown === 1 ? "" : "s"}`
      : `${shown} of ${data.total} cases (narrow them with the filters)`;
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const {ok, body: data} = await api("/console/api/cases?" + query());
      if (ok) render(data);
      else count.textContent = data.error || "The cases could not be loaded.";
    } catch (error) {
      count.textContent = "The worker did not answer; trying again.";
    }
    timer = setTimeout(refresh, POLL_MS);
  }

  filters.addEventListener("change", refresh);
  duanka.search();
  refresh();
})();
