// A case of 200 entities for the console's page (tests/integration/test_console.py):
// its API's answer replaced in the browser, and when it was served and drawn noted.
const kinds = [["identity", 50], ["msisdn", 60], ["device", 30], ["account", 50],
               ["outlet", 6], ["company", 4]];
const nodes = [];
for (const [kind, count] of kinds)
  for (let i = 0; i < count; i++)
    nodes.push({id: `${kind}:${kind}-${i}`, kind, alerts: 1 + (i % 3), subject: i % 7 === 0});
const edges = [];
const pick = (kind, i) => `${kind}:${kind}-${i}`;
for (let i = 0; i < 60; i++) edges.push({source: pick("identity", i % 50), target: pick("msisdn", i),
  relation: "activated", events: 1, amount_minor: null});
for (let i = 0; i < 50; i++) edges.push({source: pick("identity", (i * 7) % 50), target: pick("account", i),
  relation: "opened", events: 1, amount_minor: null});
for (let i = 0; i < 100; i++) edges.push({source: pick("identity", i % 50), target: pick("device", (i * 3) % 30),
  relation: "device", events: 1, amount_minor: null});
for (let i = 0; i < 49; i++) edges.push({source: pick("account", i), target: pick("account", i + 1),
  relation: "paid", events: 2, amount_minor: 100000 + i});
for (let i = 0; i < 50; i++) edges.push({source: pick("identity", i), target: pick("outlet", i % 6),
  relation: "outlet", events: 1, amount_minor: null});
const record = {case_id: "b".repeat(32), status: "open", merged_into: null, severity: "high",
  summary: "a case of 200 entities", alert_count: 0, institutions: [], amount_minor: 0,
  first_at: "2026-11-01T00:00:00Z", last_at: "2026-11-02T00:00:00Z", rules: {}, alerts: [],
  member_counts: {identities: 50, msisdns: 60, devices: 30, accounts: 50, outlets: 6, companies: 4}};
const page = {case: record, alerts: [], alerts_omitted: 0, graph: {nodes, edges, omitted: 0}};
const real = window.fetch;
window.fetch = async (url, options) => {
  if (!String(url).startsWith("/console/api/cases/")) return real(url, options);
  window.served = performance.now();
  return new Response(JSON.stringify(page), {status: 200,
    headers: {"Content-Type": "application/json"}});
};
new MutationObserver(() => {
  if (!window.drawn && document.querySelectorAll("svg#graph [data-entity]").length >= 200)
    window.drawn = performance.now();
}).observe(document, {subtree: true, childList: true});
