// Ledger: the hash-chained record, filtered; verifying the chain; exporting what the filter
// selects as JSON lines or CSV.

import { allPages, api, may, session } from "../api.js";
import { add, download, errorNotice, field, fill, fmt, h, notice, pageHeading, table } from "../dom.js";

const COLUMNS = ["Seq", "At", "Actor", "Operation", "CollectionId", "CaseId", "Purpose", "Threshold", "FalseMatchRate", "ProbeSha256", "Detail", "PrevHash", "Hash"];

function csvCell(value) {
  let text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
  // A spreadsheet would run a cell starting like a formula: a purpose or note must stay text.
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(entries) {
  return [COLUMNS.join(","), ...entries.map((e) => COLUMNS.map((c) => csvCell(e[c])).join(","))].join("\r\n") + "\r\n";
}

// A line a person can read for the entry's detail.
function summary(e) {
  const d = e.Detail || {};
  if (e.Operation === "ReviewCandidate") return `candidate ${d.CandidateId}: ${d.Decision} → ${d.Status}`;
  if (d.Comparisons !== undefined) return `${d.Comparisons} comparison(s), ${(d.MatchSimilarities || []).length} match(es)`;
  if (d.Matches) return `${d.Matches.length} match(es) of ${d.CollectionSize} faces; expected false ${fmt.count(d.ExpectedFalseCandidates)}`;
  if (d.FaceIds) return `${d.FaceIds.length} face(s)${d.ExternalImageId ? ` of ${d.ExternalImageId}` : ""}${d.Unindexed ? `, ${d.Unindexed} not indexed` : ""}`;
  if (d.Policy) return "policy set";
  if (d.JobId) return `job ${d.JobId}`;
  return Object.keys(d).length ? JSON.stringify(d).slice(0, 120) : "";
}

export async function render(root) {
  const inputs = {
    CollectionId: h("input", { name: "CollectionId" }),
    CaseId: h("input", { name: "CaseId" }),
    Actor: h("input", { name: "Actor", placeholder: "access key id" }),
    Operation: h("input", { name: "Operation", placeholder: "e.g. SearchFacesByImage" }),
    Since: h("input", { name: "Since", type: "date" }),
    Until: h("input", { name: "Until", type: "date" }),
  };
  const limited = session.load().Collections;
  if (limited !== "*") inputs.CollectionId.value = limited[0] || ""; // such a key must name a collection
  const labels = { CollectionId: "Collection", CaseId: "Case ID", Actor: "Key / actor", Operation: "Operation", Since: "From (UTC date)", Until: "Before (UTC date)" };
  const body = h("div", { class: "scroll" });
  const more = h("div");
  const verifyOut = h("div", { "aria-live": "polite" });
  const exportOut = h("div", { "aria-live": "polite" });
  const filters = () => Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]).filter(([, v]) => v));

  let shown = [];
  async function load(token) {
    try {
      const page = await api("/ledger", { query: { ...filters(), MaxResults: 200, NextToken: token } });
      shown = token ? shown.concat(page.Entries) : page.Entries;
      const rows = shown.map((e) => [String(e.Seq), fmt.time(e.At), e.Actor, e.Operation, e.CollectionId || "—", e.CaseId || "—", e.Purpose || "—", summary(e)]);
      fill(body, shown.length ? table(["#", "Time", "Key / actor", "Operation", "Collection", "Case", "Purpose", "What"], rows, `${shown.length} entries`)
        : notice("info", "No entry matches these filters."));
      fill(more, page.NextToken ? h("button", { type: "button", class: "secondary", onclick: () => load(page.NextToken) }, "Load more") : "");
    } catch (e) {
      fill(body, errorNotice(e));
    }
  }

  async function verify() {
    fill(verifyOut, notice("info", "Verifying every entry's hash…"));
    try {
      const v = await api("/ledger/verify");
      fill(verifyOut, v.Intact
        ? notice("ok", `Intact: ${v.Entries} entries, each hash chained to the one before. Head #${v.HeadSeq} ${v.HeadHash}. Write the head down elsewhere to catch a rewrite of the whole chain.`)
        : notice("error", `Broken at entry #${v.FirstBadSeq}: ${v.Reason}`));
    } catch (e) {
      fill(verifyOut, errorNotice(e));
    }
  }

  async function exportAs(kind) {
    fill(exportOut, notice("info", "Reading every matching entry…"));
    try {
      const entries = await allPages("/ledger", "Entries", { ...filters(), MaxResults: 1000 });
      if (kind === "csv") download("ledger.csv", toCsv(entries), "text/csv");
      else download("ledger.jsonl", entries.map((e) => JSON.stringify(e)).join("\n") + "\n", "application/x-ndjson");
      fill(exportOut, notice("ok", `Exported ${entries.length} entries as ${kind === "csv" ? "CSV" : "JSON lines"}.`));
    } catch (e) {
      fill(exportOut, errorNotice(e));
    }
  }

  const form = h("form", { class: "card", "aria-label": "Filters" },
    h("div", { class: "row" }, Object.entries(inputs).map(([k, el]) => field(labels[k], el))),
    h("div", { class: "row" },
      h("button", { type: "submit" }, "Apply filters"),
      h("button", { type: "button", class: "secondary", onclick: () => exportAs("jsonl") }, "Export JSON lines"),
      h("button", { type: "button", class: "secondary", onclick: () => exportAs("csv") }, "Export CSV"),
      // The chain is one for all collections: a key limited to some may not check it whole.
      may("VerifyLedger") && session.load().Collections === "*"
        ? h("button", { type: "button", class: "secondary", onclick: verify }, "Verify the chain")
        : h("span", { class: "hint" }, "Verifying the whole chain needs a key not limited to some collections.")));
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  add(root, ...pageHeading("Ledger", "Every search, comparison, change and review decision, in order, each entry carrying the hash of the one before: an edited, deleted or reordered entry breaks the chain."),
    form, verifyOut, exportOut, body, more);
  await load();
}
