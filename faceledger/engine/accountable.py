"""What every comparison answers for: the calibration that says what a threshold means, the
collection's policy, the ledger entry, and the review queue for collections that need people
to confirm a match."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import insert, select, update

from ..accountability import calibration
from ..accountability.ledger import Ledger, current_actor
from ..errors import InvalidParameterException
from ..store import catalog as tables
from ..store.catalog import now
from . import records, validate
from .base import EngineBase
from .policy import CollectionPolicy


def load_calibration(home: Path) -> calibration.Calibration:
    """FACELEDGER_CALIBRATION, else calibration.json in the data directory (`faceledger
    calibrate --install`), else the calibration shipped with faceledger."""
    path = os.environ.get("FACELEDGER_CALIBRATION") or (home / "calibration.json")
    if Path(path).exists():
        return calibration.Calibration.load(path)
    with resources.files("faceledger").joinpath("data/default_calibration.json").open() as f:
        import json

        return calibration.Calibration.from_dict(json.load(f))


@dataclass(frozen=True)
class Search:
    """A search about to run: the collection, how many results at most, and what answers for it."""

    collection_id: str
    most: int
    policy: CollectionPolicy
    threshold: float
    size: int


class AccountableOperations(EngineBase):
    _calibration = None
    _ledger = None

    @property
    def calibration(self) -> calibration.Calibration:
        if self._calibration is None:
            self._calibration = load_calibration(self.home)
        return self._calibration

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.catalog)
        return self._ledger

    # -- policy -----------------------------------------------------------------------------

    def _policy(self, conn, cid: str) -> CollectionPolicy:
        t = tables.collection_policies
        return CollectionPolicy.from_row(conn.execute(select(t).where(t.c.collection_id == cid)).first())

    def _store_policy(self, conn, cid: str, policy: CollectionPolicy) -> None:
        if policy.max_fmr is not None and policy.max_fmr < self.calibration.smallest_resolvable_fmr():
            raise InvalidParameterException(
                f"MaxFalseMatchRate {policy.max_fmr:g} is below what the calibration "
                f"'{self.calibration.name}' can "
                f"resolve ({self.calibration.smallest_resolvable_fmr():.1e}); use MinThreshold for a "
                "stricter floor."
            )
        t = tables.collection_policies
        values = asdict(policy)
        if conn.execute(select(t.c.collection_id).where(t.c.collection_id == cid)).first():
            conn.execute(update(t).where(t.c.collection_id == cid).values(**values))
        else:
            conn.execute(insert(t).values(collection_id=cid, **values))

    def _threshold_for(self, policy: CollectionPolicy, given: float | None, name: str, where: str) -> float:
        """The threshold a comparison runs at: the one given (or asked for as a false match rate),
        else the default; never below the collection's floor, which a given one may not undercut."""
        actor = current_actor()
        cal = self.calibration
        if given is None and actor.max_fmr is not None:
            try:
                given = cal.threshold_for_fmr(actor.max_fmr)
            except calibration.CalibrationError as e:
                raise InvalidParameterException(str(e)) from None
        floor = policy.min_threshold or 0.0
        if policy.max_fmr is not None:
            try:
                floor = max(floor, cal.threshold_for_fmr(policy.max_fmr))
            except calibration.CalibrationError as e:  # a policy set under another calibration
                raise InvalidParameterException(f"{where}'s policy cannot be met: {e}") from None
        if given is not None and given < floor:
            raise InvalidParameterException(
                f"{where} requires a {name} of at least {floor:g} (false match rate {cal.fmr(floor):.1e}); "
                f"got {given:g}."
            )
        return float(given) if given is not None else max(calibration.DEFAULT_SIMILARITY_THRESHOLD, floor)

    @staticmethod
    def _check_purpose(policy: CollectionPolicy, cid: str) -> None:
        actor = current_actor()
        missing = [
            what
            for what, needed, given in (
                ("a purpose", policy.require_purpose, actor.purpose),
                ("a case id", policy.require_case, actor.case_id),
            )
            if needed and not given
        ]
        if missing:
            raise InvalidParameterException(
                f"The collection {cid!r} requires {' and '.join(missing)} for every search: give them as "
                "X-FaceLedger-Purpose / X-FaceLedger-Case-Id headers, Purpose / CaseId in the REST API, "
                "--purpose / --case-id on the command line."
            )

    def _search_policy(self, cid: str, given: float | None, name: str) -> tuple[CollectionPolicy, float, int]:
        """Policy, threshold and collection size for a search, refusing what the policy forbids."""
        with self.catalog.read() as conn:
            self._require(conn, cid)
            policy = self._policy(conn, cid)
            size = self.catalog.count_faces(conn, cid)
        self._check_purpose(policy, cid)
        return policy, self._threshold_for(policy, given, name, f"The collection {cid!r}"), size

    def _begin_search(
        self, collection_id, threshold, threshold_name: str, most, most_name: str, most_limit: int
    ) -> Search:
        """What every search starts with: its parameters checked, the collection's policy, the
        threshold it runs at, and the collection's size; refused here if the policy forbids it."""
        cid = validate.collection_id(collection_id)
        most = validate.integer(most, most_name, 1, most_limit, most_limit)
        given = validate.percentage(threshold, threshold_name, None)
        policy, threshold, size = self._search_policy(cid, given, threshold_name)
        return Search(cid, most, policy, threshold, size)

    # -- recording --------------------------------------------------------------------------

    def _record_search(
        self,
        operation: str,
        search: Search,
        matches: list[dict],
        *,
        size: int | None = None,
        probe_sha256: str | None = None,
        searched: dict | None = None,
    ) -> dict:
        """Write the ledger entry (and review candidates) before the response goes out; returns
        the response's FaceLedger member. `matches`: {FaceId | UserId, Similarity, ...}; `size`:
        how many faces were searched, when not the whole collection."""
        cid, policy, threshold = search.collection_id, search.policy, search.threshold
        size = search.size if size is None else size
        summary = self.calibration.summary(threshold, size)
        actor = current_actor()
        with self.catalog.write() as conn:
            entry = self.ledger.append(
                conn,
                operation,
                collection_id=cid,
                threshold=threshold,
                fmr=summary["FalseMatchRate"],
                probe_sha256=probe_sha256,
                detail={
                    "Matches": matches,
                    "CollectionSize": size,
                    **(searched or {}),
                    "ExpectedFalseCandidates": summary["ExpectedFalseCandidates"],
                },
            )
            review = None
            if policy.require_review:
                ids = []
                for m in matches:
                    key = conn.execute(
                        insert(tables.review_candidates).values(
                            ledger_seq=entry.seq,
                            collection_id=cid,
                            face_id=m.get("FaceId", ""),
                            external_image_id=m.get("ExternalImageId"),
                            user_id=m.get("UserId"),
                            similarity=m["Similarity"],
                            searched_by=actor.name,
                            case_id=actor.case_id,
                            created_at=now(),
                            status="PENDING",
                        )
                    ).inserted_primary_key[0]
                    ids.append(int(key))
                review = {
                    "Required": True,
                    "Status": "PENDING_REVIEW" if ids else "NO_CANDIDATES",
                    "CandidateIds": ids,
                    "Note": (
                        "These matches are candidates, not identifications, until two reviewers confirm them."
                    ),
                }
        out = {**summary, "LedgerSeq": entry.seq}
        if review:
            out["Review"] = review
        return out

    def _record_comparison(
        self, threshold: float, compared: int, matches: list[float], source_sha: str, target_sha: str
    ) -> dict:
        """CompareFaces: one source face against `compared` target faces."""
        cal = self.calibration
        summary = cal.summary(threshold)
        summary["Comparisons"] = compared
        summary["ExpectedFalseMatches"] = compared * summary["FalseMatchRate"]
        entry = self.ledger.record(
            "CompareFaces",
            threshold=threshold,
            fmr=summary["FalseMatchRate"],
            probe_sha256=source_sha,
            detail={
                "TargetSha256": target_sha,
                "Comparisons": compared,
                "MatchSimilarities": [round(s, 4) for s in matches],
            },
        )
        return {**summary, "LedgerSeq": entry.seq}

    # -- reading the ledger -----------------------------------------------------------------

    def list_ledger(
        self,
        CollectionId: str | None = None,
        CaseId: str | None = None,
        Actor: str | None = None,
        Operation: str | None = None,
        Since: str | None = None,
        Until: str | None = None,
        MaxResults: int | None = None,
        NextToken: str | None = None,
    ) -> records.Plain:
        """Ledger entries in order, filtered; Since/Until are ISO 8601 times (UTC) or dates."""
        limit = validate.integer(MaxResults, "MaxResults", 1, 10_000, 1000)
        after = validate.read_token(NextToken, int) or 0
        Since, Until = (_utc_text(n, v) for n, v in (("Since", Since), ("Until", Until)))
        entries = list(
            self.ledger.entries(
                collection_id=CollectionId,
                case_id=CaseId,
                actor=Actor,
                operation=Operation,
                since=Since,
                until=Until,
                after_seq=after,
                limit=limit + 1,
            )
        )
        page = entries[:limit]
        return records.Plain(
            Entries=[e.to_dict() for e in page],
            NextToken=validate.make_token(page[-1].seq) if len(entries) > limit and page else None,
        )

    def verify_ledger(self, HeadSeq: int | None = None, HeadHash: str | None = None) -> records.Plain:
        """Check the whole chain, and against a head recorded earlier when one is given."""
        if (HeadSeq is None) != (HeadHash is None):
            raise InvalidParameterException("Give both HeadSeq and HeadHash, or neither.")
        head = (int(HeadSeq), str(HeadHash)) if HeadSeq is not None else None
        return records.Plain(**self.ledger.verify(head).to_dict())


def _utc_text(name: str, value) -> str | None:
    """An ISO date or time as the ledger stores times (UTC, microseconds), so that text order is
    time order; a time without a zone is taken as UTC."""
    import datetime as dt

    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidParameterException(
            f"{name} must be an ISO 8601 date or time, such as 2026-11-25T10:00:00+00:00."
        ) from None
    when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    return when.isoformat(timespec="microseconds")
