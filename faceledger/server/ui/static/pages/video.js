// Video jobs: start a face detection, face search or label detection on a video in a bucket,
// follow its progress, and read the result as a timeline of who (or which labels) appear when; a
// point or bar opens the frame at that time, with its boxes.

import { allPages, api, contextHeaders, may, session } from "../api.js";
import { add, boxedFigure, collectionSelect, errorNotice, field, fill, fmt, h, notice, pageHeading, table } from "../dom.js";
import { policyBadges } from "./collections.js";
import { labelBoxes } from "./detect.js";
import { contextFields, meaning } from "./search.js";

const RECENT = "faceledger.videoJobs";
const SVG = "http://www.w3.org/2000/svg";
const KINDS = { FaceSearch: "face-search", FaceDetection: "face-detection", LabelDetection: "label-detection" };
const NAMES = { FaceSearch: "face search", FaceDetection: "face detection", LabelDetection: "label detection" };

// Kept with the session (this tab, this key), not in the browser for the next person.
function recentJobs() {
  try { return JSON.parse(sessionStorage.getItem(RECENT) || "[]"); } catch { return []; }
}

function remember(job) {
  const jobs = [job, ...recentJobs().filter((j) => j.JobId !== job.JobId)].slice(0, 20);
  sessionStorage.setItem(RECENT, JSON.stringify(jobs));
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) add(el, c);
  return el;
}

// Rows of the timeline: one per tracked person (a search) or one for all faces (a detection).
export function timelineRows(kind, items) {
  const rows = new Map();
  for (const item of items) {
    let key, label;
    if (kind === "FaceSearch") {
      const best = (item.FaceMatches || [])[0];
      key = item.Person.Index;
      label = best ? `${best.Face.ExternalImageId || best.Face.FaceId.slice(0, 8)} (person ${key})` : `unknown (person ${key})`;
    } else {
      key = "faces";
      label = "faces found";
    }
    if (!rows.has(key)) rows.set(key, { label, times: new Set() });
    rows.get(key).times.add(item.Timestamp);
  }
  return [...rows.values()].map((r) => ({ label: r.label, times: [...r.times].sort((a, b) => a - b) }));
}

// A focusable mark of the timeline: a click or Enter (or Space) picks its time.
function pickable(el, label, onPick, at) {
  Object.entries({ tabindex: 0, role: "button", "aria-label": label }).forEach(([k, v]) => el.setAttribute(k, v));
  add(el, svg("title", {}, label));
  el.addEventListener("click", (e) => onPick(at(e)));
  el.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onPick(at()); } });
  return el;
}

// The time axis and one named row per entry; marks(row, y, x) gives each row's marks. The chart's
// `show(t)` moves a cursor to the time chosen.
function chart(rows, duration, name, marks) {
  const left = 250, width = 1000, rowH = 30, top = 24;
  const x = (t) => left + (t / Math.max(1, duration)) * (width - left - 10);
  const bottom = top + rows.length * rowH;
  const el = svg("svg", { viewBox: `0 0 ${width} ${bottom + 10}`, role: "group", "aria-label": name });
  for (let s = 0; s <= duration / 1000; s += Math.max(1, Math.ceil(duration / 10000))) {
    add(el, svg("line", { x1: x(s * 1000), x2: x(s * 1000), y1: top - 6, y2: bottom, stroke: "#e2e5ea" }),
      svg("text", { x: x(s * 1000), y: 14, "font-size": 11, "text-anchor": "middle", fill: "#5b6475" }, `${s}s`));
  }
  const cursor = svg("line", { y1: top - 6, y2: bottom, stroke: "#b42318", "stroke-width": 2, visibility: "hidden", "aria-hidden": "true" });
  rows.forEach((row, i) => {
    const y = top + i * rowH + rowH / 2;
    const short = row.label.length > 32 ? `${row.label.slice(0, 15)}…${row.label.slice(-16)}` : row.label;
    add(el, add(svg("text", { x: 4, y: y + 4, "font-size": 13, fill: "#1d2330" }, short), svg("title", {}, row.label)));
    add(el, marks(row, y, x));
  });
  add(el, cursor);
  // A point of the chart (a click) as a time.
  const timeAt = (e) => {
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(el.getScreenCTM().inverse());
    return ((p.x - left) / (width - left - 10)) * Math.max(1, duration);
  };
  const show = (t) => { cursor.setAttribute("x1", x(t)); cursor.setAttribute("x2", x(t)); cursor.setAttribute("visibility", "visible"); };
  return { el: h("div", { class: "timeline" }, el), show, timeAt };
}

