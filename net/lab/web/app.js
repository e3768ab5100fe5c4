// The devnet's live view: the topology from /api/state, kept current by
// the lab's records from /api/events, and a sequence diagram of one link
// from /api/pair. Plain DOM and SVG; no build step, no library.
"use strict";

const svgNS = "http://www.w3.org/2000/svg";
const W = 800, H = 600;
const lab = {
  state: null,     // the last /api/state
  pos: [],         // node index (from 1) -> {x, y}
  blocks: new Map(), // hash -> {height, origin, reached: Map(node -> time)}
  order: [],       // block hashes, newest last
  pair: null,      // {a, b, source}
  messages: 0,     // arrows drawn
};
window.lab = lab; // for tests and the curious

// ms writes a latency: microseconds show on a fast link.
function ms(x) { return x < 10 ? x.toFixed(3) : x.toFixed(1); }

function el(name, attrs, parent) {
  const e = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// tipColour gives every tip its own hue, the same on every node.
function tipColour(tip) {
  if (!tip) return "#ccc";
  const h = parseInt(tip.slice(-6), 16) % 360;
  return `hsl(${h}, 70%, 60%)`;
}

// delayColour: grey for a plain link, towards red for 200 ms.
function delayColour(us, loss) {
  if (!us && !loss) return "#aaa";
  const f = Math.min(1, us / 200000 + loss / 10);
  return `hsl(${Math.round(120 - 120 * f)}, 70%, 45%)`;
}

// layout places the nodes by a few hundred steps of a force simulation
// from a circle: linked nodes pull together, all nodes push apart.
function layout(n, links) {
  const p = [];
  for (let i = 1; i <= n; i++) {
    const a = 2 * Math.PI * (i - 1) / n;
    p[i] = { x: W / 2 + 0.38 * W * Math.cos(a), y: H / 2 + 0.38 * H * Math.sin(a) };
  }
  if (n <= 2) return p;
  const k = Math.sqrt(W * H / n) * 0.8;
  for (let step = 0; step < 300; step++) {
    const t = 20 * (1 - step / 300) + 0.5;
    const d = [];
    for (let i = 1; i <= n; i++) d[i] = { x: 0, y: 0 };
    for (let i = 1; i <= n; i++) for (let j = i + 1; j <= n; j++) {
      let dx = p[i].x - p[j].x, dy = p[i].y - p[j].y;
      const dist = Math.max(1, Math.hypot(dx, dy)), f = k * k / dist;
      dx /= dist; dy /= dist;
      d[i].x += dx * f; d[i].y += dy * f; d[j].x -= dx * f; d[j].y -= dy * f;
    }
    for (const l of links) {
      let dx = p[l.a].x - p[l.b].x, dy = p[l.a].y - p[l.b].y;
      const dist = Math.max(1, Math.hypot(dx, dy)), f = dist * dist / k;
      dx /= dist; dy /= dist;
      d[l.a].x -= dx * f; d[l.a].y -= dy * f; d[l.b].x += dx * f; d[l.b].y += dy * f;
    }
    for (let i = 1; i <= n; i++) {
      const m = Math.max(1, Math.hypot(d[i].x, d[i].y));
      p[i].x = Math.min(W - 30, Math.max(30, p[i].x + d[i].x / m * Math.min(m, t)));
      p[i].y = Math.min(H - 30, Math.max(30, p[i].y + d[i].y / m * Math.min(m, t)));
    }
  }
  return p;
}

// draw builds the topology's SVG once and then only updates it, so that
// elements (and the dots running along links) survive each refresh.
function draw() {
  const st = lab.state, svg = document.getElementById("topology");
  if (!lab.pos.length) lab.pos = layout(st.nodes.length, st.links);
  if (!lab.els || lab.els.links.length !== st.links.length || lab.els.nodes.length !== st.nodes.length) build(svg, st);
  st.links.forEach((l, i) => {
    const e = lab.els.links[i];
    e.line.setAttribute("class", "link" + (l.cut ? " cut" : ""));
    e.line.setAttribute("stroke", delayColour(l.delay_us, l.loss));
    e.title.textContent = `link ${l.a}-${l.b}: ${l.cond}${l.cut ? " (cut)" : ""}`;
  });
  drawSelected();
  st.nodes.forEach((n, i) => {
    const e = lab.els.nodes[i];
    e.circle.setAttribute("class", "node" + (n.mining ? " miner" : "") + (n.up ? "" : " down"));
    e.title.textContent = `node ${n.index} (${n.id}) ${n.listen}\nheight ${n.height} tip ${n.tip}`;
    updateNode(n.index, n.tip, n.height);
  });
  const tips = new Set(st.nodes.filter(n => n.up).map(n => n.tip));
  document.getElementById("summary").textContent =
    `${st.network}: ${st.nodes.length} nodes, ${st.links.length} links, ` +
    (tips.size === 1 ? "all on one tip" : `${tips.size} tips`);
}

function build(svg, st) {
  svg.textContent = "";
  lab.els = { links: [], nodes: [] };
  const gl = el("g", { id: "links" }, svg);
  for (const l of st.links) {
    const a = lab.pos[l.a], b = lab.pos[l.b];
    const line = el("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, "data-a": l.a, "data-b": l.b }, gl);
    const title = el("title", {}, line);
    line.addEventListener("click", () => openPair(l.a, l.b));
    lab.els.links.push({ line, title });
  }
  el("g", { id: "dots" }, svg);
  const gn = el("g", { id: "nodes" }, svg);
  const r = st.nodes.length > 64 ? 7 : 12;
  for (const n of st.nodes) {
    const p = lab.pos[n.index];
    const circle = el("circle", { cx: p.x, cy: p.y, r, "data-node": n.index }, gn);
    const title = el("title", {}, circle);
    el("text", { x: p.x, y: p.y + r + 11, class: "label" }, gn);
    lab.els.nodes.push({ circle, title });
  }
}

function updateNode(index, tip, height) {
  const n = lab.state && lab.state.nodes[index - 1];
  if (!n) return;
  n.tip = tip; n.height = height;
  const c = document.querySelector(`circle.node[data-node="${index}"]`);
  if (c) {
    c.setAttribute("fill", tipColour(tip));
    c.setAttribute("data-tip", tip);
    c.setAttribute("data-height", height);
    const label = c.nextSibling;
    if (label) label.textContent = `${index}:${height}`;
  }
}

// spread animates a dot from the neighbour that had the item first to the
// node that has it now.
function spread(kind, hash, node, reached) {
  const st = lab.state;
  let from = 0, best = Infinity;
  for (const l of st.links) {
    const other = l.a === node ? l.b : (l.b === node ? l.a : 0);
    if (other && reached.has(other) && reached.get(other) < best) { best = reached.get(other); from = other; }
  }
  if (!from) return;
  const a = lab.pos[from], b = lab.pos[node], dots = document.getElementById("dots");
  if (!dots) return;
  const dot = el("circle", { r: 5, class: kind === "block" ? "dot-block" : "dot-tx", cx: a.x, cy: a.y }, dots);
  const start = performance.now(), dur = 600;
  (function step(now) {
    const f = Math.min(1, (now - start) / dur);
    dot.setAttribute("cx", a.x + (b.x - a.x) * f);
    dot.setAttribute("cy", a.y + (b.y - a.y) * f);
    if (f < 1) requestAnimationFrame(step); else dot.remove();
  })(start);
}

function blockList() {
  const ol = document.getElementById("blocks");
  ol.textContent = "";
  const total = lab.state ? lab.state.nodes.length : 0;
  for (const hash of lab.order.slice(-12).reverse()) {
    const b = lab.blocks.get(hash);
    const li = document.createElement("li");
    li.dataset.hash = hash;
    li.dataset.reached = b.reached.size;
    const times = [...b.reached.values()];
    const spreadMs = times.length > 1 ? Math.max(...times) - Math.min(...times) : 0;
    li.textContent = `height ${b.height} ${hash.slice(0, 12)}… ${b.origin ? "from node " + b.origin + " " : ""}` +
      `reached ${b.reached.size}/${total} nodes in ${spreadMs.toFixed(0)} ms`;
    ol.appendChild(li);
  }
}

function log(text) {
  const ol = document.getElementById("log");
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + "  " + text;
  ol.appendChild(li);
  while (ol.children.length > 200) ol.firstChild.remove();
  ol.scrollTop = ol.scrollHeight;
}

const txs = new Map(); // hash -> Map(node -> time)

function onRecord(r) {
  const t = Date.parse(r.time);
  switch (r.kind) {
    case "tip":
      updateNode(r.node, r.hash, r.height);
      break;
    case "block-connected": {
      let b = lab.blocks.get(r.hash);
      if (!b) { b = { height: r.height, origin: 0, reached: new Map() }; lab.blocks.set(r.hash, b); lab.order.push(r.hash); }
      if (!b.reached.has(r.node)) {
        spread("block", r.hash, r.node, b.reached);
        b.reached.set(r.node, t);
      }
      if (lab.order.length > 1000) lab.blocks.delete(lab.order.shift());
      blockList();
      break;
    }
    case "lab-mined": {
      let b = lab.blocks.get(r.hash);
      if (!b) { b = { height: r.height, origin: r.node, reached: new Map() }; lab.blocks.set(r.hash, b); lab.order.push(r.hash); }
      b.origin = r.node;
      log(`node ${r.node} mined block ${r.hash.slice(0, 16)}… (${r.detail})`);
      blockList();
      break;
    }
    case "tx-accepted": {
      let m = txs.get(r.hash);
      if (!m) { m = new Map(); txs.set(r.hash, m); if (txs.size > 2000) txs.delete(txs.keys().next().value); }
      if (!m.has(r.node)) { spread("tx", r.hash, r.node, m); m.set(r.node, t); }
      break;
    }
    case "lab-paid":
      log(`node ${r.node} paid: tx ${r.hash.slice(0, 16)}… ${r.detail}`);
      break;
    case "lab-action":
      log("scenario: " + r.detail);
      refresh();
      break;
    case "block-disconnected":
      log(`node ${r.node} disconnected block ${r.height} (reorganization)`);
      break;
    case "peer-disconnected":
      log(`node ${r.node} lost peer ${r.peer}: ${r.reason}`);
      break;
  }
}

async function refresh() {
  try {
    const st = await (await fetch("/api/state")).json();
    const first = !lab.state;
    lab.state = st;
    draw();
    if (first) {
      const sel = document.getElementById("pair-select");
      for (const l of st.links) {
        const o = document.createElement("option");
        o.value = `${l.a}-${l.b}`; o.textContent = `link ${l.a}-${l.b} (${l.cond})`;
        sel.appendChild(o);
      }
      sel.addEventListener("change", () => {
        const [a, b] = sel.value.split("-").map(Number);
        if (a && b) openPair(a, b);
      });
    }
  } catch (e) {
    document.getElementById("summary").textContent = "the devnet is not answering";
  }
}

// The sequence diagram: two lifelines; each message an arrow from the
// sender's lifeline at the row it was sent to the receiver's, slanted by
// how long it took (when both ends report it).
let pairSource = null;
function openPair(a, b) {
  if (pairSource) pairSource.close();
  lab.pair = { a, b };
  lab.messages = 0;
  const gen = lab.gen = (lab.gen || 0) + 1; // a diagram started over ignores the old one's timers
  document.getElementById("pair-select").value = `${a}-${b}`;
  const seq = document.getElementById("seq");
  seq.textContent = "";
  seq.setAttribute("height", 40);
  const xa = 110, xb = 410;
  el("text", { x: xa - 25, y: 15 }, seq).textContent = `node ${a}`;
  el("text", { x: xb - 25, y: 15 }, seq).textContent = `node ${b}`;
  const lifeA = el("line", { x1: xa, y1: 22, x2: xa, y2: 40, class: "lifeline" }, seq);
  const lifeB = el("line", { x1: xb, y1: 22, x2: xb, y2: 40, class: "lifeline" }, seq);
  drawSelected();
  const pending = { [a]: [], [b]: [] };  // sent by this node, awaiting receipt at the other
  const received = { [a]: [], [b]: [] }; // received by this node, awaiting the other's send
  let y = 30, t0 = 0;
  const wrap = document.getElementById("seq-wrap");
  function arrow(from, sentAt, recvAt, m) {
    if (gen !== lab.gen) return;
    y += 18;
    const x1 = from === a ? xa : xb, x2 = from === a ? xb : xa;
    const lat = recvAt && sentAt ? recvAt - sentAt : 0;
    const slant = Math.min(40, Math.max(0, lat / 2));
    const line = el("line", { x1, y1: y, x2, y2: y + slant, class: "msg", stroke: m.command === "block" || m.command === "cmpctblock" ? "#f80" : "#246",
      "marker-end": "url(#arrow)", "data-command": m.command }, seq);
    el("title", {}, line).textContent = `${m.command} ${m.size} bytes, ${from} → ${from === a ? b : a}` + (lat ? `, ${ms(lat)} ms` : "");
    const tx = (x1 + x2) / 2 - 40;
    el("text", { x: tx, y: y - 3 }, seq).textContent = `${m.command} (${m.size})${lat ? " " + ms(lat) + "ms" : ""}`;
    el("text", { x: 2, y: y + 4, fill: "#999" }, seq).textContent = (((sentAt || recvAt) - t0) / 1000).toFixed(3) + "s";
    y += slant;
    seq.setAttribute("height", y + 20);
    lifeA.setAttribute("y2", y + 20); lifeB.setAttribute("y2", y + 20);
    lab.messages++;
    // Keep the diagram bounded: start over past 500 arrows.
    if (lab.messages > 500) openPair(a, b);
    wrap.scrollTop = wrap.scrollHeight;
  }
  const defs = el("defs", {}, seq);
  const mk = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#246" }, mk);
  const note = document.getElementById("seq-note");
  note.textContent = "waiting for messages…";
  pairSource = new EventSource(`/api/pair?a=${a}&b=${b}`);
  pairSource.onmessage = ev => {
    const m = JSON.parse(ev.data);
    const t = m.us / 1000; // ms, with the microseconds
    if (!t0 || t < t0) t0 = t;
    note.textContent = `messages between nodes ${a} and ${b}, from ${m.source === "capture" ? "packet captures at both ends of the link" : "the nodes' event streams"}`;
    // The two ends' captures reach the page on their own streams, so a
    // receipt may come before its send: each waits up to 3 s for the other
    // and is drawn alone past that.
    const same = p => p.m.command === m.command && p.m.size === m.size;
    const wait = (queue, from, sentAt, recvAt) => {
      const entry = { m, t };
      queue.push(entry);
      setTimeout(() => {
        const i = queue.indexOf(entry);
        if (i >= 0) { queue.splice(i, 1); arrow(from, sentAt, recvAt, m); }
      }, 3000);
    };
    if (m.sent) {
      // A receipt at the other end that came first: the earliest one
      // after this send.
      const q = received[m.peer];
      const i = q.findIndex(p => same(p) && p.t + 1 >= t);
      if (i >= 0) { const p = q.splice(i, 1)[0]; arrow(m.at, t, p.t, m); return; }
      wait(pending[m.at], m.at, t, 0);
      return;
    }
    // Received at m.at, so sent by the other: the latest pending send of
    // the same command and size before it (both ends are on this machine's
    // clock). Not the oldest: a capture that starts in the middle of a
    // stream can miss a receipt, and the oldest would then pair every later
    // receipt with the message before its own.
    const q = pending[m.peer];
    let i = -1;
    q.forEach((p, j) => { if (same(p) && p.t <= t + 1) i = j; });
    if (i >= 0) { const p = q.splice(i, 1)[0]; arrow(m.peer, p.t, t, m); return; }
    wait(received[m.at], m.peer, 0, t);
  };
}

function drawSelected() {
  for (const l of document.querySelectorAll("line.link")) {
    l.classList.toggle("selected", lab.pair && +l.dataset.a === lab.pair.a && +l.dataset.b === lab.pair.b);
  }
}

refresh().then(() => {
  const es = new EventSource("/api/events");
  es.onmessage = ev => onRecord(JSON.parse(ev.data));
  setInterval(refresh, 3000);
});
