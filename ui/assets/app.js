// The status page's live updates. Every value from the gateway comes from
// upstreams or clients and is untrusted: it is only ever inserted with
// textContent (never innerHTML), after visible() has made hidden characters
// visible, and CSS classes come from fixed sets.
"use strict";

(function () {
  const KEEP = 100;
  const hiddenRE = /[\p{Cc}\p{Cf}]/gu;
  let state = { upstreams: [], tools: [], sessions: [], calls: [], rate_limits: [], transitions: [] };

  // visible writes control and format characters (zero-width, bidi
  // overrides, tags) as ⟨U+XXXX⟩, as the server does.
  function visible(v) {
    const s = v === undefined || v === null ? "" : String(v);
    return s.replace(hiddenRE, (c) =>
      c === "\n" || c === "\t" ? c : "⟨U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0") + "⟩");
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = visible(text);
    return e;
  }

  function td(text, cls) { return el("td", cls, text); }

  function badge(text, warn) { return el("span", warn ? "badge warn" : "badge", text); }

  function stateClass(s) {
    return ["up", "down", "connecting", "needs_login"].includes(s) ? "state-" + s : "state-other";
  }

  function since(t) {
    if (!t || t.startsWith("0001-")) return "—";
    const d = (Date.now() - Date.parse(t)) / 1000;
    if (d < 1) return "just now";
    if (d < 60) return Math.floor(d) + "s ago";
    if (d < 3600) return Math.floor(d / 60) + "m ago";
    if (d < 172800) return Math.floor(d / 3600) + "h" + String(Math.floor(d / 60) % 60).padStart(2, "0") + "m ago";
    return Math.floor(d / 86400) + "d ago";
  }

  function clock(t) {
    const d = new Date(t);
    return isNaN(d) ? "" : d.toLocaleTimeString("en-GB", { hour12: false });
  }

  function short(id) { return id && id.length > 8 ? id.slice(0, 8) + "…" : id || ""; }

  function fill(tbody, rows, cols, empty) {
    if (rows.length === 0) {
      const tr = el("tr", "empty");
      const c = td(empty);
      c.colSpan = cols;
      tr.appendChild(c);
      tbody.replaceChildren(tr);
      return;
    }
    tbody.replaceChildren(...rows);
  }

  function renderUpstreams() {
    const rows = state.upstreams.map((u) => {
      const tr = el("tr");
      tr.dataset.upstream = u.name;
      const name = td(u.name, "name");
      if (u.required) { name.append(" ", badge("required")); }
      const st = td(u.state, "state " + stateClass(u.state));
      if (u.needs_login) { st.append(" ", badge("needs login", true)); }
      if (u.quarantined && u.quarantined.length) { st.append(" ", badge(u.quarantined.length + " quarantined", true)); }
      const res = td(u.resources + (u.resource_templates ? " + " + u.resource_templates + " templates" : ""), "num");
      tr.append(name, td(u.transport), st, td(since(u.since), "since"), td(u.tools, "num"), td(u.prompts, "num"),
        res, td(u.breaker, "breaker"), td(u.restarts, "num restarts"), td(u.last_error, "error"));
      return tr;
    });
    fill(document.querySelector("#upstreams tbody"), rows, 10, "no upstreams configured");
    document.getElementById("upstream-count").textContent = String(state.upstreams.length);

    const opened = new Set([...document.querySelectorAll("#catalog details[open]")].map((d) => d.dataset.upstream));
    const catalog = state.upstreams.map((u) => {
      const tools = state.tools.filter((t) => t.upstream === u.name);
      const d = el("details");
      d.dataset.upstream = u.name;
      d.open = opened.has(u.name);
      const q = u.quarantined || [];
      d.appendChild(el("summary", "", u.name + ": " + tools.length + " tools" + (q.length ? ", " + q.length + " quarantined" : "")));
      const ul = el("ul", "tools");
      for (const t of tools) {
        const li = el("li");
        li.append(el("code", "tool", t.name), " ", el("span", "desc", t.description));
        ul.appendChild(li);
      }
      d.appendChild(ul);
      if (q.length) {
        const qu = el("ul", "quarantined");
        for (const item of q) {
          const li = el("li");
          li.append(badge(item.kind, true), " ", el("code", "", item.name), " ", el("span", "desc", item.reason));
          qu.appendChild(li);
        }
        d.appendChild(qu);
      }
      return d;
    });
    document.getElementById("catalog").replaceChildren(...catalog);
  }

  function renderSessions() {
    const rows = state.sessions.map((s) => {
      const tr = el("tr");
      const code = el("td");
      code.appendChild(el("code", "", short(s.id)));
      const who = td(s.identity, "identity");
      if (s.agent) { who.append(" ", badge("agent " + s.agent)); }
      tr.append(code, td(s.endpoint), who, td([s.client, s.client_version].filter(Boolean).join(" "), "client"),
        td(s.protocol_version), td(since(s.created)), td(since(s.last_seen)));
      return tr;
    });
    fill(document.querySelector("#sessions tbody"), rows, 7, "no open sessions");
    document.getElementById("session-count").textContent = String(state.sessions.length);
  }

  function renderCalls() {
    const rows = state.calls.map((c) => {
      const tr = el("tr");
      const tool = el("td", "tool");
      tool.appendChild(el("code", "", c.tool));
      tr.append(td(clock(c.time)), tool, td(c.identity), td(c.upstream),
        td(c.outcome, "outcome " + (c.outcome === "ok" ? "outcome-ok" : "outcome-bad")),
        td(Number(c.duration_ms).toFixed(1) + " ms", "num"));
      return tr;
    });
    fill(document.querySelector("#calls tbody"), rows, 6, "no tool calls yet");
  }

  function renderLimits() {
    const rows = state.rate_limits.map((l) => {
      const tr = el("tr");
      tr.append(td(clock(l.time)), td(l.identity));
      return tr;
    });
    fill(document.querySelector("#limits tbody"), rows, 2, "none");
  }

  function renderTransitions() {
    const rows = state.transitions.map((t) => {
      const tr = el("tr");
      tr.append(td(clock(t.time)), td(t.upstream), td(t.state, "state " + stateClass(t.state)), td(t.error, "error"));
      return tr;
    });
    fill(document.querySelector("#transitions tbody"), rows, 4, "none since the gateway started");
  }

  function renderAll(generated) {
    renderUpstreams();
    renderSessions();
    renderCalls();
    renderLimits();
    renderTransitions();
    if (generated) document.getElementById("generated").textContent = clock(generated);
  }

  function push(list, item) {
    list.unshift(item);
    if (list.length > KEEP) list.length = KEEP;
  }

  function on(es, name, f) {
    es.addEventListener(name, (e) => {
      let data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      f(data);
    });
  }

  function connect() {
    const live = document.getElementById("live");
    const es = new EventSource("/ui/events");
    es.onopen = () => { live.textContent = "live"; live.className = "live-on"; };
    es.onerror = () => { live.textContent = "reconnecting"; live.className = "live-lost"; };
    on(es, "snapshot", (d) => {
      state = {
        upstreams: d.upstreams || [], tools: d.tools || [], sessions: d.sessions || [],
        calls: d.calls || [], rate_limits: d.rate_limits || [], transitions: d.transitions || [],
      };
      renderAll(d.generated);
    });
    on(es, "upstreams", (d) => {
      state.upstreams = d.upstreams || [];
      state.tools = d.tools || [];
      renderUpstreams();
    });
    on(es, "call", (d) => { push(state.calls, d); renderCalls(); });
    on(es, "ratelimit", (d) => { push(state.rate_limits, d); renderLimits(); });
    on(es, "transition", (d) => {
      push(state.transitions, d);
      for (const u of state.upstreams) {
        if (u.name === d.upstream) {
          u.state = d.state;
          if (d.error) u.last_error = d.error;
        }
      }
      renderTransitions();
      renderUpstreams();
    });
  }

  document.addEventListener("DOMContentLoaded", connect);
})();