function timeline(kind, items, duration, onPick) {
  const c = chart(timelineRows(kind, items), duration, "Who appears when", (row, y, x) => row.times.map((t) =>
    pickable(svg("circle", { cx: x(t), cy: y, r: 6, fill: kind === "FaceSearch" ? "#1f5fbf" : "#1c7a3e", class: "dot" }),
      `${row.label} at ${fmt.secs(t)}`, onPick, () => t)));
  return c.el;
}

// Rows of a label timeline: one per label name, its segments (AggregateBy SEGMENTS) as bars.
export function labelRows(segments) {
  const rows = new Map();
  for (const s of segments) {
    const name = s.Label.Name;
    if (!rows.has(name)) rows.set(name, { label: name, segments: [] });
    rows.get(name).segments.push(s);
  }
  return [...rows.values()].sort((a, b) => a.label.localeCompare(b.label));
}

// The sampled time nearest to `t` among `times` (sorted), within [from, to] when given.
function nearest(times, t, from = -Infinity, to = Infinity) {
  const inside = times.filter((x) => x >= from && x <= to);
  return (inside.length ? inside : times).reduce((best, x) => (Math.abs(x - t) < Math.abs(best - t) ? x : best));
}

function labelTimeline(segments, times, duration, onPick) {
  let c;
  c = chart(labelRows(segments), duration, "Which labels are seen when", (row, y, x) => row.segments.map((s) => {
    const start = s.StartTimestampMillis, end = s.EndTimestampMillis;
    const bar = svg("rect", { x: x(start), y: y - 7, width: Math.max(4, x(end) - x(start)), height: 14, rx: 3, fill: "#6f42c1", class: "bar" });
    const label = `${row.label} from ${fmt.secs(start)} to ${fmt.secs(end)} (${fmt.sim(s.Label.Confidence)}%)`;
    return pickable(bar, label, onPick, (e) => nearest(times, e ? c.timeAt(e) : start, start, end));
  }));
  return c;
}

async function frameImage(jobId, t) {
  const blob = await api(`/videos/${encodeURIComponent(jobId)}/frame`, { query: { Timestamp: t }, as: "blob" });
  return h("img", { src: URL.createObjectURL(blob), alt: `frame at ${fmt.secs(t)}` });
}

async function frameView(jobId, kind, items, t) {
  const img = await frameImage(jobId, t);
  const here = items.filter((i) => i.Timestamp === t);
  if (kind === "LabelDetection") {
    const labels = here.map((i) => i.Label);
    const said = labels.length ? labels.map((l) => `${l.Name} ${fmt.sim(l.Confidence)}%`).join(", ") : "none";
    return boxedFigure(img, labelBoxes(labels), `The frame at ${fmt.secs(t)}; its labels: ${said}.`);
  }
  const boxes = here.map((i) => kind === "FaceSearch"
    ? { box: i.Person.BoundingBox, kind: i.FaceMatches && i.FaceMatches.length ? "match" : "", label: i.FaceMatches && i.FaceMatches.length ? `${i.FaceMatches[0].Face.ExternalImageId || "match"} ${fmt.sim(i.FaceMatches[0].Similarity)}` : `person ${i.Person.Index}` }
    : { box: i.Face.BoundingBox, label: `${fmt.sim(i.Face.Confidence)}` });
  return boxedFigure(img, boxes, `The frame at ${fmt.secs(t)} with the ${here.length} face(s) found there.`);
}

// A label job's result: the segments as a timeline, and a time chooser over the sampled times
// (AggregateBy TIMESTAMPS) whose frame shows that time's boxes.
async function labelResult(body, state, job, path, r) {
  const segments = r.NextToken ? await allPages(path, "Labels", { MaxResults: 1000, AggregateBy: "SEGMENTS" }) : r.Labels;
  const items = await allPages(path, "Labels", { MaxResults: 1000, AggregateBy: "TIMESTAMPS" });
  const meta = r.VideoMetadata;
  const names = new Set(segments.map((s) => s.Label.Name));
  fill(state, notice("ok", `Done: ${names.size} label(s) in ${segments.length} segment(s) over ${fmt.secs(meta.DurationMillis)} of video (${meta.FrameWidth}×${meta.FrameHeight}, ${meta.Codec}); label model ${r.LabelModelVersion}.`));
  if (!segments.length) return fill(body, notice("info", "No label was found in the video."));
  const times = [...new Set(items.map((i) => i.Timestamp))].sort((a, b) => a - b);
  const frame = h("div", { "aria-live": "polite" });
  const slider = h("input", { type: "range", min: "0", max: String(times.length - 1), step: "1", value: "0", name: "Time" });
  const said = (t) => `${fmt.secs(t)}: ${items.filter((i) => i.Timestamp === t).map((i) => i.Label.Name).join(", ")}`;
  let c, shown = 0, timer;
  const pick = async (t) => {
    const mine = ++shown;
    c.show(t);
    slider.value = String(times.indexOf(t));
    slider.setAttribute("aria-valuetext", said(t));
    fill(frame, notice("info", `Loading the frame at ${fmt.secs(t)}…`));
    try {
      const view = await frameView(job.JobId, job.Kind, items, t);
      if (mine === shown) fill(frame, view);
    } catch (e) {
      if (mine === shown) fill(frame, errorNotice(e));
    }
  };
  c = labelTimeline(segments, times, meta.DurationMillis, pick);
  slider.addEventListener("input", () => {
    clearTimeout(timer); // a frame for where the slider rests, not for every step it passes
    const t = times[Number(slider.value)];
    c.show(t);
    slider.setAttribute("aria-valuetext", said(t));
    timer = setTimeout(() => pick(t), 250);
  });
  slider.setAttribute("aria-valuetext", said(times[0]));
  fill(body,
    h("h3", {}, "Which labels are seen when"),
    c.el,
    h("p", { class: "hint" }, "Choose a bar (click, or Tab to it and press Enter) or a time below to see that frame with its labels' boxes."),
    field("Time", slider, `${times.length} sampled times with labels, from ${fmt.secs(times[0])} to ${fmt.secs(times[times.length - 1])}`),
    frame);
}

