"""A collection's policy: the rules the engine holds every search and every change of the
collection to, whoever calls (Python, the command line, either HTTP protocol, the web UI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import InvalidParameterException


@dataclass
class CollectionPolicy:
    min_threshold: float | None = None  # similarity below which no search may go
    max_fmr: float | None = None  # the same floor, said as a false match rate
    require_purpose: bool = False
    require_case: bool = False
    require_review: bool = False  # matches are candidates until two people confirm them
    retention_days: int | None = None  # faces older than this are deleted by the sweep
    keep_images: bool = False  # store the source image of indexed faces
    min_liveness: float | None = None  # IndexFaces leaves out faces with a lower liveness score
    independent_review: bool = False  # the one who searched may not review the match

    NAMES = {
        "min_threshold": "MinThreshold",
        "max_fmr": "MaxFalseMatchRate",
        "require_purpose": "RequirePurpose",
        "require_case": "RequireCase",
        "require_review": "RequireReview",
        "retention_days": "RetentionDays",
        "keep_images": "KeepImages",
        "min_liveness": "MinLiveness",
        "independent_review": "IndependentReview",
    }

    def to_dict(self) -> dict:
        return {self.NAMES[k]: v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, given: dict | None, base: CollectionPolicy | None = None) -> CollectionPolicy:
        """A policy from Rekognition-style names; members not given keep `base`'s values."""
        if given is None:
            return base or cls()
        if not isinstance(given, dict):
            raise InvalidParameterException("Policy must be an object.")
        by_name = {v: k for k, v in cls.NAMES.items()}
        unknown = set(given) - set(by_name)
        if unknown:
            raise InvalidParameterException(
                f"Unknown policy member(s) {', '.join(sorted(unknown))}: use {', '.join(by_name)}."
            )
        values = asdict(base or cls())
        for name, value in given.items():
            values[by_name[name]] = value
        policy = cls(**values)
        policy.check()
        return policy

    def check(self) -> None:
        for f in ("min_threshold", "min_liveness"):
            value = getattr(self, f)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100
            ):
                raise InvalidParameterException(f"{self.NAMES[f]} must be a number from 0 to 100.")
        if self.max_fmr is not None and (
            isinstance(self.max_fmr, bool)
            or not isinstance(self.max_fmr, (int, float))
            or not 0 < self.max_fmr < 1
        ):
            raise InvalidParameterException("MaxFalseMatchRate must be a number between 0 and 1.")
        for f in ("require_purpose", "require_case", "require_review", "keep_images", "independent_review"):
            if not isinstance(getattr(self, f), bool):
                raise InvalidParameterException(f"{self.NAMES[f]} must be true or false.")
        if self.retention_days is not None and (
            isinstance(self.retention_days, bool)
            or not isinstance(self.retention_days, int)
            or not 1 <= self.retention_days <= 36500
        ):
            raise InvalidParameterException("RetentionDays must be a whole number of days from 1 to 36500.")

    @classmethod
    def from_row(cls, row) -> CollectionPolicy:
        if row is None:
            return cls()
        values = {f.name: getattr(row, f.name) for f in fields(cls)}
        if values["independent_review"] is None:  # a row from before the member: the old rule
            values["independent_review"] = False
        return cls(**values)
