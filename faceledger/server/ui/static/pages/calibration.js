// Calibration report: what each threshold means (FMR, FNMR, expected false candidates by
// collection size), with the score distributions and the DET curve.

import { api } from "../api.js";
import { add, authImage, fmt, h, pageHeading, table } from "../dom.js";

export async function render(root) {
  const cal = await api("/calibration");
  const sizes = Object.keys(cal.Table[0].ExpectedFalseCandidates);
  const rows = cal.Table.map((r) => [
    r.Threshold === cal.DefaultThreshold ? `${r.Threshold} (default)` : String(r.Threshold),
    fmt.rate(r.FalseMatchRate), fmt.rate(r.FalseMatchRateUpper95), r.FalseNonMatchRate.toFixed(3),
    ...sizes.map((n) => fmt.count(r.ExpectedFalseCandidates[n])),
  ]);
  add(root, ...pageHeading(`Calibration: ${cal.Name}`, cal.Description),
    h("p", {}, `Measured on ${cal.Faces.toLocaleString()} faces of ${cal.People.toLocaleString()} people: ${cal.GenuinePairs.toLocaleString()} same-person pairs and ${cal.ImpostorPairs.toLocaleString()} different-person pairs${cal.Created ? ` (${cal.Created})` : ""}. Rates below ${fmt.rate(cal.SmallestResolvableFalseMatchRate)} cannot be told from zero with this many pairs.`),
    h("p", {}, "The false match rate (FMR) is the share of different-person comparisons at or above a threshold. A search of N faces makes N comparisons, so it should expect N × FMR false candidates."),
    table(["Threshold", "FMR", "FMR, 95% upper", "FNMR", ...sizes.map((n) => `False candidates, ${Number(n).toLocaleString()} faces`)], rows, "What a threshold means"),
    h("h2", {}, "Plots"),
    h("div", { class: "plots" },
      authImage("/calibration/plots/histogram", "Histograms of same-person and different-person similarity scores"),
      authImage("/calibration/plots/det", "DET curve: false non-match rate against false match rate")));
}
