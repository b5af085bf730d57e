// Index: photos or a whole folder into a collection, two at a time, with progress per file and
// what was not indexed and why (Rekognition's UnindexedFaces reasons, or the error).

import { describeError, upload } from "../api.js";
import { add, checkbox, collectionSelect, dropZone, field, fill, h, notice, pageHeading } from "../dom.js";

const IMAGE = /\.(jpe?g|png)$/i;
const AT_ONCE = 2; // the service computes two at a time per worker anyway

// ExternalImageId allows [a-zA-Z0-9_.\-:]; a file's path becomes one.
export function externalId(file) {
  return (file.webkitRelativePath || file.name).replace(/[^a-zA-Z0-9_.\-:]+/g, "_").slice(-255);
}

function fileRow(file) {
  const bar = h("progress", { max: "1", value: "0", "aria-label": `upload of ${file.name}` });
  const status = h("span", { class: "status" }, "waiting");
  const li = h("li", { "data-file": file.name }, h("span", { class: "name" }, file.webkitRelativePath || file.name), bar, status);
  return { li, bar, status };
}

function outcome(result) {
  const indexed = result.FaceRecords.length;
  const missed = result.UnindexedFaces || [];
  const parts = [h("span", { class: indexed ? "ok-text" : "bad-text" }, `${indexed} face${indexed === 1 ? "" : "s"} indexed`)];
  if (missed.length) {
    parts.push("; not indexed: ", missed.map((u, i) => `${i ? ", " : ""}${u.Reasons.join(" + ")}`).join(""));
  }
  if (!indexed && !missed.length) parts.push(": no face found in the photo");
  return parts;
}

export async function render(root) {
  const collection = await collectionSelect();
  const maxFaces = h("input", { name: "MaxFaces", type: "number", min: "1", max: "100" });
  const useNames = checkbox("Use each file's name as its ExternalImageId", "useNames", true);
  const files = h("input", { type: "file", name: "photos", multiple: true, accept: "image/jpeg,image/png", id: "photos" });
  const folder = h("input", { type: "file", name: "folder", webkitdirectory: true, id: "folder" });
  const list = h("ul", { class: "files", "aria-label": "Files" });
  const summary = h("div", { "aria-live": "polite" });
  const queue = [];
  let running = 0;
  const totals = { files: 0, done: 0, faces: 0, unindexed: 0, errors: 0, skipped: 0 };

  function report() {
    fill(summary, notice(totals.errors ? "warn" : "info",
      `${totals.done} of ${totals.files} files done: ${totals.faces} faces indexed, ${totals.unindexed} faces not indexed, ` +
      `${totals.errors} files failed${totals.skipped ? `, ${totals.skipped} skipped (not JPEG or PNG)` : ""}.`));
  }

  async function indexOne(item) {
    const { file, row } = item;
    row.status.textContent = "uploading";
    const form = new FormData();
    form.append("Image", file, file.name);
    if (useNames.querySelector("input").checked) form.append("ExternalImageId", externalId(file));
    if (maxFaces.value) form.append("MaxFaces", maxFaces.value);
    try {
      const result = await upload(`/collections/${encodeURIComponent(item.collection)}/faces`, form, {
        onProgress: (p) => { row.bar.value = p; if (p >= 1) row.status.textContent = "finding faces…"; },
      });
      row.bar.value = 1;
      fill(row.status, ...outcome(result));
      totals.faces += result.FaceRecords.length;
      totals.unindexed += (result.UnindexedFaces || []).length;
    } catch (e) {
      fill(row.status, h("span", { class: "bad-text" }, describeError(e)));
      totals.errors += 1;
    }
    totals.done += 1;
    report();
  }

  function pump() {
    while (running < AT_ONCE && queue.length) {
      running += 1;
      indexOne(queue.shift()).finally(() => { running -= 1; pump(); });
    }
  }

  function addFiles(chosen) {
    if (!collection.value) {
      fill(summary, notice("error", "Choose a collection first."));
      collection.focus();
      return;
    }
    for (const file of chosen) {
      const row = fileRow(file);
      add(list, row.li);
      totals.files += 1;
      if (!IMAGE.test(file.name)) {
        row.status.textContent = "skipped: not a JPEG or PNG file";
        totals.skipped += 1;
        totals.done += 1;
        continue;
      }
      queue.push({ file, row, collection: collection.value });
    }
    report();
    pump();
  }

  add(root, ...pageHeading("Index faces", "Add the faces of photos to a collection. Each photo's faces are found, checked for quality, and stored; the ones that were not are listed with the reason."),
    h("form", { class: "card", onsubmit: (e) => e.preventDefault() },
      h("div", { class: "row" }, field("Collection", collection), field("Most faces per photo", maxFaces, "default 100, largest first")),
      useNames,
      dropZone(files, "Drop photos here, or choose them:", addFiles),
      h("div", { class: "field" }, h("label", { for: "folder" }, "Or a whole folder"), folder)),
    summary, list);
  folder.addEventListener("change", () => addFiles([...folder.files]));
}
