// Search a collection with a photo (the searched face drawn on it, matches ranked, and what the
// threshold means for this collection), and compare two photos side by side.

import { api, contextHeaders, may, upload } from "../api.js";
import { add, authImage, boxedFigure, collectionSelect, dropZone, errorNotice, field, fill, fmt, h, localImage, notice, pageHeading, table } from "../dom.js";
import { policyBadges } from "./collections.js";

// What a threshold means here: the FaceLedger member of a search or comparison.
export function meaning(ext, { search = true } = {}) {
  const facts = [
    ["Threshold", `${ext.Threshold} similarity`],
    ["False match rate (FMR)", `${fmt.rate(ext.FalseMatchRate)} per comparison (95% upper bound ${fmt.rate(ext.FalseMatchRateUpper95)})`],
    ["False non-match rate", fmt.rate(ext.FalseNonMatchRate)],
    ["Calibration", ext.Calibration],
  ];
  if (search && ext.CollectionSize !== undefined) {
    facts.push(["Faces searched", String(ext.CollectionSize)],
      ["Expected false candidates", `${fmt.count(ext.ExpectedFalseCandidates)} (= ${ext.CollectionSize} faces × FMR; upper bound ${fmt.count(ext.ExpectedFalseCandidatesUpper95)})`]);
  }
  if (ext.Comparisons !== undefined) facts.push(["Expected false matches", `${fmt.count(ext.ExpectedFalseMatches)} in ${ext.Comparisons} comparisons`]);
  if (ext.LedgerSeq !== undefined) facts.push(["Ledger entry", `#${ext.LedgerSeq}`]);
  return h("section", { class: "card meaning", "aria-label": "What this threshold means" },
    h("h3", {}, "What this threshold means"),
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", { "data-fact": k }, v)])));
}

export function contextFields(policy) {
  const purpose = h("input", { name: "Purpose", maxlength: "1000", required: !!(policy && policy.RequirePurpose) });
  const caseId = h("input", { name: "CaseId", maxlength: "255", required: !!(policy && policy.RequireCase) });
  const req = (yes) => (yes ? "required by this collection's policy" : "optional; recorded in the ledger");
  return {
    purpose, caseId,
    el: h("div", { class: "row" }, field("Purpose", purpose, req(policy && policy.RequirePurpose)), field("Case ID", caseId, req(policy && policy.RequireCase))),
  };
}

async function searchSection() {
  const collection = await collectionSelect();
  const threshold = h("input", { name: "FaceMatchThreshold", type: "number", min: "0", max: "100", step: "0.1" });
  const maxFaces = h("input", { name: "MaxFaces", type: "number", min: "1", max: "4096", value: "10" });
  const policyView = h("div", { class: "policy" });
  const ctxHolder = h("div");
  const photo = h("input", { type: "file", name: "probe", accept: "image/jpeg,image/png", id: "probe" });
  const preview = h("div");
  const results = h("div", { "aria-live": "polite" });
  let chosen = null;
  let policy = null;
  let ctx = contextFields(null);
  add(ctxHolder, ctx.el);

  let generation = 0; // the latest choice wins over an answer still on its way
  async function loadPolicy() {
    const mine = ++generation;
    let found = null, shown;
    if (collection.value && may("GetCollectionPolicy", collection.value)) {
      try {
        found = (await api(`/collections/${encodeURIComponent(collection.value)}/policy`)).Policy;
        shown = h("span", {}, "Policy: ", policyBadges(found));
      } catch (e) {
        shown = errorNotice(e);
      }
    }
    if (mine !== generation) return;
    policy = found;
    fill(policyView);
    if (shown) add(policyView, shown);
    ctx = contextFields(policy);
    fill(ctxHolder, ctx.el);
  }
  collection.addEventListener("change", loadPolicy);
  await loadPolicy();

  const form = h("form", { class: "card", "aria-labelledby": "search-title" },
    h("h2", { id: "search-title" }, "Search a collection with a photo"),
    h("div", { class: "row" }, field("Collection", collection), field("Similarity threshold", threshold, "empty: the collection's floor or the default"),
      field("Most matches", maxFaces)),
    policyView, ctxHolder,
    dropZone(photo, "Drop a photo here, or choose one (its largest face is searched):", (files) => {
      chosen = files[0] || null;
      fill(preview, chosen ? localImage(chosen, "the photo to search with") : "");
      preview.querySelector("img")?.classList.add("thumb");
    }),
    preview,
    h("button", { type: "submit" }, "Search"));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!chosen) return fill(results, notice("error", "Choose a photo to search with."));
    if (!form.reportValidity()) return;
    const data = new FormData();
    data.append("Image", chosen, chosen.name);
    if (threshold.value) data.append("FaceMatchThreshold", threshold.value);
    if (maxFaces.value) data.append("MaxFaces", maxFaces.value);
    fill(results, notice("info", "Searching…"));
    const cid = collection.value;
    try {
      const r = await upload(`/collections/${encodeURIComponent(cid)}/search`, data,
        { headers: contextHeaders({ purpose: ctx.purpose.value.trim(), caseId: ctx.caseId.value.trim() }) });
      fill(results, ...searchResults(r, cid, chosen, policy));
    } catch (err) {
      fill(results, errorNotice(err));
    }
  });
  return h("div", {}, form, results);
}

