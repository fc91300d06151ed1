"""GET /: one self-contained HTML page that shows readiness, trouble and the tree, and refreshes.

No build step, no external assets (the endpoint may run where nothing else is reachable).
The page fetches ``status`` (relative, so it works behind a path prefix) every two seconds
and renders it with textContent only: names and messages are never parsed as HTML.

What it shows, top down: readiness and its reasons (what ``/readyz`` answers); what needs
attention, counted from the summary, so it never says "0" while the process is not ready or
while an actor it does not list is failing; then each supervisor with its children, every
actor's details (a model gateway's providers and breakers, the Discord connection, an MCP
server's connection) beside it, and how many children the overview left out.
"""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Clara — status</title>
<style>
  :root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f8f9fb;
          --ok:#12805c; --warn:#b54708; --bad:#c01048; --idle:#475467; --blue:#175cd3; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
         color:var(--fg); background:var(--bg); }
  header { padding:14px 22px; background:#fff; border-bottom:1px solid var(--line);
           display:flex; gap:22px; align-items:baseline; flex-wrap:wrap; }
  h1 { font-size:18px; margin:0; }
  .meta { color:var(--muted); }
  main { padding:16px 22px; display:grid; gap:16px; }
  section { background:#fff; border:1px solid var(--line); border-radius:8px; overflow:hidden; }
  section > h2 { font-size:14px; margin:0; padding:9px 14px; border-bottom:1px solid var(--line);
                 background:#fcfcfd; display:flex; gap:10px; align-items:center; }
  table { border-collapse:collapse; width:100%; }
  td, th { padding:5px 14px; border-bottom:1px solid var(--line); text-align:left;
           vertical-align:top; white-space:nowrap; }
  th { color:var(--muted); font-weight:500; font-size:12px; }
  td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
  td.path { font-family:ui-monospace, SFMono-Regular, Menlo, monospace; }
  td.why { white-space:normal; color:var(--bad); max-width:40em; }
  td.details { white-space:normal; color:var(--idle); font-size:12px; max-width:48em; }
  td.details div { margin:1px 0; }
  td.details b { font-weight:600; color:var(--fg); }
  tr.state-backing_off, tr.state-starting { background:#fffaeb; }
  tr.state-failed, tr.state-stopping, tr.check { background:#fff1f3; }
  .badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px;
           font-weight:600; color:#fff; background:var(--idle); }
  .badge.running, .badge.ready { background:var(--ok); }
  .badge.backing_off, .badge.starting { background:var(--warn); }
  .badge.failed, .badge.stopping, .badge.not_ready { background:var(--bad); }
  .badge.passivated { background:var(--blue); }
  .bar { display:inline-block; width:60px; height:7px; background:var(--line);
         border-radius:4px; vertical-align:middle; margin-right:6px; overflow:hidden; }
  .bar > i { display:block; height:100%; background:var(--blue); }
  .bar.high > i { background:var(--bad); }
  .more td { color:var(--muted); font-style:italic; }
  #error { display:none; padding:10px 22px; background:#fff1f3; color:var(--bad);
           border-bottom:1px solid #fecdd6; }
  .counts span { margin-right:14px; }
  .empty { padding:10px 14px; color:var(--muted); }
  footer { padding:0 22px 18px; color:var(--muted); }
  footer a { color:var(--blue); margin-right:14px; }
</style>
</head>
<body>
<header>
  <h1>Clara</h1>
  <span class="meta" id="version"></span>
  <span class="meta" id="uptime"></span>
  <span class="counts" id="counts"></span>
  <span class="meta" id="updated">loading…</span>
</header>
<div id="error"></div>
<main>
  <section id="readiness-section">
    <h2>Readiness <span class="badge" id="ready-badge">…</span></h2>
    <div id="readiness"></div>
  </section>
  <section id="attention-section">
    <h2>Needs attention <span class="badge" id="attention-count">…</span></h2>
    <div id="attention"></div>
  </section>
  <div id="tree"></div>
</main>
<footer>
  JSON:
  <a href="status">overview</a>
  <a href="status?view=tree&amp;limit=1000">the whole tree, 1,000 nodes a page</a>
  <a href="readyz">readyz</a>
  <a href="metrics">metrics</a>
</footer>
<script>
"use strict";
const TROUBLE = ["backing_off", "failed", "stopping", "starting"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function badge(state) {
  return el("span", {class: "badge " + state, "data-state": state}, state.replace("_", " "));
}

function duration(seconds) {
  if (seconds < 60) return seconds.toFixed(1) + " s";
  if (seconds < 3600) return (seconds / 60).toFixed(1) + " min";
  if (seconds < 86400) return (seconds / 3600).toFixed(1) + " h";
  return (seconds / 86400).toFixed(1) + " d";
}

function why(node) {
  const parts = [];
  if (node.backoff && node.backoff.next_start_in !== null) {
    parts.push("restart " + node.backoff.attempt + " in " + node.backoff.next_start_in.toFixed(2) +
               " s (delay " + node.backoff.delay.toFixed(2) + " s)");
  }
  if (node.last_failure) {
    parts.push(node.last_failure.type + ": " + node.last_failure.message);
  }
  return parts.join(" — ");
}

// "key value" pairs of a details object, nested objects as "outer.inner".
function pairs(value, prefix, out) {
  for (const [key, item] of Object.entries(value)) {
    const name = prefix ? prefix + "." + key : key;
    if (item !== null && typeof item === "object" && !Array.isArray(item)) {
      pairs(item, name, out);
    } else if (Array.isArray(item)) {
      if (!item.some(entry => entry !== null && typeof entry === "object")) {
        out.push([name, item.join(", ")]);
      }
    } else {
      out.push([name, item === null ? "—" : item]);
    }
  }
  return out;
}

function line(label, entries) {
  const div = el("div", {}, label ? el("b", {}, label + " ") : null);
  div.append(entries.map(([key, value]) => key + " " + value).join(" · "));
  return div;
}

// What an actor's describe() adds: its own figures on one line, then one line per entry
// of each list of objects (a gateway's providers, a catalog's servers, mail accounts).
function details(node) {
  if (!node.details || typeof node.details !== "object") return "";
  const lines = [];
  const own = pairs(node.details, "", []);
  if (own.length) lines.push(line("", own));
  for (const [key, item] of Object.entries(node.details)) {
    if (!Array.isArray(item)) continue;
    for (const entry of item) {
      if (entry === null || typeof entry !== "object") continue;
      const rest = Object.assign({}, entry);
      const label = key + ": " + (rest.name !== undefined ? rest.name : "");
      delete rest.name;
      lines.push(line(label, pairs(rest, "", [])));
    }
  }
  return el("div", {class: "details-lines"}, ...lines);
}

function mailbox(node) {
  if (!node.mailbox) return "";
  const box = node.mailbox;
  const share = box.capacity ? box.depth / box.capacity : 0;
  const bar = el("span", {class: "bar" + (share > 0.8 ? " high" : "")},
                 el("i", {style: "width:" + Math.round(share * 100) + "%"}));
  return el("span", {}, bar, box.depth + " / " + box.capacity);
}

function row(node) {
  const restarts = node.type === "supervisor"
    ? node.restarts + " (" + node.restarts_in_window + " in " + node.max_seconds + " s)"
    : node.restarts;
  return el("tr", {class: "state-" + node.state, "data-path": node.path},
    el("td", {class: "path"}, node.path),
    el("td", {}, node.kind),
    el("td", {}, badge(node.state)),
    el("td", {}, mailbox(node)),
    el("td", {class: "num"},
       node.type === "actor" ? node.processed
         : node.child_count + (node.child_count === 1 ? " child" : " children")),
    el("td", {class: "num"}, restarts),
    el("td", {class: "why"}, why(node)),
    el("td", {class: "details"}, details(node)));
}

function table(rows) {
  return el("table", {},
    el("tr", {}, el("th", {}, "path"), el("th", {}, "kind"), el("th", {}, "state"),
       el("th", {}, "mailbox"), el("th", {class: "num"}, "processed"),
       el("th", {class: "num"}, "restarts"), el("th", {}, "last failure / backoff"),
       el("th", {}, "details")),
    ...rows);
}

function troubled(summary) {
  let count = 0;
  for (const state of TROUBLE) {
    count += (summary.actors_by_state[state] || 0) + (summary.supervisors_by_state[state] || 0);
  }
  return count;
}

function renderReadiness(readiness) {
  const reasons = Object.entries(readiness.reasons);
  const ready = document.getElementById("ready-badge");
  ready.textContent = readiness.ready ? "ready" : "not ready";
  ready.className = "badge " + (readiness.ready ? "ready" : "not_ready");
  document.getElementById("readiness").replaceChildren(
    reasons.length
      ? el("table", {},
          el("tr", {}, el("th", {}, "check"), el("th", {}, "why not ready")),
          ...reasons.map(([name, reason]) =>
            el("tr", {class: "check", "data-check": name},
               el("td", {class: "path"}, name), el("td", {class: "why"}, reason))))
      : el("div", {class: "empty"}, "Ready: every check passes."));
  return reasons.length;
}

function renderAttention(doc, reasons) {
  const rows = doc.nodes.filter(node => TROUBLE.includes(node.state));
  const total = troubled(doc.summary);
  const count = document.getElementById("attention-count");
  count.textContent = reasons + total;
  count.className = "badge " + (reasons + total ? "failed" : "running");
  const parts = [];
  if (reasons) {
    parts.push(el("div", {class: "empty"},
      "Not ready: " + reasons + (reasons === 1 ? " check fails" : " checks fail") +
      " (above)."));
  }
  if (rows.length) {
    const shown = rows.map(row);
    if (total > rows.length) {
      shown.push(el("tr", {class: "more"}, el("td", {colspan: "8"},
        "… and " + (total - rows.length) + " more: status?view=tree&state=" + TROUBLE.join(","))));
    }
    parts.push(table(shown));
  } else if (total) {
    parts.push(el("div", {class: "empty"},
      total + " nodes need attention: status?view=tree&state=" + TROUBLE.join(",")));
  }
  if (!parts.length) parts.push(el("div", {class: "empty"}, "Everything is running."));
  document.getElementById("attention").replaceChildren(...parts);
  return total > rows.length;
}

function renderTree(doc, hiddenTrouble) {
  const groups = new Map();
  for (const node of doc.nodes) {
    const parent = node.path.substring(0, node.path.lastIndexOf("/")) || node.path;
    const key = node.type === "supervisor" ? node.path : parent;
    if (!groups.has(key)) groups.set(key, {supervisor: null, children: []});
    if (node.type === "supervisor") groups.get(key).supervisor = node;
    else groups.get(key).children.push(node);
  }
  const sections = [];
  for (const [path, group] of groups) {
    const head = group.supervisor;
    const rows = (head ? [row(head)] : []).concat(group.children.map(row));
    const nested = doc.nodes.filter(node => node.type === "supervisor" &&
      node.path.substring(0, node.path.lastIndexOf("/")) === path).length;
    const hidden = head ? head.child_count - group.children.length - nested : 0;
    if (hidden > 0) {
      rows.push(el("tr", {class: "more"}, el("td", {colspan: "8"},
        "… and " + hidden + " more" + (hiddenTrouble ? "" : ", all running or idle") +
        " (status?path=" + path + "&limit=1000)")));
    }
    sections.push(el("section", {"data-supervisor": path},
      el("h2", {}, path, head ? badge(head.state) : null), table(rows)));
  }
  document.getElementById("tree").replaceChildren(...sections);
}

function render(doc) {
  document.getElementById("version").textContent = "version " + doc.version;
  document.getElementById("uptime").textContent = "up " + duration(doc.uptime_seconds);
  document.getElementById("counts").replaceChildren(
    el("span", {}, doc.summary.actors + " actors"),
    el("span", {}, doc.summary.supervisors + " supervisors"),
    el("span", {}, doc.summary.restarts + " restarts"),
    el("span", {}, doc.dead_letters.total + " dead letters"));
  document.getElementById("updated").textContent =
    "updated " + new Date().toLocaleTimeString();
  const reasons = renderReadiness(doc.readiness);
  const hiddenTrouble = renderAttention(doc, reasons);
  renderTree(doc, hiddenTrouble);
}

async function refresh() {
  const banner = document.getElementById("error");
  try {
    const response = await fetch("status", {cache: "no-store", credentials: "same-origin"});
    if (!response.ok) throw new Error("status answered " + response.status);
    render(await response.json());
    banner.style.display = "none";
  } catch (error) {
    banner.textContent = "Could not refresh: " + error.message + " (retrying)";
    banner.style.display = "block";
  }
}

refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""
