// The dockyard dashboard (#18, B1). Everything comes from the daemon's own Engine API, read-only,
// under this page's token (relative URLs: `api/...`, `sse`, `stats`). No framework, no CDN.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const STATS_EVERY_MS = 3000;
const SPARK_POINTS = 40;

const state = {
  containers: [],          // /containers/json?all=1
  history: new Map(),      // id -> {cpu: [], mem: [], last: sample}
  selected: null,          // the container whose overlay stack is shown
};

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function api(path, as = "json") {
  const r = await fetch("api" + path, { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return as === "json" ? r.json() : r.text();
}

function bytes(n) {
  if (n == null || n < 0) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 2 : 1) : String(n)) + units[i];
}

function name(c) { return (c.Names && c.Names[0] || c.Id.slice(0, 12)).replace(/^\//, ""); }

function ports(c) {
  return (c.Ports || []).map((p) => p.PublicPort
    ? `${p.IP || "0.0.0.0"}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`
    : `${p.PrivatePort}/${p.Type}`).join(", ");
}

function health(status) {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status || "");
  return m ? m[1].replace("health: ", "") : "";
}

// ---- containers ---------------------------------------------------------------------------

function spark(values, max) {
  const w = 80, h = 18;
  if (!values.length) return `<svg class="spark" width="${w}" height="${h}"></svg>`;
  const top = Math.max(max || 0, ...values, 1e-9);
  const step = w / (SPARK_POINTS - 1);
  const x0 = w - step * (values.length - 1);
  const pts = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(h - 1 - (v / top) * (h - 2)).toFixed(1)}`);
  return `<svg class="spark" width="${w}" height="${h}"><polyline points="${pts.join(" ")}"/></svg>`;
}

function statCells(c) {
  const h = state.history.get(c.Id);
  if (c.State !== "running" || !h) return ["", ""];
  const cpu = h.cpu.length ? h.cpu[h.cpu.length - 1] : null;
  const mem = h.mem.length ? h.mem[h.mem.length - 1] : null;
  return [
    spark(h.cpu, 100) + `<span class="num">${cpu == null ? "" : cpu.toFixed(1) + "%"}</span>`,
    spark(h.mem) + `<span class="num">${mem == null ? "" : bytes(mem)}</span>`,
  ];
}

function renderContainers() {
  const rows = state.containers.map((c) => {
    const hl = health(c.Status);
    const [cpu, mem] = statCells(c);
    return `<tr data-id="${esc(c.Id)}" data-name="${esc(name(c))}" data-state="${esc(c.State)}"` +
      `${state.selected === c.Id ? ' class="sel"' : ""}>` +
      `<td>${esc(name(c))}</td><td>${esc(c.Image)}</td>` +
      `<td><span class="state ${esc(c.State)}">${esc(c.State)}</span> ` +
      `<span class="muted ${hl ? "health-" + hl : ""}">${esc(c.Status)}</span></td>` +
      `<td>${esc(ports(c))}</td><td class="cpu">${cpu}</td><td class="mem">${mem}</td></tr>`;
  });
  document.querySelector("#containers tbody").innerHTML = rows.join("");
  const running = state.containers.filter((c) => c.State === "running").length;
  document.getElementById("container-count").textContent =
    `${state.containers.length} (${running} running)`;
}

async function loadContainers() {
  state.containers = await api("/containers/json?all=1");
  renderContainers();
}

function updateSparks() {
  for (const c of state.containers) {
    const row = document.querySelector(`#containers tr[data-id="${c.Id}"]`);
    if (!row) continue;
    const [cpu, mem] = statCells(c);
    row.querySelector(".cpu").innerHTML = cpu;
    row.querySelector(".mem").innerHTML = mem;
  }
}

async function pollStats() {
  if (document.hidden) return;  // only while someone looks at the page
  let samples;
  try {
    const r = await fetch("stats", { cache: "no-store" });
    if (!r.ok) return;
    samples = await r.json();
  } catch (e) { return; }
  for (const [id, s] of Object.entries(samples)) {
    let h = state.history.get(id);
    if (!h) { h = { cpu: [], mem: [], last: null }; state.history.set(id, h); }
    if (h.last && s.system > h.last.system) {
      const pct = ((s.cpu - h.last.cpu) / (s.system - h.last.system)) * s.cpus * 100;
      h.cpu.push(Math.max(0, pct));
    }
    h.mem.push(s.mem);
    h.last = s;
    for (const k of ["cpu", "mem"]) if (h[k].length > SPARK_POINTS) h[k].shift();
  }
  for (const id of state.history.keys()) if (!(id in samples)) state.history.delete(id);
  updateSparks();
}

