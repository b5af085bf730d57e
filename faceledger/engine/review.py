"""Human review: in a collection whose policy requires it, every search match is a candidate
until two different people confirm it (the EU AI Act's rule for remote biometric
identification). One rejection ends a candidate: a match needs two people who agree."""

from __future__ import annotations

from sqlalchemy import func, insert, select, update

from ..accountability.ledger import current_actor
from ..errors import ConflictException, InvalidParameterException, ResourceNotFoundException
from ..store import catalog as tables
from ..store.catalog import now
from . import records, validate
from .accountable import AccountableOperations

STATUSES = ("PENDING", "CONFIRMED", "REJECTED")
REVIEWERS_NEEDED = 2


def _iso(value) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


class ReviewOperations(AccountableOperations):
    def _candidate_dict(self, conn, row) -> dict:
        d = tables.review_decisions
        decisions = conn.execute(
            select(d).where(d.c.candidate_id == row.candidate_id).order_by(d.c.decided_at)
        ).all()
        return {
            "CandidateId": int(row.candidate_id),
            "Status": row.status,
            "CollectionId": row.collection_id,
            "FaceId": row.face_id or None,
            "ExternalImageId": row.external_image_id,
            "UserId": row.user_id,
            "Similarity": row.similarity,
            "SearchedBy": row.searched_by,
            "CaseId": row.case_id,
            "LedgerSeq": int(row.ledger_seq),
            "Created": _iso(row.created_at),
            "Decisions": [
                {"Reviewer": x.reviewer, "Decision": x.decision, "Note": x.note, "At": _iso(x.decided_at)}
                for x in decisions
            ],
        }

    def list_review_candidates(
        self,
        CollectionId: str | None = None,
        Status: str | None = "PENDING",
        MaxResults: int | None = None,
        NextToken: str | None = None,
    ) -> records.Plain:
        """Candidates, oldest first; Status PENDING (default), CONFIRMED, REJECTED or None for all."""
        limit = validate.integer(MaxResults, "MaxResults", 1, 1000, 100)
        after = validate.read_token(NextToken, int) or 0
        if Status is not None and Status not in STATUSES:
            raise InvalidParameterException(f"Status must be one of {', '.join(STATUSES)}.")
        c = tables.review_candidates
        q = select(c).where(c.c.candidate_id > after)
        if CollectionId is not None:
            q = q.where(c.c.collection_id == validate.collection_id(CollectionId))
        if Status is not None:
            q = q.where(c.c.status == Status)
        with self.catalog.read() as conn:
            rows = conn.execute(q.order_by(c.c.candidate_id).limit(limit + 1)).all()
            page = [self._candidate_dict(conn, r) for r in rows[:limit]]
        return records.Plain(
            Candidates=page,
            NextToken=validate.make_token(page[-1]["CandidateId"]) if len(rows) > limit and page else None,
        )

    def list_identifications(
        self, CollectionId: str | None = None, MaxResults: int | None = None, NextToken: str | None = None
    ) -> records.Plain:
        """Only matches two reviewers confirmed count as identifications."""
        page = self.list_review_candidates(CollectionId, "CONFIRMED", MaxResults, NextToken)
        return records.Plain(Identifications=page["Candidates"], NextToken=page.get("NextToken"))

    def review_candidate(
        self,
        CandidateId: int,
        Decision: str | None = None,
        Note: str | None = None,
        CollectionId: str | None = None,
    ) -> records.Plain:
        """One reviewer's decision (CONFIRM or REJECT); the reviewer is the caller. With
        CollectionId, the candidate must belong to that collection."""
        if isinstance(CandidateId, bool) or not isinstance(CandidateId, int) or not 0 < CandidateId < 2**63:
            raise InvalidParameterException("CandidateId must be a whole number.")
        if Decision not in ("CONFIRM", "REJECT"):
            raise InvalidParameterException("Decision must be CONFIRM or REJECT.")
        if Note is not None and (not isinstance(Note, str) or len(Note) > 1000):
            raise InvalidParameterException("Note must be text of at most 1000 characters.")
        reviewer = current_actor().name
        c, d = tables.review_candidates, tables.review_decisions
        with self.catalog.write() as conn:
            row = conn.execute(select(c).where(c.c.candidate_id == CandidateId).with_for_update()).first()
            if row is None or (CollectionId is not None and row.collection_id != CollectionId):
                raise ResourceNotFoundException(
                    f"No review candidate {CandidateId}" + (f" in {CollectionId!r}." if CollectionId else ".")
                )
            if row.status != "PENDING":
                raise ConflictException(f"Candidate {CandidateId} is already {row.status}.")
            if reviewer == row.searched_by and self._policy(conn, row.collection_id).independent_review:
                raise ConflictException(
                    f"{reviewer} ran the search that found candidate {CandidateId}; collection "
                    f"{row.collection_id!r} "
                    "requires independent review: the decision must come from someone else."
                )
            if conn.execute(
                select(d.c.reviewer).where(d.c.candidate_id == CandidateId, d.c.reviewer == reviewer)
            ).first():
                raise ConflictException(
                    f"{reviewer} has already decided on candidate {CandidateId}: a second decision must come "
                    "from another reviewer."
                )
            conn.execute(
                insert(d).values(
                    candidate_id=CandidateId,
                    reviewer=reviewer,
                    decision=Decision,
                    note=Note,
                    decided_at=now(),
                )
            )
            confirms = conn.execute(
                select(func.count())
                .select_from(d)
                .where(d.c.candidate_id == CandidateId, d.c.decision == "CONFIRM")
            ).scalar()
            status = (
                "REJECTED"
                if Decision == "REJECT"
                else ("CONFIRMED" if confirms >= REVIEWERS_NEEDED else "PENDING")
            )
            if status != "PENDING":
                conn.execute(update(c).where(c.c.candidate_id == CandidateId).values(status=status))
            self.ledger.append(
                conn,
                "ReviewCandidate",
                collection_id=row.collection_id,
                detail={
                    "CandidateId": CandidateId,
                    "Decision": Decision,
                    "Status": status,
                    "FaceId": row.face_id or None,
                    "UserId": row.user_id,
                    "SearchLedgerSeq": int(row.ledger_seq),
                },
            )
            out = self._candidate_dict(
                conn, conn.execute(select(c).where(c.c.candidate_id == CandidateId)).first()
            )
        return records.Plain(Candidate=out)
