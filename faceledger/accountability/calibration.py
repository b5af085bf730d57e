"""Calibration: what a similarity threshold means, measured on labelled faces. Genuine and
impostor pair counts at every threshold give the false match rate (FMR) and false non-match
rate at each, and the threshold for a target FMR (see vision/similarity.py for the scale)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..vision.similarity import similarity_from_distance

# Chosen by measurement (bench/verification.py), not a round number: the lowest similarity whose
# false match rate is at most 0.1% on 3,846,151 cross-identity pairs of the development set
# (2,774 people): 0.099%, true match rate 91.8%. It gives 0 false matches in LFW's 1,382 impostor
# pairs (pairs.csv) and a true match rate of 86.9% on its 1,374 genuine pairs. pairs.csv alone
# cannot resolve 0.1% (one false match is 0.072%): its own pick, 70.7, has FMR 0.17% on the
# larger set.
DEFAULT_SIMILARITY_THRESHOLD = 75.9


# -- calibration: similarity <-> false match rate, measured on labelled faces --------------------

GRID_STEP = 0.1
GRID = np.round(np.arange(0.0, 100.0 + GRID_STEP / 2, GRID_STEP), 1)  # thresholds 0.0, 0.1, ..., 100.0


class CalibrationError(ValueError):
    """A calibration file that cannot be read, or a request it cannot answer."""


@dataclasses.dataclass
class Calibration:
    """Genuine and impostor score counts at every threshold of GRID.

    impostor_at_or_above[i]: impostor pairs scoring >= GRID[i] (false matches at that threshold);
    genuine_below[i]: genuine pairs scoring < GRID[i] (false non-matches)."""

    name: str
    description: str
    impostor_at_or_above: np.ndarray
    genuine_below: np.ndarray
    impostor_pairs: int
    genuine_pairs: int
    people: int
    faces: int
    created: str = ""

    # -- reading the measurements ----------------------------------------------------------

    def _index(self, threshold: float) -> int:
        """The grid point at or below `threshold`: FMR there is an upper bound of FMR at it."""
        return int(np.clip(math.floor(round(float(threshold) / GRID_STEP, 6)), 0, len(GRID) - 1))

    def false_matches(self, threshold: float) -> int:
        return int(self.impostor_at_or_above[self._index(threshold)])

    def fmr(self, threshold: float) -> float:
        """Observed false match rate at `threshold` (per comparison)."""
        return self.false_matches(threshold) / self.impostor_pairs

    def fmr_upper95(self, threshold: float) -> float:
        """A 95% upper bound of the FMR: with no false match observed, the rule of three."""
        k = self.false_matches(threshold)
        n = self.impostor_pairs
        return min(1.0, (3.0 if k == 0 else k + 1.96 * math.sqrt(k) + 1.0) / n)

    def fnmr(self, threshold: float) -> float:
        i = min(len(GRID) - 1, int(math.ceil(round(float(threshold) / GRID_STEP, 6))))
        return int(self.genuine_below[i]) / self.genuine_pairs

    def check_usable(self) -> None:
        if self.genuine_pairs <= 0 or self.impostor_pairs <= 0:
            raise CalibrationError(
                f"A calibration needs genuine pairs (two photos of one person) and impostor pairs; measured "
                f"{self.genuine_pairs} and {self.impostor_pairs}."
            )

    def smallest_resolvable_fmr(self) -> float:
        return 3.0 / self.impostor_pairs

    def threshold_for_fmr(self, target: float) -> float:
        """The lowest threshold whose observed FMR is at most `target`."""
        if not 0.0 < target < 1.0:
            raise CalibrationError(f"A target false match rate must be between 0 and 1; got {target!r}.")
        if target < self.smallest_resolvable_fmr():
            raise CalibrationError(
                f"The calibration '{self.name}' measured {self.impostor_pairs:,} impostor pairs, which "
                "cannot "
                f"resolve a false match rate below {self.smallest_resolvable_fmr():.1e}."
            )
        ok = np.nonzero(self.impostor_at_or_above / self.impostor_pairs <= target)[0]
        return float(GRID[ok[0]])

    def summary(self, threshold: float, collection_size: int | None = None) -> dict:
        """What a threshold means: the response extension every comparison carries."""
        out = {
            "Threshold": round(float(threshold), 3),
            "FalseMatchRate": self.fmr(threshold),
            "FalseMatchRateUpper95": self.fmr_upper95(threshold),
            "FalseNonMatchRate": self.fnmr(threshold),
            "Calibration": self.name,
        }
        if collection_size is not None:
            out["CollectionSize"] = int(collection_size)
            # N x FMR: each of the N faces is one comparison with the probe
            out["ExpectedFalseCandidates"] = collection_size * self.fmr(threshold)
            out["ExpectedFalseCandidatesUpper95"] = collection_size * self.fmr_upper95(threshold)
        return out

    # -- storing ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "created": self.created,
            "grid_step": GRID_STEP,
            "impostor_pairs": self.impostor_pairs,
            "genuine_pairs": self.genuine_pairs,
            "people": self.people,
            "faces": self.faces,
            "impostor_at_or_above": self.impostor_at_or_above.tolist(),
            "genuine_below": self.genuine_below.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        try:
            if d.get("grid_step") != GRID_STEP or len(d["impostor_at_or_above"]) != len(GRID):
                raise CalibrationError("The calibration was made on another threshold grid.")
            cal = cls(
                name=str(d["name"]),
                description=str(d.get("description", "")),
                created=str(d.get("created", "")),
                impostor_at_or_above=np.asarray(d["impostor_at_or_above"], dtype=np.int64),
                genuine_below=np.asarray(d["genuine_below"], dtype=np.int64),
                impostor_pairs=int(d["impostor_pairs"]),
                genuine_pairs=int(d["genuine_pairs"]),
                people=int(d["people"]),
                faces=int(d["faces"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CalibrationError(f"Not a faceledger calibration: {e}") from None
        if cal.impostor_pairs <= 0 or cal.genuine_pairs <= 0:
            raise CalibrationError("A calibration needs both genuine and impostor pairs.")
        return cal

    def save(self, path) -> None:
        import json
        from pathlib import Path

        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path) -> Calibration:
        import json
        from pathlib import Path

        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as e:
            raise CalibrationError(f"Cannot read the calibration {path}: {e}") from None


def _bin_counts(scores: np.ndarray) -> np.ndarray:
    """How many scores fall in [GRID[i], GRID[i+1]) (the last bin holds 100 itself)."""
    idx = np.clip(np.floor(np.round(scores / GRID_STEP, 6)).astype(np.int64), 0, len(GRID) - 1)
    return np.bincount(idx, minlength=len(GRID))


def from_scores(
    genuine: np.ndarray, impostor: np.ndarray, *, name: str, description: str, people: int, faces: int
) -> Calibration:
    """A calibration from raw similarity scores of genuine and impostor pairs."""
    return from_bins(
        _bin_counts(np.asarray(genuine)),
        _bin_counts(np.asarray(impostor)),
        name=name,
        description=description,
        people=people,
        faces=faces,
    )


def from_bins(genuine_bins: np.ndarray, impostor_bins: np.ndarray, **kw) -> Calibration:
    import datetime as dt

    impostor_ge = np.cumsum(impostor_bins[::-1])[::-1]
    genuine_lt = np.concatenate([[0], np.cumsum(genuine_bins)[:-1]])
    return Calibration(
        impostor_at_or_above=impostor_ge.astype(np.int64),
        genuine_below=genuine_lt.astype(np.int64),
        impostor_pairs=int(impostor_bins.sum()),
        genuine_pairs=int(genuine_bins.sum()),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **kw,
    )


def measure(
    embeddings: np.ndarray, identities: list[str], *, name: str, description: str, block: int = 1024
) -> Calibration:
    """Every pair of faces once: same identity is genuine, different is impostor. Blockwise, so a
    set of tens of thousands of faces fits in memory."""
    x = np.asarray(embeddings, dtype=np.float32)
    ids = np.asarray(identities)
    _, labels = np.unique(ids, return_inverse=True)
    genuine_bins = np.zeros(len(GRID), dtype=np.int64)
    impostor_bins = np.zeros(len(GRID), dtype=np.int64)
    sq = (x.astype(np.float64) ** 2).sum(axis=1)
    for start in range(0, len(x), block):
        stop = min(len(x), start + block)
        d2 = sq[start:stop, None] + sq[None, start:] - 2.0 * (x[start:stop] @ x[start:].T)
        d = np.sqrt(np.clip(d2, 0.0, None))
        rows, cols = np.triu_indices(stop - start, k=1, m=len(x) - start)  # pairs i < j only
        scores = similarity_from_distance(d[rows, cols])
        same = labels[start + rows] == labels[start + cols]
        genuine_bins += _bin_counts(scores[same])
        impostor_bins += _bin_counts(scores[~same])
    return from_bins(
        genuine_bins,
        impostor_bins,
        name=name,
        description=description,
        people=int(labels.max() + 1) if len(labels) else 0,
        faces=len(x),
    )