function searchResults(r, cid, file, policy) {
  const probe = boxedFigure(localImage(file, "the searched photo"),
    [{ box: r.SearchedFaceBoundingBox, label: "searched face" }], `The face searched (confidence ${fmt.sim(r.SearchedFaceConfidence)}).`);
  const ext = r.FaceLedger || {};
  const review = ext.Review;
  const ids = (review && review.CandidateIds) || [];
  const kept = policy && policy.KeepImages && may("ListFaces", cid);
  const rows = r.FaceMatches.map((m, i) => [
    String(i + 1),
    kept ? authImage(`/collections/${encodeURIComponent(cid)}/faces/${m.Face.FaceId}/image`, `match ${i + 1}`, { class: "thumb" }) : "—",
    m.Face.ExternalImageId || "—",
    h("code", {}, m.Face.FaceId),
    fmt.sim(m.Similarity),
    ids[i] !== undefined ? h("a", { href: "#/review" }, `candidate ${ids[i]}`) : "—",
  ]);
  return [
    h("h2", {}, `${r.FaceMatches.length} match${r.FaceMatches.length === 1 ? "" : "es"} at or above ${ext.Threshold}`),
    h("div", { class: "pair" }, probe, meaning(ext)),
    review ? notice("warn", review.Note || "These matches wait for two reviewers.") : null,
    r.FaceMatches.length
      ? table(["Rank", "Face", "ExternalImageId", "FaceId", "Similarity", "Review"], rows, "Matches, most similar first")
      : notice("info", "No face of the collection is at or above the threshold."),
  ];
}

function compareSection() {
  const threshold = h("input", { name: "SimilarityThreshold", type: "number", min: "0", max: "100", step: "0.1" });
  const picked = { source: null, target: null };
  const previews = { source: h("div"), target: h("div") };
  const results = h("div", { "aria-live": "polite" });
  const picker = (which, label) => {
    const input = h("input", { type: "file", accept: "image/jpeg,image/png", id: `compare-${which}` });
    return h("div", {}, dropZone(input, label, (files) => {
      picked[which] = files[0] || null;
      fill(previews[which], picked[which] ? localImage(picked[which], `${which} photo`) : "");
      previews[which].querySelector("img")?.classList.add("thumb");
    }), previews[which]);
  };
  const form = h("form", { class: "card", "aria-labelledby": "compare-title" },
    h("h2", { id: "compare-title" }, "Compare two photos"),
    h("div", { class: "pair" }, picker("source", "Source photo (its largest face):"), picker("target", "Target photo (every face in it):")),
    h("div", { class: "row" }, field("Similarity threshold", threshold, "empty: the default")),
    h("button", { type: "submit" }, "Compare"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!picked.source || !picked.target) return fill(results, notice("error", "Choose both photos."));
    const data = new FormData();
    data.append("SourceImage", picked.source, picked.source.name);
    data.append("TargetImage", picked.target, picked.target.name);
    if (threshold.value) data.append("SimilarityThreshold", threshold.value);
    fill(results, notice("info", "Comparing…"));
    try {
      const r = await upload("/compare-faces", data);
      const source = boxedFigure(localImage(picked.source, "source photo"), [{ box: r.SourceImageFace.BoundingBox, label: "source face" }], "Source");
      const target = boxedFigure(localImage(picked.target, "target photo"), [
        ...r.FaceMatches.map((m) => ({ box: m.Face.BoundingBox, kind: "match", label: `${fmt.sim(m.Similarity)}` })),
        ...r.UnmatchedFaces.map((u) => ({ box: u.BoundingBox, kind: "unmatched" })),
      ], `Target: ${r.FaceMatches.length} match(es) (green, with similarity), ${r.UnmatchedFaces.length} other face(s) (dashed)`);
      fill(results, h("div", { class: "pair" }, source, target), r.FaceLedger ? meaning(r.FaceLedger, { search: false }) : null);
    } catch (err) {
      fill(results, errorNotice(err));
    }
  });
  return h("div", {}, form, results);
}

export async function render(root) {
  add(root, ...pageHeading("Search", "A search is a ledger entry: it records who searched, for what purpose and case, and what came back. The similarity threshold comes with its false match rate for the size of the collection searched."));
  if (may("SearchFacesByImage")) add(root, await searchSection());
  else add(root, notice("error", "This key may not search collections (SearchFacesByImage)."));
  if (may("CompareFaces")) add(root, compareSection());
}
