// audiogen Studio: the request form's brief, one uploaded picture or video: the upload, what it reads as (the
// valence/arousal point and style hints; a video's length and cuts) and its thumbnail. Uses app.js's helpers.
"use strict";

const signed = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(2)}`;
const megabytes = (n) => (n >= 1e5 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);

function fieldError(name, text) {
  $(`.err[data-for="${name}"]`).textContent = text || "";
  if (name === "brief") $("#brief-drop").classList.toggle("invalid", Boolean(text));
}

function shotColour(s) { // valence: cool blue → warm orange; arousal: muted → saturated
  return `hsl(${Math.round(220 - (s.valence + 1) * 95)} ${Math.round(30 + (s.arousal + 1) * 30)}% 58%)`;
}

function showBrief(brief) {
  state.brief = brief;
  const video = brief?.kind === "video", dur = $("#f-duration"), note = $("#duration-note");
  $("#brief-card").hidden = !brief;
  $("#brief-drop").hidden = Boolean(brief);
  if (video && !dur.disabled) state.durationBefore = dur.value;
  if (!video && dur.disabled) dur.value = state.durationBefore ?? 30;
  dur.disabled = video; note.hidden = !video;
  if (!brief) return;
  const r = brief.reading;
  $("#brief-thumb").src = brief.thumb;
  $("#brief-name").textContent = brief.name;
  $("#brief-name").title = brief.name;
  const lines = [`valence ${signed(r.valence)} · arousal ${signed(r.arousal)}`, `nearest emotion: ${r.nearest}`];
  if (video) {
    $("#brief-meta").textContent = `video · ${r.width}×${r.height} · ${Math.round(r.fps)} fps · ${megabytes(brief.size)}`;
    const cuts = r.cuts.map((c) => c.toFixed(2)).join(", ");
    lines.unshift(`${r.duration.toFixed(2)} s · ` + (cuts ? `${r.cuts.length} cut${r.cuts.length > 1 ? "s" : ""}: ${cuts}`
      : "no cuts"));
    dur.value = r.duration.toFixed(2);
    note.textContent = "from the video";
  } else {
    $("#brief-meta").textContent = `picture · ${megabytes(brief.size)}`;
  }
  $("#brief-read").replaceChildren(...lines.map((l) => h("div", {}, l)));
  const shots = $("#brief-shots");
  shots.hidden = !video;
  shots.replaceChildren(...(video ? r.shots : []).map((s) => h("i", {
    style: { flex: (s.end - s.start).toFixed(3), background: shotColour(s) },
    title: `${s.start.toFixed(2)}–${s.end.toFixed(2)} s · valence ${signed(s.valence)} · arousal ${signed(s.arousal)}`,
  })));
  const hints = r.style_tags.map((t) => h("span", { class: "chip", title: r.reasons[t] }, t));
  $("#brief-hints").replaceChildren(h("small", { title: "used when Style tags is empty" },
    hints.length ? "style hints:" : "no style hints"), ...hints);
}

async function uploadBrief(files) {
  files = [...files];
  $("#f-brief").value = "";
  if (!files.length) return;
  const max = state.options.max_upload_bytes, size = files.reduce((n, f) => n + f.size, 0);
  if (size > max) {
    fieldError("brief", `${files.map((f) => f.name).join(", ")}: ${megabytes(size)} is too large; a brief may be ` +
      `at most ${megabytes(max)}`);
    return;
  }
  const drop = $("#brief-drop"), prompt = $("#brief-prompt"), was = prompt.textContent;
  drop.classList.add("busy");
  prompt.textContent = `Reading ${files.map((f) => f.name).join(", ")}…`;
  fieldError("brief", "");
  const body = new FormData();
  for (const f of files) body.append("file", f);
  try {
    const send = async (fresh) => fetch("/api/briefs", { method: "POST", body, headers: await sendHeaders(fresh) });
    let res = await send(false);
    if (res.status === 403) res = await send(true); // the server was restarted: its token is new
    const data = await res.json().catch(() => null);
    if (res.ok) {
      showBrief(data);
      if (state.emoMode === "label") { setEmoMode("auto"); toast("Emotion set to Auto: the brief sets the mood"); }
    } else fieldError("brief", data?.errors?.brief || data?.detail || `The server refused the upload (${res.status}).`);
  } catch (err) {
    fieldError("brief", `The studio server cannot be reached: ${err.message}`);
  } finally {
    drop.classList.remove("busy");
    prompt.textContent = was;
  }
}

async function restoreBrief(brief) {
  if (!brief) { showBrief(null); return; }
  const { ok, data } = await api("GET", `/api/briefs/${encodeURIComponent(brief.id)}`);
  showBrief(ok ? data : null);
  if (!ok) fieldError("brief", `${brief.name}: no longer in the library; upload it again`);
}