// ---- images and layers --------------------------------------------------------------------

// Which history entries made a layer: the API's history has no empty_layer flag, so metadata
// steps are told by their `#(nop)` instruction (COPY and ADD make layers all the same).
function layerHistory(history, count) {
  const oldest = history.slice().reverse();
  const made = oldest.filter((h) => h.Size > 0 ||
    !/#\(nop\)/.test(h.CreatedBy || "") || /#\(nop\) (COPY|ADD)/.test(h.CreatedBy || ""));
  if (made.length === count) return made;
  return oldest.slice(Math.max(0, oldest.length - count));
}

// An image's layers: from `dockyard image layers`' endpoint (sizes, instructions, files and
// wasted bytes per layer), else from inspect's RootFS and the history.
async function imageLayers(img) {
  const id = encodeURIComponent(img.Id);
  try {
    const doc = await api(`/dockyard/images/${id}/layers`);
    return {
      efficiency: doc.efficiency,
      layers: doc.layers.map((l) => ({
        diff: l.diff_id, size: l.size, by: l.instruction || l.created_by,
        note: `+${l.files.added} ~${l.files.changed} -${l.files.removed} files` +
          (l.wasted_bytes ? `, ${bytes(l.wasted_bytes)} wasted by later layers` : ""),
      })),
    };
  } catch (e) {
    const [doc, history] = await Promise.all([api(`/images/${id}/json`), api(`/images/${id}/history`)]);
    const diffs = (doc.RootFS && doc.RootFS.Layers) || [];
    const made = layerHistory(history, diffs.length);
    return {
      layers: diffs.map((d, i) => ({ diff: d, size: made[i] ? made[i].Size : 0, by: made[i] ? made[i].CreatedBy : "", note: "" })),
    };
  }
}

// An image removed between the listing and its own requests is left out, not the whole panel.
async function imageStacks() {
  const images = await api("/images/json");
  const stacks = await Promise.all(images.map(async (img) => {
    const tag = (img.RepoTags && img.RepoTags.find((t) => t !== "<none>:<none>")) || img.Id.slice(7, 19);
    try {
      return { id: img.Id, tag, ...(await imageLayers(img)) };
    } catch (e) {
      console.error(e);
      return null;
    }
  }));
  return stacks.filter((s) => s !== null);
}

function svgEl(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text != null) el.textContent = text;
  return el;
}

