"""Retention and erasure: faces older than their collection's retention period go, and
everything about a person (an ExternalImageId or a UserId) can be erased on request. Each is a
ledger entry that says what went (ids and counts, never a face)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import delete, select

from ..errors import InvalidParameterException
from ..store import catalog as tables
from ..store.catalog import FaceRow
from . import records, validate
from .accountable import AccountableOperations

log = logging.getLogger("faceledger.engine")


class RetentionOperations(AccountableOperations):
    def _delete_face_rows(self, conn, cid: str, rows: list[FaceRow]) -> list[str]:
        """Delete faces (associated or not), every kept image that shows one of them (a group
        photo too: it shows the person), and their review candidates."""
        if not rows:
            return []
        self.catalog.delete_faces(conn, cid, [r.key for r in rows])
        self.catalog.mark_erased(conn, cid)
        im, rc = tables.face_images, tables.review_candidates
        ids = [r.face_id for r in rows]
        conn.execute(
            delete(im).where(im.c.collection_id == cid, im.c.image_id.in_({r.image_id for r in rows}))
        )
        conn.execute(
            delete(tables.review_decisions).where(
                tables.review_decisions.c.candidate_id.in_(
                    select(rc.c.candidate_id).where(rc.c.collection_id == cid, rc.c.face_id.in_(ids))
                )
            )
        )
        conn.execute(delete(rc).where(rc.c.collection_id == cid, rc.c.face_id.in_(ids)))
        return ids

    def _after_erasure(self, cids: set[str]) -> None:
        """No copy left in the files: the catalog's deleted pages are purged, and the vector
        index lets go of every copy (embedded: its files are dropped and rebuilt from the catalog
        on the next search; Milvus: the faces are deleted and their segments compacted)."""
        self.catalog.purge_deleted()
        for cid in cids:
            self.indexes.erased(cid)

    def run_retention(self, now: dt.datetime | None = None) -> records.Plain:
        """Delete every face older than its collection's RetentionDays."""
        if now is not None and now.tzinfo is None:
            raise InvalidParameterException("run_retention needs an aware time (with a time zone).")
        now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        f, p = tables.faces, tables.collection_policies
        swept = []
        with self.catalog.read() as conn:
            rules = conn.execute(
                select(p.c.collection_id, p.c.retention_days).where(p.c.retention_days.is_not(None))
            ).all()
        for cid, days in rules:
            try:
                cutoff = now - dt.timedelta(days=days)
            except OverflowError:  # a retention longer than the calendar: nothing is that old
                continue
            with self.catalog.write() as conn:
                rows = [
                    FaceRow.from_row(r)
                    for r in conn.execute(select(f).where(f.c.collection_id == cid, f.c.created_at < cutoff))
                ]
                gone = self._delete_face_rows(conn, cid, rows)
                if gone:
                    self.ledger.append(
                        conn,
                        "RetentionSweep",
                        collection_id=cid,
                        detail={
                            "RetentionDays": days,
                            "Before": cutoff.isoformat(timespec="seconds"),
                            "FaceIds": gone,
                            "Count": len(gone),
                        },
                    )
            if gone:
                swept.append({"CollectionId": cid, "FacesDeleted": len(gone)})
        if swept:
            self._after_erasure({s["CollectionId"] for s in swept})
        try:  # erasures the vector engine missed while it was down are finished here
            self.indexes.reconcile()
        except Exception:
            log.exception("finishing erasures in the vector engine failed")
        return records.Plain(Collections=swept, FacesDeleted=sum(s["FacesDeleted"] for s in swept))

    def erase(
        self, CollectionId: str, ExternalImageId: str | None = None, UserId: str | None = None
    ) -> records.Plain:
        """Erase everything the collection holds about one person: every face with this
        ExternalImageId, or a user with all its faces."""
        cid = validate.collection_id(CollectionId)
        if (ExternalImageId is None) == (UserId is None):
            raise InvalidParameterException("Erase needs exactly one of ExternalImageId or UserId.")
        f, u = tables.faces, tables.users
        with self.catalog.write() as conn:
            self._require(conn, cid)
            if ExternalImageId is not None:
                ext = validate.external_image_id(ExternalImageId)
                where = f.c.external_image_id == ext
                subject = {"ExternalImageId": ext}
            else:
                uid = validate.user_id(UserId)
                where = f.c.user_id == uid
                subject = {"UserId": uid}
            rows = [
                FaceRow.from_row(r) for r in conn.execute(select(f).where(f.c.collection_id == cid, where))
            ]
            gone = self._delete_face_rows(conn, cid, rows)
            user_deleted = False
            if UserId is not None:
                user_deleted = bool(
                    conn.execute(
                        delete(u).where(u.c.collection_id == cid, u.c.user_id == subject["UserId"])
                    ).rowcount
                )
                rc = tables.review_candidates
                ids = select(rc.c.candidate_id).where(
                    rc.c.collection_id == cid, rc.c.user_id == subject["UserId"]
                )
                conn.execute(
                    delete(tables.review_decisions).where(tables.review_decisions.c.candidate_id.in_(ids))
                )
                conn.execute(delete(rc).where(rc.c.collection_id == cid, rc.c.user_id == subject["UserId"]))
            self.ledger.append(
                conn,
                "Erase",
                collection_id=cid,
                detail={**subject, "FaceIds": gone, "Count": len(gone), "UserDeleted": user_deleted},
            )
        self._after_erasure({cid})
        return records.Plain(CollectionId=cid, **subject, DeletedFaces=gone, UserDeleted=user_deleted)
