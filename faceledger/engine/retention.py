"""Retention and erasure: faces older than their collection's retention period go, and
everything about a person (an ExternalImageId or a UserId) can be erased on request. Each is a
ledger entry that says what went (ids and counts, never a face)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from .. import records
from ..errors import InvalidParameterException
from ..store import catalog as tables
from ..store.catalog import FaceRow
from . import validate
from .accountability import AccountableOperations


class RetentionOperations(AccountableOperations):
    def _delete_face_rows(self, conn, cid: str, rows: list[FaceRow]) -> list[str]:
        """Delete faces (associated or not) and the images no remaining face uses."""
        if not rows:
            return []
        self.catalog.delete_faces(conn, cid, [r.key for r in rows])
        f, im = tables.faces, tables.face_images
        for image_id in {r.image_id for r in rows}:
            if not conn.execute(select(f.c.key).where(f.c.collection_id == cid, f.c.image_id == image_id).limit(1)).first():
                conn.execute(delete(im).where(im.c.collection_id == cid, im.c.image_id == image_id))
        return [r.face_id for r in rows]

    def _after_erasure(self, cids: set[str]) -> None:
        """No copy left in the files: index files are dropped (rebuilt from the catalog on the
        next search) and the catalog's deleted pages purged."""
        for cid in cids:
            self.indexes.forget(cid)
        self.catalog.purge_deleted()

    def run_retention(self, now: dt.datetime | None = None) -> records.Plain:
        """Delete every face older than its collection's RetentionDays."""
        now = now or dt.datetime.now(dt.timezone.utc)
        f, p = tables.faces, tables.collection_policies
        swept = []
        with self.catalog.read() as conn:
            rules = conn.execute(select(p.c.collection_id, p.c.retention_days).where(p.c.retention_days.is_not(None))).all()
        for cid, days in rules:
            cutoff = now - dt.timedelta(days=days)
            with self.catalog.write() as conn:
                rows = [FaceRow.from_row(r) for r in conn.execute(select(f).where(f.c.collection_id == cid, f.c.created_at < cutoff))]
                gone = self._delete_face_rows(conn, cid, rows)
                if gone:
                    self.ledger.append(conn, "RetentionSweep", collection_id=cid,
                                       detail={"RetentionDays": days, "Before": cutoff.isoformat(timespec="seconds"),
                                               "FaceIds": gone, "Count": len(gone)})  # fmt: skip
            if gone:
                swept.append({"CollectionId": cid, "FacesDeleted": len(gone)})
        if swept:
            self._after_erasure({s["CollectionId"] for s in swept})
        return records.Plain(Collections=swept, FacesDeleted=sum(s["FacesDeleted"] for s in swept))

    def erase(self, CollectionId: str, ExternalImageId: str | None = None, UserId: str | None = None) -> records.Plain:
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
            rows = [FaceRow.from_row(r) for r in conn.execute(select(f).where(f.c.collection_id == cid, where))]
            gone = self._delete_face_rows(conn, cid, rows)
            user_deleted = False
            if UserId is not None:
                user_deleted = bool(conn.execute(delete(u).where(u.c.collection_id == cid, u.c.user_id == subject["UserId"])).rowcount)
            self.ledger.append(conn, "Erase", collection_id=cid,
                               detail={**subject, "FaceIds": gone, "Count": len(gone), "UserDeleted": user_deleted})  # fmt: skip
        self._after_erasure({cid})
        return records.Plain(CollectionId=cid, **subject, DeletedFaces=gone, UserDeleted=user_deleted)