// An icicle drawn bottom-up: one trie of layer chains, so a layer that several images share
// (same chain of diff IDs) is one block spanning them; each container is a thin block on top.
function drawLayers(stacks) {
  const byImage = new Map();
  for (const c of state.containers) {
    const list = byImage.get(c.ImageID) || [];
    list.push(c);
    byImage.set(c.ImageID, list);
  }
  const root = { children: new Map(), images: [], size: 0 };
  for (const s of stacks) {
    let node = root;
    for (const l of s.layers) {
      let next = node.children.get(l.diff);
      if (!next) { next = { ...l, children: new Map(), images: [] }; node.children.set(l.diff, next); }
      node = next;
    }
    node.images.push(s);
  }
  const units = (n) => {
    n.units = n.images.reduce((a, s) => a + Math.max(1, (byImage.get(s.id) || []).length), 0);
    for (const ch of n.children.values()) n.units += units(ch);
    return n.units;
  };
  units(root);
  const tallest = Math.max(1, ...stacks.map((s) => s.layers.reduce((a, l) => a + l.size, 0)));
  const H = 220, MIN = 4, RW = 12, LABEL = 30;
  const box = document.getElementById("layers");
  const width = Math.max(box.clientWidth - 4, 300);
  const unit = Math.max(16, Math.min(160, width / Math.max(root.units, 1)));
  const h = (l) => Math.max(MIN, (l.size / tallest) * H);
  let depth = 0;
  const measure = (n, base) => {
    for (const ch of n.children.values()) measure(ch, base + h(ch));
    if (n.images.length) depth = Math.max(depth, base);
  };
  measure(root, 0);
  const total = depth + RW + LABEL * 2 + 6;
  const svg = svgEl("svg", { width: Math.max(width, root.units * unit), height: total, "data-images": stacks.length });
  const palette = ["#0969da", "#1a7f37", "#8250df", "#bf3989", "#9a6700", "#0a3069", "#116329"];
  let color = 0;
  const place = (n, x, base) => {
    // this node's own images (and their containers) first, then the children side by side
    let cx = x;
    for (const s of n.images) {
      const cs = byImage.get(s.id) || [];
      const w = Math.max(1, cs.length) * unit;
      const top = total - base;
      const g = svgEl("g", { class: "image", "data-image": s.tag });
      cs.forEach((c, i) => {
        const r = svgEl("rect", { class: "rw", x: cx + i * unit + 1, y: top - RW, width: unit - 2, height: RW - 1,
          "data-container": name(c) });
        r.appendChild(svgEl("title", {}, `${name(c)}: its own writable layer (upper dir)`));
        g.appendChild(r);
      });
      const eff = s.efficiency == null ? "" : ` · ${(s.efficiency * 100).toFixed(0)}% efficient`;
      g.appendChild(svgEl("text", { x: cx + 3, y: top - RW - 4 }, s.tag + (cs.length ? ` ×${cs.length}` : "") + eff));
      svg.appendChild(g);
      cx += w;
    }
    for (const ch of n.children.values()) {
      const w = ch.units * unit, hh = h(ch);
      const y = total - base - hh;
      const r = svgEl("rect", { class: "layer", x: cx, y, width: w, height: hh,
        fill: palette[color++ % palette.length], "data-layer": ch.diff, "data-size": ch.size });
      r.appendChild(svgEl("title", {}, `${ch.diff.slice(0, 19)}  ${bytes(ch.size)}\n${ch.by}\n${ch.note}`));
      svg.appendChild(r);
      if (hh >= 13 && w >= 60) {
        svg.appendChild(svgEl("text", { x: cx + 3, y: y + hh - 3, fill: "#fff" },
          `${bytes(ch.size)} ${(ch.by || "").replace(/^\/bin\/sh -c (#\(nop\) )?/, "").slice(0, Math.floor(w / 7) - 8)}`));
      }
      place(ch, cx, base + hh);
      cx += w;
    }
  };
  place(root, 0, 0);
  box.replaceChildren(svg);
}

async function loadImages() {
  drawLayers(await imageStacks());
}

// ---- a container's overlay stack ----------------------------------------------------------