async function jobView(holder, job) {
  const title = h("h2", {}, `Job ${job.JobId} (${NAMES[job.Kind]})`);
  const state = h("div", { "aria-live": "polite" });
  const body = h("div");
  fill(holder, title, state, body);
  const path = `/videos/${KINDS[job.Kind]}/${encodeURIComponent(job.JobId)}`;
  const query = job.Kind === "LabelDetection" ? { MaxResults: 1000, AggregateBy: "SEGMENTS" } : { MaxResults: 1000 };
  for (;;) {
    let r;
    try {
      r = await api(path, { query });
    } catch (e) {
      fill(state, errorNotice(e));
      return;
    }
    if (!holder.isConnected) return; // the page was left
    if (r.JobStatus === "IN_PROGRESS") {
      const p = (r.FaceLedger && r.FaceLedger.Progress) || 0;
      fill(state, h("p", {}, `In progress: ${Math.round(p * 100)}%`), h("progress", { max: "1", value: String(p), "aria-label": "job progress" }));
      await new Promise((done) => setTimeout(done, 1000));
      continue;
    }
    if (r.JobStatus === "FAILED") {
      fill(state, notice("error", `The job failed: ${r.StatusMessage}`));
      return;
    }
    if (job.Kind === "LabelDetection") {
      try { await labelResult(body, state, job, path, r); } catch (e) { fill(state, errorNotice(e)); }
      return;
    }
    const member = job.Kind === "FaceSearch" ? "Persons" : "Faces";
    const items = r.NextToken ? await allPages(path, member, { MaxResults: 1000 }) : r[member];
    const meta = r.VideoMetadata;
    fill(state, notice("ok", `Done: ${items.length} face sightings in ${fmt.secs(meta.DurationMillis)} of video (${meta.FrameWidth}×${meta.FrameHeight}, ${meta.Codec}).`));
    const frame = h("div", { "aria-live": "polite" });
    const pick = async (t) => {
      fill(frame, notice("info", `Loading the frame at ${fmt.secs(t)}…`));
      try { fill(frame, await frameView(job.JobId, job.Kind, items, t)); } catch (e) { fill(frame, errorNotice(e)); }
    };
    fill(body, 
      h("h3", {}, "Who appears when"),
      items.length ? timeline(job.Kind, items, meta.DurationMillis, pick) : notice("info", "No face was found in the video."),
      h("p", { class: "hint" }, "Choose a point (click, or Tab to it and press Enter) to see that frame."),
      frame,
      r.FaceLedger && r.FaceLedger.Threshold !== undefined ? meaning(r.FaceLedger) : null);
    return;
  }
}

export async function render(root) {
  const canStart = may("StartFaceDetection") || may("StartFaceSearch") || may("StartLabelDetection");
  const holder = h("section", { class: "card", "aria-label": "Job" });
  const recent = h("div");
  const showRecent = () => {
    const jobs = recentJobs();
    fill(recent, jobs.length
      ? table(["Job", "Kind", "Video", "Started"], jobs.map((j) => [
        h("button", { type: "button", class: "link", onclick: () => jobView(holder, j) }, j.JobId),
        NAMES[j.Kind] || j.Kind, `${j.Bucket}/${j.Name}`, fmt.time(j.Started)]), "Jobs started from this browser")
      : h("p", { class: "hint" }, "No job started from this browser yet."));
  };

  add(root, ...pageHeading("Video jobs", "Find every face in a stored video, the people of a collection with when they appear, or the objects and scenes seen when. Videos are read from the service's buckets (FACELEDGER_BUCKETS folders or an S3 store)."));
  if (canStart) add(root, await startForm(holder, showRecent));
  const openId = h("input", { name: "JobId", pattern: "[a-zA-Z0-9\\-_]{1,64}" });
  const openKind = h("select", { name: "Kind" }, Object.entries(NAMES).map(([value, text]) => h("option", { value }, text)));
  const open = h("form", { class: "card row", "aria-label": "Open a job" }, field("Job ID", openId), field("Kind", openKind), h("button", { type: "submit" }, "Open job"));
  open.addEventListener("submit", (e) => { e.preventDefault(); jobView(holder, { JobId: openId.value.trim(), Kind: openKind.value }); });
  add(root, open, recent, holder);
  showRecent();
}

