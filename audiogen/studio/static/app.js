// audiogen Studio: the request form, the queue (live over Server-Sent Events) and the library. No dependencies.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = {
  options: null, emoMode: "label", pad: { v: 0.4, a: -0.7 }, rev: -1, tracks: new Map(), current: null, brief: null,
  durationBefore: null,
  jobs: [], mine: new Set(), heard: new Set(), live: null, serverLive: null, // live: the LivePlayer heard now
};
const player = new Audio();
player.preload = "auto";
window.studio = { player, state }; // for the browser tests

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") Object.assign(el.style, v); // CSSOM: the page's CSP allows no style attributes
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

const ICON_PLAY = '<svg viewBox="0 0 16 16"><path d="M4 2.5v11l9-5.5z"/></svg>';
const ICON_PAUSE = '<svg viewBox="0 0 16 16"><path d="M3.5 2h3v12h-3zM9.5 2h3v12h-3z"/></svg>';

function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 2600);
}

function clock(s) {
  s = Math.max(0, s || 0);
  return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

// What a request that changes something carries besides its Origin: the server's token for this page, read from
// /api/options (the server refuses such a request without it). After a restart of the server the token is new: a
// refused request reads it again and is sent once more.
async function sendHeaders(fresh = false) {
  if (fresh || !state.options) {
    const res = await fetch("/api/options");
    if (res.ok) state.options = await res.json();
  }
  return { "X-Studio-Token": state.options?.token || "" };
}

async function api(method, url, body) {
  const send = async (fresh) => fetch(url, {
    method, body: body ? JSON.stringify(body) : undefined,
    headers: { ...(body ? { "Content-Type": "application/json" } : {}),
      ...(method === "GET" ? {} : await sendHeaders(fresh)) },
  });
  let res = await send(false);
  if (res.status === 403 && method !== "GET") res = await send(true);
  let data = null;
  try { data = await res.json(); } catch (_) { /* an empty body */ }
  return { ok: res.ok, status: res.status, data };
}

// -- the form ---------------------------------------------------------------------------------------------------
async function loadOptions() {
  const { data } = await api("GET", "/api/options");
  state.options = data;
  const emo = $("#f-emotion");
  const filter = $("#f-filter-emotion");
  for (const name of Object.keys(data.emotions).sort()) {
    emo.append(h("option", { value: name }, name));
    filter.append(h("option", { value: name }, name));
  }
  emo.value = "happy";
  for (const k of data.keys) $("#f-key").append(h("option", { value: k }, k));
  for (const [name, lufs] of Object.entries(data.loudness)) {
    $("#f-loudness").append(h("option", { value: name, title: `${lufs} LUFS integrated` }, name));
  }
  const showLufs = () => { $("#lufs").textContent = `${data.loudness[$("#f-loudness").value]} LUFS`; };
  $("#f-loudness").addEventListener("change", showLufs);
  showLufs();
  $("#f-tempo").min = data.tempo[0]; $("#f-tempo").max = data.tempo[1];
  $("#f-duration").min = data.duration[0]; $("#f-duration").max = data.duration[1];
  $("#f-variants").min = 1; $("#f-variants").max = data.max_variants;
  drawPad();
  suggestTags();
}

function setEmoMode(mode) {
  state.emoMode = mode;
  for (const b of $("#emo-mode").children) {
    b.classList.toggle("on", b.dataset.mode === mode);
    b.setAttribute("aria-checked", String(b.dataset.mode === mode));
  }
  $("#f-emotion").hidden = mode !== "label";
  $("#pad-wrap").hidden = mode !== "pad";
  if (mode === "pad") drawPad();
}

function nearestEmotion(v, a) {
  let best = null, dist = Infinity;
  for (const [name, [ev, ea]] of Object.entries(state.options?.emotions || {})) {
    const d = (ev - v) ** 2 + (ea - a) ** 2;
    if (d < dist) { best = name; dist = d; }
  }
  return best;
}

function drawPad() {
  const c = $("#pad"), ctx = c.getContext("2d");
  const dpr = window.devicePixelRatio || 1;
  if (c.dataset.dpr !== String(dpr)) { c.width = 240 * dpr; c.height = 240 * dpr; c.dataset.dpr = String(dpr); }
  ctx.setTransform(c.width / 240, 0, 0, c.height / 240, 0, 0);
  const w = 240, hgt = 240, x = (v) => (v + 1) / 2 * w, y = (a) => (1 - (a + 1) / 2) * hgt;
  ctx.clearRect(0, 0, 240, 240);
  for (const [col, qx, qy] of [["#fff3e6", 1, 0], ["#fdecec", 0, 0], ["#eef0fb", 0, 1], ["#e9f7ef", 1, 1]]) {
    ctx.fillStyle = col; ctx.fillRect(qx * w / 2, qy * hgt / 2, w / 2, hgt / 2);
  }
  ctx.strokeStyle = "#c9cedb"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(w / 2, 0); ctx.lineTo(w / 2, hgt); ctx.moveTo(0, hgt / 2); ctx.lineTo(w, hgt / 2); ctx.stroke();
  ctx.font = "10px system-ui, sans-serif"; ctx.fillStyle = "#8a91a5";
  const placed = [];  // label boxes already drawn: a label that would overlap one is left out (its dot stays)
  const axis = (text, tx, ty) => {
    const tw = ctx.measureText(text).width;
    ctx.fillText(text, tx, ty);
    placed.push({ x: tx, y: ty - 8, w: tw, h: 10 });
  };
  axis("excited", w / 2 + 4, 11); axis("calm", w / 2 + 4, hgt - 4);
  axis("negative", 3, hgt / 2 - 4); axis("positive", w - 3 - ctx.measureText("positive").width, hgt / 2 - 4);
  const free = (b) => placed.every((p) => b.x > p.x + p.w || b.x + b.w < p.x || b.y > p.y + p.h || b.y + b.h < p.y);
  for (const [name, [v, a]] of Object.entries(state.options?.emotions || {})) {
    ctx.fillStyle = "#9aa1b5"; ctx.beginPath(); ctx.arc(x(v), y(a), 2, 0, 7); ctx.fill();
    const tw = ctx.measureText(name).width;
    const spots = [{ x: x(v) + 4, y: y(a) - 5 }, { x: x(v) - tw - 4, y: y(a) - 5 }, { x: x(v) - tw / 2, y: y(a) - 15 },
      { x: x(v) - tw / 2, y: y(a) + 3 }].map((b) => ({ ...b, w: tw, h: 10 }))
      .filter((b) => b.x >= 1 && b.x + b.w <= w - 1 && b.y >= 1 && b.y + b.h <= hgt - 1);
    const spot = spots.find(free);
    if (!spot) continue;
    placed.push(spot);
    ctx.fillStyle = "#7b8297"; ctx.fillText(name, spot.x, spot.y + 8);
  }
  const { v, a } = state.pad;
  ctx.fillStyle = "#4f46e5"; ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
  ctx.beginPath(); ctx.arc(x(v), y(a), 7, 0, 7); ctx.fill(); ctx.stroke();
  $("#pad-read").textContent =
    `valence ${v.toFixed(2)} · arousal ${a.toFixed(2)} · nearest: ${nearestEmotion(v, a) || "–"}`;
}

function padPointer(ev) {
  const r = $("#pad").getBoundingClientRect();
  const clamp = (t) => Math.max(-1, Math.min(1, t));
  state.pad = {
    v: Math.round(clamp(((ev.clientX - r.left) / r.width) * 2 - 1) * 100) / 100,
    a: Math.round(clamp(1 - ((ev.clientY - r.top) / r.height) * 2) * 100) / 100,
  };
  drawPad();
}

function suggestTags() {
  const box = $("#tag-suggest"), input = $("#f-style");
  const all = Object.values(state.options?.style_tags || {}).flat();
  const have = input.value.split(",").map((t) => t.trim().toLowerCase());
  const part = have[have.length - 1];
  const pick = all.filter((t) => !have.includes(t) && (!part || t.startsWith(part))).slice(0, part ? 10 : 8);
  box.replaceChildren(...pick.map((t) => h("button", {
    type: "button", onclick: () => {
      const tags = input.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (part && !all.includes(part)) tags.pop();
      tags.push(t);
      input.value = tags.join(", ") + ", ";
      input.focus(); suggestTags();
    },
  }, t)));
}

function formValues() {
  const f = $("#request").elements, val = (name) => f[name].value.trim();
  const num = (name) => {
    const s = val(name);
    if (s === "") return null;
    const n = Number(s);
    return Number.isFinite(n) ? n : s;
  };
  return {
    text: val("text") || null,
    emotion: state.emoMode === "label" ? val("emotion") : null,
    valence: state.emoMode === "pad" ? state.pad.v : null,
    arousal: state.emoMode === "pad" ? state.pad.a : null,
    style: val("style").replace(/[,\s]+$/, "") || null,
    tempo: num("tempo"), key: val("key") || null, duration: num("duration"),
    ending: val("ending"), loudness: val("loudness"), variants: num("variants"), seed: num("seed"),
    brief: state.brief ? state.brief.id : null,
  };
}

function fillForm(req) {
  const f = $("#request").elements;
  f.text.value = req.text || "";
  if (req.valence !== null && req.valence !== undefined) {
    state.pad = { v: req.valence, a: req.arousal }; setEmoMode("pad");
  } else if (req.emotion) { f.emotion.value = req.emotion; setEmoMode("label"); } else setEmoMode("auto");
  f.style.value = req.style ? [].concat(req.style).join(", ") : "";
  f.tempo.value = req.tempo ?? ""; f.key.value = req.key || ""; f.duration.value = req.duration ?? 30;
  f.ending.value = req.ending || "fade"; f.loudness.value = req.loudness || "streaming";
  f.variants.value = req.variants ?? 1; f.seed.value = req.seed ?? "";
  showErrors({});
  restoreBrief(req.brief);
}

function showErrors(errors) {
  for (const el of document.querySelectorAll(".err[data-for]")) el.textContent = errors[el.dataset.for] || "";
  for (const el of $("#request").querySelectorAll("[name]")) el.classList.toggle("invalid", Boolean(errors[el.name]));
  $("#brief-drop").classList.toggle("invalid", Boolean(errors.brief));
  const first = Object.keys(errors)[0];
  if (first && $("#request").elements[first]) $("#request").elements[first].focus();
}

async function submit(values) {
  const button = $("#generate");
  button.disabled = true;
  unlockLiveAudio(); // in the click: the first variant will be heard as it is generated
  try {
    const { ok, status, data } = await api("POST", "/api/jobs", values);
    if (ok) {
      state.mine.add(data.id);
      showErrors({});
      toast(`Queued: ${data.variants} variant${data.variants > 1 ? "s" : ""}, seed ${data.seed}`);
    } else if (data && data.errors) showErrors(data.errors);
    else showErrors({ form: data?.detail ? `${data.detail} (${status})` : `The server refused the request (${status}).` });
  } catch (err) {
    showErrors({ form: `The studio server cannot be reached: ${err.message}` });
  } finally {
    button.disabled = false;
  }
}

// -- the queue --------------------------------------------------------------------------------------------------
function renderStatus(status) {
  const pill = $("#status");
  const kind = status.startsWith("error") ? "error" : status;
  pill.className = `pill ${kind}`;
  pill.textContent = { loading: "loading the model…", ready: "ready", busy: "generating" }[status] || status;
}

function renderJobs(jobs) {
  const list = $("#jobs");
  const shown = jobs.filter((j) => j.state === "queued" || j.state === "running" || j.state === "failed").slice(0, 12);
  $("#jobs-empty").hidden = shown.length > 0;
  list.replaceChildren(...shown.map((j) => {
    const r = j.request;
    const label = [r.brief ? `${r.brief.kind === "video" ? "video" : "picture"}: ${r.brief.name}` : null,
      r.text || "(no text)", r.emotion || (r.valence !== null ? `v ${r.valence} a ${r.arousal}` : null),
      `${r.duration} s`].filter(Boolean).join(" · ");
    const bars = j.state === "failed" ? null : h("div", { class: "bars-progress" }, j.progress.map((p, i) =>
      h("div", { class: "progress", "data-variant": i },
        h("div", { class: "p-label" }, h("span", {}, `Variant ${i + 1} · seed ${j.seed + i}`),
          h("span", { class: "pct" }, `${Math.round(p * 100)}%`)),
        h("div", { class: "bar", role: "progressbar", "aria-valuenow": Math.round(p * 100), "aria-valuemin": 0,
          "aria-valuemax": 100 }, h("i", { style: { width: `${(p * 100).toFixed(1)}%` } })))));
    const stop = j.state === "running" ? "stop this request (the variants made so far stay)" : "remove it from the queue";
    const live = liveControl(j);
    const actions = j.state === "queued" || j.state === "running"
      ? h("button", { class: "ghost cancel", title: stop, onclick: () => api("DELETE", `/api/jobs/${j.id}`) }, "Cancel")
      : null;
    return h("li", { class: "job", "data-job": j.id, "data-state": j.state },
      h("div", { class: "job-head" }, h("span", { class: `state ${j.state}` }, j.state),
        h("span", { class: "job-title", title: label }, label), live, actions),
      bars, j.error ? h("div", { class: "why" }, `Failed: ${j.error}`) : null);
  }));
}

function listen() {
  const events = new EventSource("/api/events");
  events.onmessage = (ev) => {
    const snap = JSON.parse(ev.data);
    renderStatus(snap.status);
    state.jobs = snap.jobs;
    state.serverLive = snap.live;
    followLive(snap);
    renderJobs(snap.jobs);
    if (snap.rev !== state.rev) { state.rev = snap.rev; loadTracks(); }
  };
  events.onerror = () => renderStatus("reconnecting…");
}

// -- live: a request's first variant, heard while it is generated (live.js) --------------------------------------
// A request queued from this page is heard as soon as its first variant starts; any page can listen to the variant
// being made (its button in the queue). When that variant's track is saved, the player takes over at the same place.
function followLive(snap) {
  const live = snap.live;
  if (live && state.mine.has(live.job) && !state.heard.has(live.job)) startLive(live);
  const job = state.live && snap.jobs.find((j) => j.id === state.live.job);
  if (job && (job.state === "cancelled" || job.state === "failed")) stopLive();
}

function startLive(live) {
  state.heard.add(live.job);
  stopLive();
  player.pause();
  const heard = (state.live = new LivePlayer(live));
  const tick = () => {
    if (state.live !== heard) return;
    const pos = document.querySelector(`.job[data-job="${heard.job}"] .live-pos`);
    if (pos) pos.textContent = clock(heard.position());
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  renderJobs(state.jobs);
}

function stopLive() {
  if (!state.live) return;
  state.live.stop();
  state.live = null;
  renderJobs(state.jobs);
}

function toggleLive() {
  const live = state.live;
  if (!live) return;
  if (live.paused) player.pause();
  (live.paused ? live.resume() : live.pause()).finally(() => renderJobs(state.jobs));
}

function liveControl(j) {
  const live = state.live;
  if (live && live.job === j.id) {
    return h("span", { class: "live", title: "the first variant, heard while it is generated" },
      h("span", { class: "live-dot" }, "● live"), h("span", { class: "live-pos" }, clock(live.position())),
      h("button", { class: "ghost live-btn", onclick: toggleLive }, live.paused ? "Play" : "Pause"));
  }
  if (state.serverLive && state.serverLive.job === j.id && j.state === "running") {
    const listen = () => { unlockLiveAudio(); startLive(state.serverLive); };
    return h("button", { class: "ghost live-btn", title: "hear the variant being generated", onclick: listen }, "Listen live");
  }
  return null;
}

// The saved track takes over from the live stream at the same place (from its start when all of it was heard).
async function swapLive(live, card) {
  live.swapping = true;
  if (state.current && state.current !== card) markPlaying(state.current, false);
  state.current = card;
  player.src = card.track.files.mp3;
  const loaded = new AbortController();
  await new Promise((resolve) => {
    player.addEventListener("loadedmetadata", resolve, { once: true, signal: loaded.signal });
    player.addEventListener("error", resolve, { once: true, signal: loaded.signal });
  });
  loaded.abort();
  if (state.live !== live) return; // another track was played meanwhile
  const playing = live.playing, at = live.finished ? 0 : live.position();
  stopLive();
  if (state.current !== card) return;
  player.currentTime = Math.min(at, card.track.duration);
  if (playing) player.play().catch((err) => toast(`Cannot play: ${err.message}`));
  else drawWave(card);
}

// -- the library ------------------------------------------------------------------------------------------------
let loading = null;
async function loadTracks() {
  const query = new URLSearchParams({ q: $("#q").value, emotion: $("#f-filter-emotion").value,
    starred: $("#f-starred").checked });
  const token = (loading = {});
  const { ok, data } = await api("GET", `/api/tracks?${query}`);
  if (!ok || token !== loading) return;
  $("#count").textContent = `· ${data.total} track${data.total === 1 ? "" : "s"}`;
  const seen = new Map();
  const cards = data.tracks.map((t) => {
    const old = state.tracks.get(t.id);
    const card = old && old.track.starred === t.starred ? old : makeCard(t);
    seen.set(t.id, card);
    return card.el;
  });
  state.tracks = seen;
  $("#tracks").replaceChildren(...cards);
  $("#tracks-empty").hidden = cards.length > 0;
  for (const card of seen.values()) drawWave(card);
  if (state.current && !seen.has(state.current.track.id)) { player.pause(); state.current = null; }
  const live = state.live;
  if (live && !live.swapping) {
    const saved = [...seen.values()].find((c) => c.track.job_id === live.job && c.track.variant === live.variant);
    if (saved) swapLive(live, saved);
  }
}

function chips(t) {
  const out = [];
  if (t.brief) out.push(`${t.brief.kind === "video" ? "video" : "picture"}: ${t.brief.name}`);
  if (t.emotion) out.push(t.emotion);
  else if (t.valence !== null) out.push(`v ${t.valence.toFixed(2)} · a ${t.arousal.toFixed(2)}`);
  if (t.tempo) out.push(`${Math.round(t.tempo)} BPM`);
  if (t.key) out.push(t.key);
  out.push(`${t.duration.toFixed(1)} s`);
  if (t.style) out.push(t.style);
  out.push(`seed ${t.seed}`);
  return out.map((c, i) => h("span", { class: i === 0 && t.brief ? "chip brief-chip" : "chip", title: c }, c));
}

function chordName(label) {
  const [root, quality] = label.split(":");
  return quality === "maj" ? root : quality === "min" ? `${root}m` : label;
}

function planBlock(t, card) {
  if (!t.plan) return null;
  const bars = t.plan.bars.map((b) => h("div", {
    class: "plan-bar", title: `bar ${b.n}${b.section ? `, section ${b.section}` : ""}: ` +
      b.chords.map((c) => `${c.label} (${c.numeral})`).join(", "),
    onclick: () => play(card, b.start),
  }, h("div", { class: "n" }, h("span", {}, b.n), h("span", {}, b.section)),
  h("div", { class: "c" }, b.chords.map((c) => c.numeral).join(" ") || "–"),
  h("div", { class: "k" }, b.chords.map((c) => chordName(c.label)).join(" "))));
  return h("details", { class: "plan" }, h("summary", {}, `Plan · ${t.plan.summary}`),
    h("div", { class: "plan-bars" }, bars));
}

// One line on the check against the training music (none when the track was not checked). Text nodes only: a
// training item's title is data, never markup.
function originalityLine(t) {
  const o = t.originality;
  if (!o) return null;
  const hit = o.readings.find((r) => r.value !== null && r.threshold !== null && r.value >= r.threshold);
  const near = hit && hit.item ? `${hit.item.title || hit.item.id} (${hit.level})` : "a training item";
  const text = o.flagged ? `Flagged: close to ${near}` : "Original: nothing close to the training music";
  return h("p", { class: `originality ${o.flagged ? "flagged" : "original"}`, title: o.summary || null }, text);
}

function makeCard(t) {
  const card = { track: t };
  const playBtn = h("button", { class: "play", "aria-label": "play", onclick: () => toggle(card) });
  playBtn.innerHTML = ICON_PLAY;
  const wave = h("canvas", { class: "wave", height: 56, "aria-label": "waveform; click to seek",
    onclick: (ev) => { const r = wave.getBoundingClientRect(); play(card, (ev.clientX - r.left) / r.width * t.duration); },
  });
  const time = h("div", { class: "time" }, h("span", { class: "pos" }, "0:00"), h("span", {}, clock(t.duration)));
  const star = h("button", { class: `star${t.starred ? " on" : ""}`, title: t.starred ? "unstar" : "star (keep)",
    "aria-label": "star", onclick: async () => {
      await api("PATCH", `/api/tracks/${t.id}`, { starred: !t.starred }); loadTracks();
    } }, t.starred ? "★" : "☆");
  const links = Object.entries(t.files).map(([kind, url]) => h("a", {
    href: `${url}?download=1`, download: "", class: `dl-${kind}`,
    title: kind === "mp4" ? "download the video with this track as its sound" : `download ${kind.toUpperCase()}`,
  }, kind === "mid" ? "MIDI" : kind.toUpperCase()));
  const params = JSON.stringify({ request: t.request, model: t.model, ...t.params }, null, 2);
  card.el = h("article", { class: "track", "data-id": t.id },
    h("div", { class: "t-head" }, playBtn,
      h("div", { class: "t-title" }, h("h3", { title: t.prompt || t.title }, t.title, " ", h("small", {}, `#${t.id}`)),
        h("div", { class: "chips" }, chips(t))),
      star),
    h("div", { class: "wave-wrap" }, wave), time,
    originalityLine(t),
    planBlock(t, card),
    h("details", { class: "params" }, h("summary", {}, `Seed ${t.seed} · parameters`), h("pre", {}, params)),
    h("div", { class: "actions" },
      h("button", { class: "again", title: "generate this track again from its seed (one variant)",
        onclick: () => submit({ ...t.request, seed: t.seed, variants: 1 }) }, "Again with this seed"),
      h("button", { class: "reuse", title: "put this track's request into the form", onclick: () => {
        fillForm({ ...t.request, seed: t.seed, variants: 1 }); toast("Request copied into the form");
      } }, "Edit request"),
      h("span", { class: "downloads" }, links,
        h("button", { class: "danger delete", title: "delete this track and its files", onclick: async () => {
          if (!confirm(`Delete "${t.title}" (seed ${t.seed}) and its files?`)) return;
          const { ok } = await api("DELETE", `/api/tracks/${t.id}`);
          toast(ok ? "Deleted" : "Could not delete"); loadTracks();
        } }, "✕"))));
  Object.assign(card, { playBtn, wave, pos: $(".pos", time) });
  return card;
}

function drawWave(card) {
  const c = card.wave, dpr = window.devicePixelRatio || 1, w = c.clientWidth || 400, hgt = 56;
  if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = hgt * dpr; }
  const ctx = c.getContext("2d"), peaks = card.track.peaks, n = peaks.length;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  const isCurrent = state.current === card;
  const played = isCurrent && player.duration ? player.currentTime / player.duration : 0;
  const cols = Math.max(1, Math.floor(w / 3));
  for (let i = 0; i < cols; i++) {
    const lo = Math.floor((i / cols) * n), hi = Math.max(lo + 1, Math.floor(((i + 1) / cols) * n));
    let p = 0;
    for (let k = lo; k < hi && k < n; k++) p = Math.max(p, peaks[k]);
    const bar = Math.max(1, p * (hgt - 6));
    ctx.fillStyle = i / cols < played ? "#4f46e5" : "#c3c8d6";
    ctx.fillRect(i * 3, (hgt - bar) / 2, 2, bar);
  }
  if (isCurrent) {
    ctx.fillStyle = "#1c2030"; ctx.fillRect(Math.round(played * w), 0, 1, hgt);
  }
}

// One player for the whole page: switching between variants of one request keeps the position (A/B comparison).
function play(card, at = null) {
  stopLive();
  const t = card.track, prev = state.current;
  if (prev !== card) {
    const keep = prev && prev.track.job_id === t.job_id && Math.abs(prev.track.duration - t.duration) < 0.01
      ? player.currentTime : 0;
    if (prev) markPlaying(prev, false);
    state.current = card;
    player.src = t.files.mp3;
    player.currentTime = at ?? keep;
  } else if (at !== null) player.currentTime = at;
  player.play().catch((err) => toast(`Cannot play: ${err.message}`));
}

function toggle(card) {
  if (state.current === card && !player.paused) player.pause();
  else play(card);
}

function markPlaying(card, on) {
  card.el.classList.toggle("playing", on);
  card.playBtn.innerHTML = on ? ICON_PAUSE : ICON_PLAY;
  card.playBtn.setAttribute("aria-label", on ? "pause" : "play");
  drawWave(card);
}

function tick() {
  const card = state.current;
  if (card) {
    card.pos.textContent = clock(player.currentTime);
    drawWave(card);
    const now = player.currentTime;
    for (const b of card.el.querySelectorAll(".plan-bar")) b.classList.remove("now");
    const bars = card.track.plan ? card.track.plan.bars : [];
    const idx = bars.findLastIndex((b) => b.start <= now);
    if (idx >= 0) card.el.querySelectorAll(".plan-bar")[idx]?.classList.add("now");
  }
  if (!player.paused) requestAnimationFrame(tick);
}

player.addEventListener("play", () => { if (state.current) markPlaying(state.current, true); requestAnimationFrame(tick); });
player.addEventListener("pause", () => { if (state.current) markPlaying(state.current, false); tick(); });
player.addEventListener("seeked", tick);

// -- wiring -----------------------------------------------------------------------------------------------------
function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }

document.addEventListener("DOMContentLoaded", async () => {
  for (const b of $("#emo-mode").children) b.addEventListener("click", () => setEmoMode(b.dataset.mode));
  const pad = $("#pad");
  pad.addEventListener("pointerdown", (ev) => { pad.setPointerCapture(ev.pointerId); padPointer(ev); });
  pad.addEventListener("pointermove", (ev) => { if (pad.hasPointerCapture(ev.pointerId)) padPointer(ev); });
  $("#f-style").addEventListener("input", suggestTags);
  $("#seed-clear").addEventListener("click", () => { $("#f-seed").value = ""; });
  $("#f-brief").addEventListener("change", (ev) => uploadBrief(ev.target.files));
  $("#brief-clear").addEventListener("click", () => { showBrief(null); fieldError("brief", ""); });
  const drop = $("#brief-drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); uploadBrief(ev.dataTransfer.files); });
  $("#request").addEventListener("submit", (ev) => { ev.preventDefault(); submit(formValues()); });
  $("#q").addEventListener("input", debounce(loadTracks, 200));
  $("#f-filter-emotion").addEventListener("change", loadTracks);
  $("#f-starred").addEventListener("change", loadTracks);
  window.addEventListener("resize", debounce(() => { for (const c of state.tracks.values()) drawWave(c); }, 100));
  document.addEventListener("keydown", (ev) => {
    if (ev.code !== "Space" || ev.target.closest("input, textarea, select, button")) return;
    if (state.live) { ev.preventDefault(); toggleLive(); } else if (state.current) { ev.preventDefault(); toggle(state.current); }
  });
  await loadOptions();
  listen();
  loadTracks();
});
