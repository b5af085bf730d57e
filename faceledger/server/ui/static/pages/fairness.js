// Fairness report: error rates by group at the deployed threshold (NISTIR 8280's way), with
// DET curves per group and the FMR of each group, from the data directory's report.

import { api } from "../api.js";
import { add, authImage, fmt, h, notice, pageHeading, table } from "../dom.js";

export async function render(root) {
  add(root, ...pageHeading("Fairness report", "How the system's errors differ between the groups of people it is used on: each group's false match rate over pairs within the group, its false non-match rate, and its FMR as a multiple of the lowest."));
  let report;
  try {
    report = await api("/fairness");
  } catch (e) {
    if (e.code !== "ResourceNotFoundException") throw e;
    add(root, notice("info", e.message));
    return;
  }
  const rows = report.Groups.map((g) => [g.Group, String(g.People), String(g.Faces), g.ImpostorPairs.toLocaleString(),
    fmt.rate(g.FalseMatchRate), fmt.rate(g.FalseMatchRateUpper95), g.FalseNonMatchRate.toFixed(3),
    g.FalseMatchRateRatioToLowest === null ? "—" : g.FalseMatchRateRatioToLowest.toFixed(2)]);
  add(root, h("p", {}, `At the threshold ${report.Threshold}. ${report.FacesWithoutGroup} faces had no group and were left out.`),
    table(["Group", "People", "Faces", "Impostor pairs", "FMR", "FMR, 95% upper", "FNMR", "FMR / lowest"], rows, "Error rates by group"),
    h("h2", {}, "Plots"),
    h("div", { class: "plots" },
      authImage("/fairness/plots/det_by_group", "DET curve of each group"),
      authImage("/fairness/plots/fmr_by_group", "False match rate of each group at the threshold")));
}
