// duanka console: one case. Its entities as a graph (laid out once per change of the
// graph, not on every poll), its alerts on a timeline, each entity's state on demand, and
// the analyst's decisions. Written for duanka; no third-party code.
"use strict";

(() => {
  const {el, api, when, money, short, severity} = duanka;
  const institution = document.querySelector('meta[name="duanka-institution"]').content;
  const caseId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  const POLL_MS = 4000;
  const KINDS = ["outlet", "device", "identity", "msisdn", "account", "company"];
  const TITLES = {identity: "People", msisdn: "Numbers", device: "Devices", account: "Accounts",
    outlet: "Outlets", company: "Companies"};
  const RELATIONS = {activated: "activated", opened: "opened", device: "used device",
    outlet: "activated at", company: "for company", number: "registered number", paid: "paid",
    named: "named by the same alert"};
  const ROW = 30, COLUMN = 150, PER_COLUMN = 25, TOP = 44, LEFT = 16;
  const svg = document.getElementById("graph");
  const timeline = document.getElementById("timeline");
  const panel = document.getElementById("entity");
  let current = null;       // the case page as last read
  let graphSignature = "";  // what the drawn graph was made of
  let selected = null;      // the entity shown in the panel
  let timer = null;

  // The graph --------------------------------------------------------------------------

  /** Columns by kind, the order within each chosen by where its neighbours are (a few
   * barycentre sweeps): deterministic, and cheap for hundreds of entities. */
  function layout(graph) {
    const neighbours = new Map(graph.nodes.map((n) => [n.id, []]));
    for (const e of graph.edges) {
      neighbours.get(e.source).push(e.target);
      neighbours.get(e.target).push(e.source);
    }
    const groups = KINDS.map((kind) => graph.nodes.filter((n) => n.kind === kind)
      .sort((a, b) => (b.subject - a.subject) || (b.alerts - a.alerts) || (a.id < b.id ? -1 : 1)))
      .filter((group) => group.length);
    const rank = new Map();
    const place = () => groups.forEach((g) => g.forEach((n, i) => rank.set(n.id, i / Math.max(1, g.length - 1))));
    place();
    for (let sweep = 0; sweep < 4; sweep++) {
      for (const group of groups) {
        const own = new Set(group.map((n) => n.id));
        const centre = new Map(group.map((n) => {
          const ys = neighbours.get(n.id).filter((m) => !own.has(m)).map((m) => rank.get(m));
          return [n.id, ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : rank.get(n.id)];
        }));
        group.sort((a, b) => centre.get(a.id) - centre.get(b.id) || (a.id < b.id ? -1 : 1));
      }
      place();
    }
    const positions = new Map();
    const titles = [];
    let column = 0;
    let tallest = 0;
    for (const group of groups) {
      const columns = Math.ceil(group.length / PER_COLUMN);
      const rows = Math.ceil(group.length / columns);
      titles.push({kind: group[0].kind, x: LEFT + column * COLUMN, count: group.length});
      group.forEach((n, i) => {
        const x = LEFT + (column + Math.floor(i / rows)) * COLUMN + 8;
        const y = TOP + (i % rows) * ROW + 10;
        positions.set(n.id, {x, y});
      });
      tallest = Math.max(tallest, rows);
      column += columns;
    }
    return {positions, titles, width: LEFT + column * COLUMN + 40, height: TOP + tallest * ROW + 20};
  }

  function edgePath(a, b) {
    if (Math.abs(a.x - b.x) < 1) {  // the same column: an arc beside it
      const bulge = 40 + Math.abs(b.y - a.y) / 5;
      return `M${a.x},${a.y} C${a.x + bulge},${a.y} ${b.x + bulge},${b.y} ${b.x},${b.y}`;
    }
    const mid = (a.x + b.x) / 2;
    return `M${a.x},${a.y} C${mid},${a.y} ${mid},${b.y} ${b.x},${b.y}`;
  }

  function drawGraph(graph) {
    const {positions, titles, width, height} = layout(graph);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    const edges = graph.edges.map((e) => {
      const a = positions.get(e.source), b = positions.get(e.target);
      const label = RELATIONS[e.relation] || e.relation;
      const text = e.relation === "paid"
        ? `${e.source} paid ${e.target}: ${money(e.amount_minor) || "another currency"} in ${e.events} transfer${e.events === 1 ? "" : "s"}`
        : `${e.source} ${label} ${e.target}`;
      const group = el("g", {class: `edge-group`, "data-edge": `${e.source}|${e.target}`},
        el("path", {class: `edge ${e.relation}`, d: edgePath(a, b)}, el("title", {}, text)));
      if (e.relation === "paid" && e.amount_minor) {
        group.append(el("text", {class: "edge-label", x: (a.x + b.x) / 2 + (a.x === b.x ? 30 : 0),
          y: (a.y + b.y) / 2 - 3}, money(e.amount_minor).replace("CNY ", "¥")));
      }
      return group;
    });
    const nodes = graph.nodes.map((n) => {
      const p = positions.get(n.id);
      const [kind, id] = [n.kind, n.id.slice(n.kind.length + 1)];
      const shape = kind === "account" || kind === "company"
        ? el("rect", {x: -7, y: -7, width: 14, height: 14, rx: 2, class: `kind-${kind}`})
        : el("circle", {r: 7, class: `kind-${kind}`});
      return el("g", {
        class: "node" + (n.subject ? " subject" : "") + (selected === n.id ? " selected" : ""),
        "data-entity": n.id, tabindex: 0, role: "button", transform: `translate(${p.x},${p.y})`,
        "aria-label": `${kind} ${id}${n.subject ? ", subject of an alert" : ""}`,
        onclick: () => select(n.id), onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(n.id); }
        },
      }, shape, el("text", {x: 11, y: 4}, short(id)), el("title", {}, `${kind} ${id}`));
    });
    const heads = titles.map((t) => el("text", {class: "column-title", x: t.x, y: 18},
      `${TITLES[t.kind]} (${t.count})`));
    svg.replaceChildren(...heads, ...edges, ...nodes);
    document.getElementById("legend").replaceChildren(...KINDS.map((k) =>
      el("span", {}, el("i", {class: k}), TITLES[k])), el("span", {}, "dashed: named by the same alert"));
    document.getElementById("omitted").textContent = graph.omitted
      ? `${graph.omitted} more entities are not drawn (the most named are).` : "";
    if (selected) highlight(selected);
  }

  function highlight(entity) {
    const near = new Set([entity]);
    for (const e of current.graph.edges) {
      if (e.source === entity) near.add(e.target);
      if (e.target === entity) near.add(e.source);
    }
    for (const node of svg.querySelectorAll(".node")) {
      node.classList.toggle("selected", node.dataset.entity === entity);
      node.classList.toggle("dim", !near.has(node.dataset.entity));
    }
    for (const group of svg.querySelectorAll(".edge-group")) {
      const [a, b] = group.dataset.edge.split("|");
      group.querySelector("path").classList.toggle("dim", a !== entity && b !== entity);
    }
    for (const item of timeline.children) {
      item.classList.toggle("highlight", naming(item.dataset.alertId).has(entity));
    }
  }

  function naming(alertId) {
    const alert = current.alerts.find((a) => a.alert_id === alertId);
    const named = new Set();
    if (!alert) return named;
    const fields = {identities: "identity", msisdns: "msisdn", accounts: "account", devices: "device",
      outlets: "outlet", companies: "company"};
    const entities = alert.evidence.entities || {};
    for (const [field, kind] of Object.entries(fields)) {
      for (const id of entities[field] || []) named.add(`${kind}:${id}`);
    }
    if (alert.evidence.holder) named.add(`identity:${alert.evidence.holder}`);
    named.add(`${alert.subject.kind}:${alert.subject.id}`);
    return named;
  }

  // The entity panel -------------------------------------------------------------------

  async function select(entity) {
    selected = entity;
    highlight(entity);
    const kind = entity.split(":", 1)[0];
    const id = entity.slice(kind.length + 1);
    const alerts = current.alerts.filter((a) => naming(a.alert_id).has(entity));
    panel.replaceChildren(el("h2", {}, `${kind} `, el("span", {class: "id"}, id)),
      el("p", {}, `Named by ${alerts.length} alert${alerts.length === 1 ? "" : "s"} of this case: `,
        ...alerts.map((a, i) => [i ? ", " : "", el("a", {href: `#alert-${a.alert_id}`}, a.rule.replaceAll("_", " "))])),
      el("p", {class: "loading"}, "Reading its state…"));
    const {ok, body} = await api(`/console/api/entities/${kind}/${encodeURIComponent(id)}`);
    if (selected !== entity) return;
    panel.querySelector(".loading").replaceWith(ok ? stateOf(body) : el("p", {}, body.error));
  }

  function stateOf(answer) {
    const state = answer.state;
    if (answer.alerts) {
      return el("div", {}, el("h3", {}, "Alerts naming it, in every case"),
        el("ul", {}, answer.alerts.map((a) => el("li", {}, a.rule.replaceAll("_", " "), " ",
          el("span", {class: "id"}, short(a.alert_id))))));
    }
    if (!state) return el("p", {}, "duanka holds no state for it now: its windows have passed.");
    const facts = [["newest event", when(state.newest_event_at)]];
    if ("watchlist" in state) {
      const w = state.watchlist;
      facts.push(["watchlist", w ? `listed by ${w.source} since ${when(w.listed_at)}: ${w.reason}` : "not listed"]);
    }
    if (state.opened) {
      facts.push(["opened", `${when(state.opened.at)} at ${state.opened.source} (${state.opened.account_kind})`]);
      if (state.opened.holder) facts.push(["holder", short(state.opened.holder)]);
    }
    if (state.flags) {
      facts.push(["flags", state.flags.length ? state.flags.map((f) => `${f.rule} at ${when(f.at)}`).join("; ") : "none"]);
    }
    const windows = Object.entries(state.windows).map(([rule, w]) =>
      el("li", {}, `${rule.replaceAll("_", " ")}: ${w.events} event${w.events === 1 ? "" : "s"} in ${w.window}`));
    const suppressed = Object.entries(state.suppressed).map(([rule, s]) =>
      el("li", {}, `${rule.replaceAll("_", " ")} quiet until ${when(s.until)}`));
    const recent = state.recent_alerts.map((a) => el("li", {}, `${when(a.at)} ${a.rule.replaceAll("_", " ")}`));
    return el("div", {},
      el("dl", {}, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("h3", {}, "Windows"), el("ul", {class: "windows"}, windows),
      suppressed.length ? [el("h3", {}, "Suppressed"), el("ul", {}, suppressed)] : null,
      el("h3", {}, "Recent alerts"), recent.length ? el("ul", {}, recent) : el("p", {}, "none"));
  }

  // The timeline -----------------------------------------------------------------------

  function decisions(alert) {
    if (!alert.dispositions.length) return el("p", {class: "meta decisions"}, "No decision recorded yet.");
    return el("ul", {class: "decisions"}, alert.dispositions.map((d) => el("li", {},
      el("strong", {}, d.outcome.replaceAll("_", " ")), ` by ${d.institution} at ${when(d.decided_at)}`,
      d.note ? ` — ${d.note}` : "")));
  }

  function decisionForm(alert) {
    const answer = el("span", {class: "answer", role: "status"});
    const outcome = el("select", {name: "outcome", "aria-label": "decision"},
      el("option", {value: "confirmed"}, "confirmed (fraud)"),
      el("option", {value: "false_positive"}, "false positive"),
      el("option", {value: "actioned"}, "actioned"));
    const note = el("input", {name: "note", maxlength: 500, placeholder: "note for the file", "aria-label": "note"});
    const form = el("form", {class: "decide", onsubmit: async (event) => {
      event.preventDefault();
      answer.classList.remove("refused");
      answer.textContent = "Recording…";
      const {ok, body} = await api(`/console/api/alerts/${alert.alert_id}/dispositions`,
        {method: "POST", body: {outcome: outcome.value, note: note.value}});
      answer.classList.toggle("refused", !ok);
      answer.textContent = ok ? `Recorded as ${institution}: ${body.disposition.outcome.replaceAll("_", " ")}.` : body.error;
      if (ok) { note.value = ""; setTimeout(refresh, 800); }
    }}, outcome, note, el("button", {type: "submit"}, "Record decision"), answer);
    return form;
  }

  function alertItem(alert) {
    const actions = alert.actions.map((a) => el("li", {},
      `${a.action.replaceAll("_", " ")} ${a.target}${a.institution ? " at " + a.institution : ""}`));
    return el("li", {id: `alert-${alert.alert_id}`, "data-alert-id": alert.alert_id,
      class: `sev-line-${alert.severity}`},
      el("div", {class: "meta"}, when(alert.window.end), " · ", severity(alert.severity), " ",
        el("span", {class: "rule"}, alert.rule.replaceAll("_", " ")), " · ",
        el("span", {class: "id"}, alert.alert_id)),
      el("p", {}, alert.summary),
      actions.length ? el("ul", {class: "actions"}, actions) : null,
      decisions(alert), decisionForm(alert));
  }

  function drawTimeline(alerts) {
    const items = new Map([...timeline.children].map((li) => [li.dataset.alertId, li]));
    let previous = null;
    for (const alert of alerts) {
      let item = items.get(alert.alert_id);
      const sig = JSON.stringify(alert.dispositions);
      if (!item) {
        item = alertItem(alert);
      } else if (item.dataset.decisions !== sig) {
        item.querySelector(".decisions").replaceWith(decisions(alert));
      }
      item.dataset.decisions = sig;
      const expected = previous ? previous.nextSibling : timeline.firstChild;
      if (expected !== item) timeline.insertBefore(item, expected);
      previous = item;
    }
    document.getElementById("alerts-omitted").textContent = current.alerts_omitted
      ? `The ${current.alerts_omitted} earliest alerts are not shown; the exports hold them all.` : "";
  }

  // The case ---------------------------------------------------------------------------

  function drawHeader(c) {
    document.title = `duanka · case ${short(c.case_id)}`;
    document.getElementById("title").replaceChildren(`Case `, el("span", {class: "id"}, c.case_id), " ",
      el("span", {class: `status status-${c.status}`, id: "case-status"}, c.status));
    document.getElementById("summary").textContent = c.summary;
    const m = c.member_counts;
    const facts = [["severity", c.severity], ["status", c.status], ["alerts", c.alert_count],
      ["people", m.identities], ["numbers", m.msisdns], ["devices", m.devices], ["accounts", m.accounts],
      ["outlets", m.outlets], ["companies", m.companies], ["institutions", c.institutions.join(", ") || "none"],
      ["through mule accounts", money(c.amount_minor) || "none"], ["first seen", when(c.first_at)],
      ["last seen", when(c.last_at)]];
    document.getElementById("facts").replaceChildren(...facts.map(([k, v]) =>
      el("div", {}, el("dt", {}, k), el("dd", {}, v))));
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const {ok, status, body} = await api(`/console/api/cases/${encodeURIComponent(caseId)}`);
      if (!ok) {
        document.getElementById("title").textContent = status === 404 ? `No case ${caseId}` : body.error;
      } else if (body.case.status === "merged") {
        window.location.replace("/console/cases/" + body.case.merged_into);
        return;
      } else {
        current = body;
        drawHeader(body.case);
        const signature = JSON.stringify(body.graph);
        if (signature !== graphSignature) {
          graphSignature = signature;
          drawGraph(body.graph);
        }
        drawTimeline(body.alerts);
      }
    } catch (error) {
      document.getElementById("summary").textContent = "The worker did not answer; trying again.";
    }
    timer = setTimeout(refresh, POLL_MS);
  }

  for (const format of ["json", "csv"]) {
    document.getElementById(`export-${format}`).href =
      `/console/cases/${encodeURIComponent(caseId)}/export.${format}`;
  }
  duanka.search();
  refresh();
})();