async function startForm(holder, showRecent) {
  const kind = h("select", { name: "Kind" },
    may("StartFaceSearch") ? h("option", { value: "FaceSearch" }, "search a collection for the people in it") : null,
    may("StartFaceDetection") ? h("option", { value: "FaceDetection" }, "find every face") : null,
    may("StartLabelDetection") ? h("option", { value: "LabelDetection" }, "label the objects and scenes") : null);
  // A key limited to some buckets picks one of them; the service refuses any other all the same.
  const buckets = session.load().Buckets;
  const bucket = buckets && buckets !== "*"
    ? h("select", { name: "Bucket", required: true }, buckets.map((b) => h("option", { value: b }, b)))
    : h("input", { name: "Bucket", required: true });
  const bucketHint = buckets && buckets !== "*" ? "this key may read only these buckets" : undefined;
  const name = h("input", { name: "Name", required: true, placeholder: "folder/clip.mp4" });
  const collection = await collectionSelect();
  const threshold = h("input", { name: "FaceMatchThreshold", type: "number", min: "0", max: "100", step: "0.1" });
  const policyView = h("div");
  const ctxHolder = h("div");
  let ctx = contextFields(null);
  add(ctxHolder, ctx.el);
  const searchOnly = h("div", {}, h("div", { class: "row" }, field("Collection", collection), field("Similarity threshold", threshold, "empty: the collection's floor or the default")), policyView, ctxHolder);
  const minConfidence = h("input", { name: "MinConfidence", type: "number", min: "0", max: "100", step: "0.1" });
  const labelsOnly = h("div", { class: "row" }, field("Lowest label confidence", minConfidence, "empty: 50"));
  const status = h("div", { "aria-live": "polite" });
  let generation = 0; // the latest change wins over an answer still on its way
  const sync = async () => {
    const mine = ++generation;
    searchOnly.hidden = kind.value !== "FaceSearch";
    labelsOnly.hidden = kind.value !== "LabelDetection";
    collection.required = !searchOnly.hidden;
    let policy = null;
    if (!searchOnly.hidden && collection.value && may("GetCollectionPolicy", collection.value)) {
      policy = (await api(`/collections/${encodeURIComponent(collection.value)}/policy`).catch(() => ({}))).Policy || null;
    }
    if (mine !== generation) return;
    fill(policyView);
    if (policy) add(policyView, h("span", {}, "Policy: ", policyBadges(policy)));
    ctx = contextFields(policy);
    fill(ctxHolder, ctx.el);
  };
  kind.addEventListener("change", sync);
  collection.addEventListener("change", sync);
  await sync();
  const form = h("form", { class: "card", "aria-labelledby": "start-title" },
    h("h2", { id: "start-title" }, "Start a job"),
    h("div", { class: "row" }, field("What to do", kind), field("Bucket", bucket, bucketHint), field("Video (object name)", name)),
    searchOnly, labelsOnly,
    h("button", { type: "submit" }, "Start"), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { Video: { S3Object: { Bucket: bucket.value.trim(), Name: name.value.trim() } } };
    if (kind.value === "FaceSearch") {
      body.CollectionId = collection.value;
      if (threshold.value) body.FaceMatchThreshold = Number(threshold.value);
    }
    if (kind.value === "LabelDetection" && minConfidence.value) body.MinConfidence = Number(minConfidence.value);
    try {
      const headers = kind.value === "FaceSearch" ? contextHeaders({ purpose: ctx.purpose.value.trim(), caseId: ctx.caseId.value.trim() }) : {};
      const r = await api(`/videos/${KINDS[kind.value]}`, { method: "POST", json: body, headers });
      const job = { JobId: r.JobId, Kind: kind.value, Bucket: body.Video.S3Object.Bucket, Name: body.Video.S3Object.Name, Started: new Date().toISOString() };
      remember(job);
      showRecent();
      fill(status, notice("ok", `Started job ${r.JobId}.`));
      jobView(holder, job);
    } catch (err) {
      fill(status, errorNotice(err));
    }
  });
  return form;
}
