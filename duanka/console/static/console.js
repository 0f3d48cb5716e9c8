// duanka console: what every page shares. Written for duanka; no third-party code.
"use strict";

const duanka = (() => {
  const csrf = document.querySelector('meta[name="duanka-csrf"]').content;

  /** Build an element: el("a", {href: "/x", class: "y"}, "text", child). Text stays text. */
  function el(tag, attrs, ...children) {
    const svg = ["svg", "g", "circle", "rect", "line", "path", "text", "title"].includes(tag);
    const node = svg
      ? document.createElementNS("http://www.w3.org/2000/svg", tag)
      : document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** The session ended: back to the login form, then here again. */
  function relogin() {
    window.location.assign("/console/login?next=" + encodeURIComponent(location.pathname));
  }

  /** JSON from the console's API; a change carries the session's CSRF value. */
  async function api(path, options = {}) {
    const headers = {"Accept": "application/json"};
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["X-Duanka-CSRF"] = csrf;
    }
    const response = await fetch(path, {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 401) {
      relogin();
      throw new Error("logged out");
    }
    const body = await response.json().catch(() => ({error: response.statusText}));
    return {status: response.status, ok: response.ok, body};
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function money(minor) {
    if (!minor) return "";
    return "CNY " + (minor / 100).toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});
  }

  function short(id) {
    return id.length > 18 ? id.slice(0, 16) + "…" : id;
  }

  function severity(level) {
    return el("span", {class: `sev sev-${level}`}, level);
  }

  /** The header's search: an entity's id finds its case. */
  function search() {
    const form = document.getElementById("search");
    const result = document.getElementById("search-result");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const q = form.q.value.trim();
      if (!q) return;
      const {ok, body} = await api("/console/api/search?q=" + encodeURIComponent(q));
      result.replaceChildren();
      if (!ok) {
        result.append(body.error || "search failed");
      } else if (body.matches.length === 0) {
        result.append(`No case holds ${q}.`);
      } else if (body.matches.length === 1) {
        window.location.assign("/console/cases/" + body.matches[0].case_id);
      } else {
        result.append(`${q} is in ${body.matches.length} cases: `,
          ...body.matches.map((m, i) => [i ? ", " : "",
            el("a", {href: "/console/cases/" + m.case_id}, `${short(m.case_id)} (${m.entity.split(":")[0]})`)]));
      }
    });
  }

  return {el, api, when, money, short, severity, search};
})();