async function loadOverlay(id) {
  state.selected = id;
  for (const tr of document.querySelectorAll("#containers tr.sel")) tr.classList.remove("sel");
  const row = document.querySelector(`#containers tr[data-id="${id}"]`);
  if (row) row.classList.add("sel");
  const c = await api(`/containers/${id}/json?size=1`);
  const img = await api(`/images/${encodeURIComponent(c.Image)}/json`).catch(() => null);
  const history = img ? await api(`/images/${encodeURIComponent(c.Image)}/history`) : [];
  const diffs = (img && img.RootFS && img.RootFS.Layers) || [];
  const made = layerHistory(history, diffs.length);
  const data = (c.GraphDriver && c.GraphDriver.Data) || {};
  const lowers = (data.LowerDir || "").split(":").filter(Boolean);
  // LowerDir lists the top first: the container's init layer, then the image's, newest first
  const imageLowers = lowers.filter((d) => !/-init\/diff$/.test(d));
  const rows = [
    ["merged", data.MergedDir, c.SizeRootFs, "what the container sees: upper over the lowers"],
    ["upper", data.UpperDir, c.SizeRw, "its writable layer: files it created or changed (copy-up)"],
  ];
  for (const d of lowers.filter((d) => /-init\/diff$/.test(d))) {
    rows.push(["lower (init)", d, null, "the engine's /etc/hosts, /etc/resolv.conf... mount points"]);
  }
  imageLowers.forEach((d, i) => {
    const h = made[made.length - 1 - i];
    rows.push([`lower ${imageLowers.length - i}`, d, h ? h.Size : null, h ? h.CreatedBy : ""]);
  });
  const changes = (await api(`/containers/${id}/changes`).catch(() => null)) || [];
  const top = Math.max(1, ...rows.map((r) => r[2] || 0));
  document.getElementById("overlay-name").textContent = c.Name.replace(/^\//, "");
  document.getElementById("overlay").innerHTML =
    `<table><thead><tr><th>Layer</th><th>Size</th><th></th><th>Directory</th></tr></thead><tbody>` +
    rows.map(([role, dir, size, note]) =>
      `<tr data-role="${esc(role)}"><td>${esc(role)}</td><td>${esc(bytes(size))}</td>` +
      `<td><svg width="124" height="10"><rect class="bar ${esc(role.split(" ")[0])}" height="10" ` +
      `width="${size == null ? 0 : Math.round(2 + (size / top) * 120)}"/></svg></td>` +
      `<td><code>${esc(dir || "")}</code><br><span class="muted">${esc(note)}</span></td></tr>`).join("") +
    `</tbody></table>` +
    `<h3>In the upper dir <small class="muted">${changes.length} paths added (A), changed (C) or deleted (D)</small></h3>` +
    `<ul id="changes">${changes.slice(0, 50).map((c) =>
      `<li data-path="${esc(c.Path)}"><code>${"CAD"[c.Kind] || "?"} ${esc(c.Path)}</code></li>`).join("")}</ul>`;
}

// ---- volumes ------------------------------------------------------------------------------

async function loadVolumes() {
  const doc = await api("/volumes");
  const users = new Map();
  for (const c of state.containers) {
    for (const m of c.Mounts || []) {
      if (m.Type !== "volume") continue;
      const list = users.get(m.Name) || [];
      list.push(name(c));
      users.set(m.Name, list);
    }
  }
  document.querySelector("#volumes tbody").innerHTML = (doc.Volumes || []).map((v) =>
    `<tr data-volume="${esc(v.Name)}"><td>${esc(v.Name.length > 24 ? v.Name.slice(0, 12) + "…" : v.Name)}</td>` +
    `<td>${esc(v.Driver)}</td><td>${esc((users.get(v.Name) || []).join(", "))}</td>` +
    `<td><code>${esc(v.Mountpoint)}</code></td></tr>`).join("");
}

// ---- the network --------------------------------------------------------------------------

let graphEndpoint = true;  // GET /dockyard/network/graph (#18 item 3); else drawn here

async function loadNetwork() {
  const box = document.getElementById("network");
  if (graphEndpoint) {
    try {
      const svg = await api("/dockyard/network/graph?format=svg", "text");
      const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
      const el = doc.documentElement;
      if (el && el.nodeName.toLowerCase() === "svg") {
        el.setAttribute("data-source", "graph");
        box.replaceChildren(document.importNode(el, true));
        return;
      }
    } catch (e) {
      graphEndpoint = false;
    }
  }
  drawNetwork(box, await api("/networks"));
}

// A plain drawing from /networks and the containers' endpoints: networks in a row, each
// container below, joined to every network it is on (with its address).
function drawNetwork(box, networks) {
  const shown = networks.filter((n) => n.Name !== "none");
  const members = state.containers.filter((c) => c.State === "running" || c.State === "paused");
  const W = Math.max(box.clientWidth - 4, 400), netW = 170, rowH = 46;
  const perRow = Math.max(1, Math.floor(W / 150));
  const height = 90 + Math.ceil(members.length / perRow) * rowH + 20;
  const svg = svgEl("svg", { width: W, height, "data-source": "dashboard" });
  const pos = new Map();
  shown.forEach((n, i) => {
    const x = 10 + i * (netW + 20);
    const cfg = (n.IPAM && n.IPAM.Config && n.IPAM.Config[0]) || {};
    pos.set(n.Name, x + netW / 2);
    const g = svgEl("g", { class: "net", "data-network": n.Name });
    g.appendChild(svgEl("rect", { x, y: 8, width: netW, height: 40, rx: 6, fill: "#ddf4ff", stroke: "#0969da" }));
    g.appendChild(svgEl("text", { x: x + 6, y: 24 }, `${n.Name} (${n.Driver})`));
    g.appendChild(svgEl("text", { x: x + 6, y: 40, fill: "#6b7785" }, [cfg.Subnet, cfg.Gateway].filter(Boolean).join(" gw ")));
    svg.appendChild(g);
  });
  members.forEach((c, i) => {
    const x = 10 + (i % perRow) * 150, y = 90 + Math.floor(i / perRow) * rowH;
    const nets = (c.NetworkSettings && c.NetworkSettings.Networks) || {};
    for (const [net, ep] of Object.entries(nets)) {
      if (!pos.has(net)) continue;
      const line = svgEl("line", { x1: pos.get(net), y1: 48, x2: x + 65, y2: y, stroke: "#8c959f" });
      line.appendChild(svgEl("title", {}, `${name(c)} on ${net}: ${ep.IPAddress || ""}`));
      svg.appendChild(line);
    }
    const g = svgEl("g", { class: "container", "data-container": name(c) });
    g.appendChild(svgEl("rect", { x, y, width: 130, height: 34, rx: 4, fill: "#fff", stroke: "#1a7f37" }));
    g.appendChild(svgEl("text", { x: x + 5, y: y + 14 }, name(c)));
    const addrs = Object.values(nets).map((ep) => ep.IPAddress).filter(Boolean).join(" ");
    g.appendChild(svgEl("text", { x: x + 5, y: y + 28, fill: "#6b7785" }, addrs || ports(c)));
    svg.appendChild(g);
  });
  box.replaceChildren(svg);
}

// ---- events -------------------------------------------------------------------------------

const pending = new Map();
function soon(key, fn, ms = 250) {
  if (pending.has(key)) return;
  pending.set(key, setTimeout(() => { pending.delete(key); fn().catch(console.error); }, ms));
}

function showEvent(ev) {
  const li = document.createElement("li");
  const when = new Date((ev.timeNano ? ev.timeNano / 1e6 : ev.time * 1000)).toLocaleTimeString();
  const attrs = (ev.Actor && ev.Actor.Attributes) || {};
  const who = attrs.name || (ev.Actor && ev.Actor.ID || "").slice(0, 12);
  li.innerHTML = `<span class="t">${esc(when)}</span>${esc(ev.Type)} <b>${esc(ev.Action)}</b> ${esc(who)}`;
  li.dataset.type = ev.Type || "";
  li.dataset.action = ev.Action || "";
  const list = document.getElementById("events");
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
}

function onEvent(ev) {
  showEvent(ev);
  const action = (ev.Action || "").split(":")[0];
  if (ev.Type === "container") {
    if (["exec_create", "exec_start", "exec_die", "top", "resize", "archive-path"].includes(action)) return;
    soon("containers", async () => {
      await loadContainers();
      if (["create", "destroy", "commit"].includes(action)) soon("images", loadImages);
      if (["start", "die", "destroy", "pause", "unpause"].includes(action)) soon("network", loadNetwork);
      if (["create", "destroy"].includes(action)) soon("volumes", loadVolumes);
      if (state.selected === ev.Actor.ID && action !== "destroy") soon("overlay", () => loadOverlay(ev.Actor.ID));
    });
  } else if (ev.Type === "image") {
    soon("images", loadImages);
  } else if (ev.Type === "network") {
    soon("network", loadNetwork);
  } else if (ev.Type === "volume") {
    soon("volumes", loadVolumes);
  }
}

function listen() {
  const live = document.getElementById("live");
  const source = new EventSource("sse");
  let lost = false;
  source.onopen = () => {
    live.classList.add("on");
    if (lost) {  // events were missed while the stream was down: redraw everything once
      lost = false;
      soon("containers", async () => {
        await loadContainers();
        await Promise.all([loadImages(), loadVolumes(), loadNetwork()]);
      });
    }
  };
  source.onerror = () => { live.classList.remove("on"); lost = true; };
  source.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (e) { console.error(e); } };
}

// ---- start --------------------------------------------------------------------------------

async function main() {
  const events = document.getElementById("events");
  const showExec = document.getElementById("show-exec");
  const toggleExec = () => events.classList.toggle("no-exec", !showExec.checked);
  showExec.addEventListener("change", toggleExec);
  toggleExec();
  listen();
  await loadContainers();
  performance.mark("containers-painted");  // bench/dashboard.py reads it
  document.body.dataset.ready = "containers";
  document.querySelector("#containers tbody").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-id]");
    if (tr) loadOverlay(tr.dataset.id).catch(console.error);
  });
  api("/version").then((v) => {
    document.getElementById("engine").textContent = `${v.Version} · API ${v.ApiVersion} · ${v.KernelVersion}`;
  }).catch(() => {});
  await Promise.all([loadImages(), loadVolumes(), loadNetwork()].map((p) => p.catch(console.error)));
  document.body.dataset.ready = "all";
  pollStats();
  setInterval(pollStats, STATS_EVERY_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) pollStats(); });
}

main().catch((e) => { document.body.dataset.error = String(e); console.error(e); });
