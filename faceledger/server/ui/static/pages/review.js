// Review queue: matches of collections that require review wait here until two different
// reviewers (two access keys) confirm them; one rejection ends a candidate.

import { api, may, session } from "../api.js";
import { add, authImage, collectionSelect, errorNotice, field, fill, fmt, h, notice, pageHeading } from "../dom.js";

const NEEDED = 2;

function decisionsList(c) {
  if (!c.Decisions.length) return h("p", { class: "hint" }, "No reviewer has decided yet.");
  return h("ul", { class: "decisions" }, c.Decisions.map((d) =>
    h("li", {}, h("strong", {}, d.Reviewer), ` ${d.Decision === "CONFIRM" ? "confirmed" : "rejected"} at ${fmt.time(d.At)}`, d.Note ? ` — “${d.Note}”` : "")));
}

function candidateCard(c, me, onDecided) {
  const confirms = c.Decisions.filter((d) => d.Decision === "CONFIRM").length;
  const mine = c.Decisions.find((d) => d.Reviewer === me);
  const status = h("div", { "aria-live": "polite" });
  const note = h("textarea", { name: "Note", rows: "2", maxlength: "1000" });
  const canDecide = c.Status === "PENDING" && !mine && may("ReviewCandidate", c.CollectionId);
  async function decide(decision) {
    try {
      // Through the collection's route: a key limited to some collections may only decide there.
      const r = await api(`/collections/${encodeURIComponent(c.CollectionId)}/review/${c.CandidateId}`,
        { method: "POST", json: { Decision: decision, Note: note.value.trim() || undefined } });
      fill(status, notice("ok", `Candidate ${c.CandidateId} is now ${r.Candidate.Status}.`));
      await onDecided(c.CandidateId, r.Candidate.Status);
    } catch (e) {
      fill(status, errorNotice(e));
    }
  }
  let action;
  if (c.Status !== "PENDING") action = notice(c.Status === "CONFIRMED" ? "ok" : "warn", `${c.Status}: no more decisions.`);
  else if (mine) action = notice("info", "You have decided on this candidate: the next decision must come from another reviewer.");
  else if (!may("ReviewCandidate", c.CollectionId)) action = notice("error", "This key may not decide on candidates (ReviewCandidate).");
  else {
    action = h("div", {}, field("Note (optional)", note),
      h("div", { class: "row" },
        h("button", { type: "button", onclick: () => decide("CONFIRM"), "aria-label": `Confirm candidate ${c.CandidateId}` }, "Confirm"),
        h("button", { type: "button", class: "danger", onclick: () => decide("REJECT"), "aria-label": `Reject candidate ${c.CandidateId}` }, "Reject")));
  }
  const picture = c.FaceId && may("ListFaces", c.CollectionId)
    ? authImage(`/collections/${encodeURIComponent(c.CollectionId)}/faces/${c.FaceId}/image`, `candidate ${c.CandidateId}'s face`, { class: "thumb" })
    : h("span", { class: "noimage" }, "no image");
  return h("li", { class: "card candidate", "data-candidate": String(c.CandidateId), "aria-label": `Candidate ${c.CandidateId}` },
    picture,
    h("div", {},
      h("h3", {}, `Candidate ${c.CandidateId}: ${c.ExternalImageId || c.UserId || c.FaceId} in ${c.CollectionId}`),
      h("dl", { class: "facts" },
        h("dt", {}, "Similarity"), h("dd", {}, fmt.sim(c.Similarity)),
        h("dt", {}, "Searched by"), h("dd", {}, c.SearchedBy),
        h("dt", {}, "Case"), h("dd", {}, c.CaseId || "—"),
        h("dt", {}, "Search"), h("dd", {}, `ledger entry #${c.LedgerSeq}, ${fmt.time(c.Created)}`),
        h("dt", {}, "Status"), h("dd", { class: "status" }, `${c.Status}, ${confirms} of ${NEEDED} confirmations`)),
      decisionsList(c)),
    h("div", {}, action, status));
}

export async function render(root) {
  const { AccessKeyId: me, Collections: mine } = session.load();
  // A key limited to some collections may only ask about one of them at a time.
  const collection = await collectionSelect("CollectionId", { allowAll: mine === "*" });
  const status = h("select", { name: "Status" }, ["PENDING", "CONFIRMED", "REJECTED", "ALL"].map((s) => h("option", { value: s }, s.toLowerCase())));
  const list = h("ul", { class: "candidates", "aria-label": "Candidates" });
  const outcome = h("div", { "aria-live": "polite" });
  async function refresh() {
    try {
      const page = await api("/review", { query: { CollectionId: collection.value, Status: status.value, MaxResults: 200 } });
      fill(list, ...page.Candidates.map((c) => candidateCard(c, me, async (id, now) => {
        await refresh();
        fill(outcome, notice("ok", `Candidate ${id} is now ${now}.`));
      })));
      if (!page.Candidates.length) add(list, h("li", {}, notice("info", `No ${status.value.toLowerCase()} candidate.`)));
      if (page.NextToken) add(list, h("li", {}, notice("warn", "Showing the first 200 candidates: decide on these, or choose one collection, to see the rest.")));
    } catch (e) {
      fill(list, h("li", {}, errorNotice(e)));
    }
  }
  collection.addEventListener("change", refresh);
  status.addEventListener("change", refresh);
  add(root, ...pageHeading("Review queue",
    `In a collection that requires review, a match counts as an identification only when ${NEEDED} different reviewers confirm it; one rejection ends it, and nobody decides twice. You are reviewing as ${me}.`),
    h("form", { class: "row card", onsubmit: (e) => e.preventDefault() }, field("Collection", collection), field("Status", status)),
    outcome, list);
  await refresh();
}
