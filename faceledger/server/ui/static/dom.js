// Small DOM helpers: elements built from data never go through innerHTML, so a name in a
// collection or the ledger can never become markup.

import { api, describeError } from "./api.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "for") el.htmlFor = v;
    else if (k === "style") Object.assign(el.style, v); // CSSOM: the CSP forbids style attributes
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

// Element.append would write null as the text "null": these skip what is absent.
export function add(el, ...children) {
  append(el, children);
  return el;
}

export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let ids = 0;
// A labelled control: <label for> tied to the input, with an optional hint read by screen readers.
export function field(label, input, hint) {
  input.id ||= `f${++ids}`;
  const parts = [h("label", { for: input.id }, label), input];
  if (hint) {
    const hintEl = h("small", { id: `${input.id}-hint`, class: "hint" }, hint);
    input.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field" }, parts);
}

export function checkbox(label, name, checked = false) {
  const input = h("input", { type: "checkbox", name, checked });
  input.id = `f${++ids}`;
  return h("div", { class: "check" }, input, h("label", { for: input.id }, label));
}

// A live region for outcomes: errors as alerts, the rest as polite status.
export function notice(kind, ...text) {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, ...text);
}

export function errorNotice(e) {
  return notice("error", describeError(e));
}

export function pageHeading(title, intro) {
  return [h("h1", { tabindex: "-1" }, title), intro ? h("p", { class: "intro" }, intro) : null];
}

export function table(headers, rows, caption) {
  return h("table", {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

export const fmt = {
  rate: (x) => (x === null || x === undefined ? "—" : x === 0 ? "0" : Number(x).toExponential(1)),
  count: (x) => (x === null || x === undefined ? "—" : x >= 10 ? x.toFixed(0) : x >= 0.1 ? x.toFixed(2) : x.toExponential(1)),
  sim: (x) => (x === null || x === undefined ? "—" : Number(x).toFixed(1)),
  // The catalog's times are UTC; some come without an offset, which Date would read as local.
  time: (iso) => (iso ? new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`).toLocaleString() : "—"),
  secs: (ms) => `${(ms / 1000).toFixed(1)} s`,
};

// Pictures that need the session token: fetched, then shown from a blob: URL.
const urls = new Set();
export function authImage(path, alt, attrs = {}) {
  const img = h("img", { alt, ...attrs });
  api(path, { as: "blob" })
    .then((blob) => { const u = URL.createObjectURL(blob); urls.add(u); img.src = u; })
    .catch((e) => img.replaceWith(h("span", { class: "noimage" }, describeError(e))));
  return img;
}

export function localImage(file, alt) {
  const u = URL.createObjectURL(file);
  urls.add(u);
  return h("img", { src: u, alt });
}

export function releaseImages() {
  for (const u of urls) URL.revokeObjectURL(u);
  urls.clear();
}

// A picture with face boxes over it (BoundingBox values are ratios of the picture's size).
export function boxedFigure(img, boxes, caption) {
  const layer = h("div", { class: "boxes", "aria-hidden": "true" },
    boxes.map((b) => h("div", {
      class: `box ${b.kind || ""}`,
      style: { left: `${b.box.Left * 100}%`, top: `${b.box.Top * 100}%`, width: `${b.box.Width * 100}%`, height: `${b.box.Height * 100}%` },
    }, b.label ? h("span", {}, b.label) : null)));
  return h("figure", { class: "boxed" }, h("div", { class: "stage" }, img, layer), caption ? h("figcaption", {}, caption) : null);
}

export function download(name, text, type) {
  const u = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: u, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(u), 1000);
}

// Every file under dropped entries, folders walked (a dropped folder is one entry, not its files).
async function filesOf(entries) {
  const out = [];
  const walk = async (entry, path) => {
    if (entry.isFile) {
      const file = await new Promise((ok, bad) => entry.file(ok, bad));
      Object.defineProperty(file, "webkitRelativePath", { value: path + file.name });
      out.push(file);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {  // readEntries answers in batches until an empty one
        const batch = await new Promise((ok, bad) => reader.readEntries(ok, bad));
        if (!batch.length) break;
        for (const child of batch) await walk(child, `${path}${entry.name}/`);
      }
    }
  };
  for (const entry of entries) await walk(entry, "");
  return out;
}

// A drop zone that is also a keyboard-usable file picker (the input inside it).
export function dropZone(input, text, onFiles) {
  const zone = h("div", { class: "dropzone" }, h("p", {}, text), input);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const entries = [...e.dataTransfer.items].map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
    if (entries.some((x) => x && x.isDirectory)) onFiles(await filesOf(entries.filter(Boolean)));
    else onFiles([...e.dataTransfer.files]);
  });
  input.addEventListener("change", () => onFiles([...input.files]));
  return zone;
}

// Options of a <select> of the collections this key may see.
export async function collectionSelect(name = "CollectionId", { allowAll = false } = {}) {
  const select = h("select", { name, required: !allowAll });
  if (allowAll) select.append(h("option", { value: "" }, "all collections"));
  try {
    const page = await api("/collections", { query: { MaxResults: 1000 } });
    for (const id of page.CollectionIds) select.append(h("option", { value: id }, id));
    if (!allowAll && !page.CollectionIds.length) select.append(h("option", { value: "", disabled: true }, "no collection yet"));
  } catch (e) {
    select.append(h("option", { value: "", disabled: true }, describeError(e)));
  }
  return select;
}
