"""Synthetic data with known properties, for reports that need labelled faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def fairness_report(out: Path, threshold: float = 50.0):
    """A fairness report in `out` for two groups of 6 people with 3 faces each; group b's
    people are closer together, so its false match rate is the higher."""
    from faceledger.accountability import fairness, reports

    rng = np.random.default_rng(7)
    embeddings, identities = [], []
    for group, spread in (("a", 0.5), ("b", 0.2)):
        for person in range(6):
            centre = rng.normal(0, spread / np.sqrt(128), 128)
            for _ in range(3):
                embeddings.append(centre + rng.normal(0, 0.3 / np.sqrt(128), 128))
                identities.append(f"{group}{person}")
    report = fairness.evaluate(
        np.asarray(embeddings, dtype=np.float32), identities, {i: i[0] for i in identities}, threshold
    )
    out.mkdir(parents=True, exist_ok=True)
    reports.fairness_report(report, out)
    return report
