// Stream processors: each one's state, lag, dropped samples and matches a minute, with Start and
// Stop; and a live view of one: its latest frame with boxes and names, and its events as they
// arrive (server-sent events, read with fetch so that the session token goes with them).

import { allPages, api, apiResponse, may } from "../api.js";
import { boxedFigure, errorNotice, fill, h, notice, pageHeading, table } from "../dom.js";

const path = (name) => `/streams/${encodeURIComponent(name)}`;
// The page drawn again, as the router draws it (timers of the old one stop with it).
const redraw = async () => window.dispatchEvent(new HashChangeEvent("hashchange"));

function figures(d) {
  const f = d.FaceLedger || {};
  return {
    lag: f.LagMillisP50 === null || f.LagMillisP50 === undefined ? "—" : `${f.LagMillisP50} ms`,
    dropped: f.FramesSampled ? `${f.FramesDropped} of ${f.FramesSampled}` : "—",
    perMinute: f.MatchesLastMinute ?? "—",
  };
}

function actions(d, after) {
  const running = ["STARTING", "RUNNING"].includes(d.Status);
  const op = running ? "StopStreamProcessor" : "StartStreamProcessor";
  if (!may(op) || ["STOPPING", "UPDATING"].includes(d.Status)) return null;
  const button = h("button", { type: "button" }, running ? `Stop ${d.Name}` : `Start ${d.Name}`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(`${path(d.Name)}/${running ? "stop" : "start"}`, { method: "POST" });
      await after();
    } catch (e) {
      button.replaceWith(errorNotice(e));
    }
  });
  return button;
}

async function list(root) {
  const names = await allPages("/streams", "StreamProcessors");
  // One that went away (or that this key may not see) meanwhile is left out, not the page.
  const settled = await Promise.allSettled(names.map((p) => api(path(p.Name))));
  const details = settled.filter((r) => r.status === "fulfilled").map((r) => r.value);
  const body = h("div", {});
  const rows = details.map((d) => {
    const f = figures(d);
    return [
      h("a", { href: `#/streams/${encodeURIComponent(d.Name)}` }, d.Name),
      h("span", { class: `status status-${d.Status.toLowerCase()}` }, d.Status),
      d.Settings.FaceSearch.CollectionId,
      f.lag, f.dropped, String(f.perMinute),
      actions(d, redraw),
    ];
  });
  fill(body,
    ...pageHeading("Streams", "Live face search on camera streams. A processor searches each person it follows once, and again when a better view comes; every search is on the ledger."),
    details.length
      ? table(["Processor", "Status", "Collection", "Lag (p50)", "Dropped samples", "Matches a minute", ""], rows)
      : notice("info", "No stream processors yet: create one with boto3's create_stream_processor, POST /v1/streams or faceledger streams create."));
  fill(root, ...body.childNodes);
  return root;
}

// A server-sent event stream read with fetch: onEvent(id, data) for each event until aborted.
async function follow(name, signal, onEvent) {
  const r = await apiResponse(`${path(name)}/events`, { signal });
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    text += decoder.decode(value, { stream: true });
    let end;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const id = /^id: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data) onEvent(id, JSON.parse(data));
    }
  }
}

function faceLabel(f) {
  return f.Match ? `${f.Match.ExternalImageId || f.Match.FaceId.slice(0, 8)} ${f.Match.Similarity}` : "no match";
}

function eventRow(e) {
  const when = new Date(e.FaceLedger.EventTimestamp * 1000).toLocaleTimeString();
  const faces = e.FaceSearchResponse.map((r) => {
    const best = r.MatchedFaces[0];
    return best ? `${best.Face.ExternalImageId || best.Face.FaceId.slice(0, 8)} (${best.Similarity.toFixed(1)})` : "no match";
  });
  const ledger = e.FaceLedger.LedgerSeqs.map((s) => `#${s}`).join(", ");
  return h("li", { class: "stream-event" }, h("time", {}, when), " ", faces.join(", "), h("span", { class: "ledger" }, ` ledger ${ledger}`));
}

async function live(root, name) {
  const d = await api(path(name));
  const stage = h("div", { class: "live-frame", "aria-live": "off" }, notice("info", "Waiting for the first frame…"));
  const status = h("p", { class: "live-status", role: "status" });
  const events = h("ol", { class: "stream-events", "aria-label": "Events, newest first" });
  fill(root,
    ...pageHeading(`Stream ${name}`, `Searching ${d.Settings.FaceSearch.CollectionId} at ${d.Settings.FaceSearch.FaceMatchThreshold}% similarity; purpose: ${d.FaceLedger.Purpose || "none given"}.`),
    h("p", {}, h("a", { href: "#/streams" }, "All streams"), " ", actions(d, redraw)),
    status, stage, h("h2", {}, "Events"), events);

  let shown = null;
  const tick = async () => {
    if (!root.isConnected && shown !== null) return false;
    try {
      const now = await api(path(name));
      const f = figures(now);
      status.textContent = `${now.Status}${now.StatusMessage ? `: ${now.StatusMessage}` : ""} · lag ${f.lag} · dropped ${f.dropped} · ${f.perMinute} matches in the last minute`;
      const r = await apiResponse(`${path(name)}/frame`);
      const faces = JSON.parse(r.headers.get("X-FaceLedger-Faces") || "[]");
      const url = URL.createObjectURL(await r.blob());
      const img = h("img", { src: url, alt: `The latest frame of ${name}: ${faces.length ? faces.map(faceLabel).join(", ") : "no face"}` });
      img.addEventListener("load", () => { if (shown) URL.revokeObjectURL(shown); shown = url; }, { once: true });
      fill(stage, boxedFigure(img, faces.map((x) => ({ box: x.BoundingBox, label: faceLabel(x), kind: x.Match ? "match" : "" }))));
    } catch (e) {
      if (e.status !== 404) fill(stage, errorNotice(e));
    }
    return true;
  };
  await tick();
  const timer = setInterval(async () => { if (!root.isConnected) clearInterval(timer); else await tick(); }, 1000);
  const abort = new AbortController();
  const watch = setInterval(() => { if (!root.isConnected) { abort.abort(); clearInterval(watch); } }, 1000);
  follow(name, abort.signal, (_, e) => {
    events.prepend(eventRow(e));
    while (events.children.length > 50) events.lastChild.remove();
  }).catch((e) => { if (!abort.signal.aborted) events.before(errorNotice(e)); });
  return root;
}

export async function render(root, { params }) {
  return params[0] ? live(root, params[0]) : list(root);
}
