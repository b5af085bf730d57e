"""Error rates by demographic group, in the manner of NIST's FRVT demographics study
(NISTIR 8280): for each group, the false match rate over impostor pairs within the group and the
false non-match rate over its genuine pairs, at the deployed threshold, and how many times the
lowest group's FMR each group's is."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import calibration


def read_groups(path: Path) -> dict[str, str]:
    """identity,group per line (a header line `identity,group` is allowed)."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].strip().startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{path}: each line needs identity,group; got {row!r}")
            identity, group = row[0].strip(), row[1].strip()
            if (identity.lower(), group.lower()) == ("identity", "group"):
                continue
            out[identity] = group
    if not out:
        raise ValueError(f"{path} names no identity")
    return out


@dataclass
class GroupResult:
    group: str
    people: int
    faces: int
    cal: calibration.Calibration
    fmr: float
    fmr_upper95: float
    fnmr: float
    fmr_ratio: float | None  # to the lowest observed FMR among the groups; None when not defined

    def to_dict(self) -> dict:
        return {
            "Group": self.group,
            "People": self.people,
            "Faces": self.faces,
            "GenuinePairs": self.cal.genuine_pairs,
            "ImpostorPairs": self.cal.impostor_pairs,
            "FalseMatchRate": self.fmr,
            "FalseMatchRateUpper95": self.fmr_upper95,
            "FalseNonMatchRate": self.fnmr,
            "FalseMatchRateRatioToLowest": self.fmr_ratio,
        }


@dataclass
class FairnessReport:
    threshold: float
    groups: list[GroupResult]
    ungrouped_faces: int

    def to_dict(self) -> dict:
        return {
            "Threshold": self.threshold,
            "Groups": [g.to_dict() for g in self.groups],
            "FacesWithoutGroup": self.ungrouped_faces,
        }


def evaluate(
    embeddings: np.ndarray, identities: list[str], groups: dict[str, str], threshold: float
) -> FairnessReport:
    ids = np.asarray(identities)
    labels = np.asarray([groups.get(i) for i in identities], dtype=object)
    results = []
    for group in sorted({g for g in labels if g is not None}):
        idx = np.nonzero(labels == group)[0]
        people = len(set(ids[idx]))
        cal = calibration.measure(embeddings[idx], list(ids[idx]), name=group, description=f"group {group}")
        if cal.genuine_pairs == 0 or cal.impostor_pairs == 0:
            raise ValueError(f"group {group!r} needs at least two people and one person with two photos")
        results.append(
            GroupResult(
                group,
                people,
                len(idx),
                cal,
                cal.fmr(threshold),
                cal.fmr_upper95(threshold),
                cal.fnmr(threshold),
                None,
            )
        )
    if not results:
        raise ValueError("no photo belongs to an identity named in the groups file")
    observed = [r.fmr for r in results if r.fmr > 0]
    lowest = min(observed) if observed else None
    for r in results:
        r.fmr_ratio = r.fmr / lowest if lowest else None
    return FairnessReport(threshold, results, int(sum(1 for g in labels if g is None)))
