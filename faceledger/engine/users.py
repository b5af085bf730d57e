"""Users: faces of one person grouped under a UserId, found as one.

A user's similarity to a probe is the highest similarity among the user's faces (at most 100):
one good photo of the person is enough to find them, and a poor photo among their faces cannot
pull a true match down.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import delete, func, insert, select, update

from ..accountability import calibration
from ..errors import (
    ConflictException,
    InvalidParameterException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
)
from ..store import catalog as tables
from ..store.catalog import FaceRow, now
from ..vision.models import FACE_MODEL_VERSION
from ..vision.similarity import similarities
from . import records, validate
from .base import ImageInput
from .collections import MAX_SEARCH_RESULTS, CollectionOperations

MAX_FACES_PER_USER = 100
MAX_USERS = 500  # MaxUsers' upper bound, as Rekognition's


class UserOperations(CollectionOperations):
    def _user(self, conn, cid: str, uid: str):
        self._require(conn, cid)
        row = conn.execute(
            select(tables.users).where(tables.users.c.collection_id == cid, tables.users.c.user_id == uid)
        ).first()
        if row is None:
            raise ResourceNotFoundException(f"The user {uid!r} does not exist in the collection {cid!r}.")
        return row

    def _status(self, conn, cid: str, uid: str) -> str:
        return "ACTIVE" if self.catalog.count_faces(conn, cid, uid) else "CREATED"

    def create_user(
        self, CollectionId: str, UserId: str, ClientRequestToken: str | None = None
    ) -> records.Plain:
        cid, uid = validate.collection_id(CollectionId), validate.user_id(UserId)
        token = validate.request_token(ClientRequestToken)
        with self.catalog.write() as conn:
            self._require(conn, cid)
            existing = conn.execute(
                select(tables.users).where(tables.users.c.collection_id == cid, tables.users.c.user_id == uid)
            ).first()
            if existing is not None:
                if token is not None and existing.request_token == token:
                    return records.Plain()  # the same request again
                raise ConflictException(f"The user {uid!r} already exists in the collection {cid!r}.")
            conn.execute(
                insert(tables.users).values(
                    collection_id=cid, user_id=uid, created_at=now(), request_token=token
                )
            )
            self.ledger.append(conn, "CreateUser", collection_id=cid, detail={"UserId": uid})
        return records.Plain()

    def delete_user(
        self, CollectionId: str, UserId: str, ClientRequestToken: str | None = None
    ) -> records.Plain:
        """The user goes; its faces stay in the collection, no longer associated."""
        cid, uid = validate.collection_id(CollectionId), validate.user_id(UserId)
        validate.request_token(ClientRequestToken)
        f = tables.faces
        with self.catalog.write() as conn:
            self._user(conn, cid, uid)
            conn.execute(update(f).where(f.c.collection_id == cid, f.c.user_id == uid).values(user_id=None))
            conn.execute(
                delete(tables.users).where(tables.users.c.collection_id == cid, tables.users.c.user_id == uid)
            )
            self.ledger.append(conn, "DeleteUser", collection_id=cid, detail={"UserId": uid})
        return records.Plain()

    def list_users(
        self, CollectionId: str, MaxResults: int | None = None, NextToken: str | None = None
    ) -> records.Plain:
        cid = validate.collection_id(CollectionId)
        limit = validate.integer(MaxResults, "MaxResults", 1, 500, 100)
        after = validate.read_token(NextToken, str)
        u, f = tables.users, tables.faces
        face_count = (
            select(func.count())
            .select_from(f)
            .where(f.c.collection_id == u.c.collection_id, f.c.user_id == u.c.user_id)
        ).scalar_subquery()
        q = select(u.c.user_id, face_count.label("faces")).where(u.c.collection_id == cid)
        if after is not None:
            q = q.where(u.c.user_id > after)
        with self.catalog.read() as conn:
            self._require(conn, cid)
            rows = conn.execute(q.order_by(u.c.user_id).limit(limit + 1)).all()
        page = rows[:limit]
        return records.Plain(
            Users=[
                records.User(user_id=r.user_id, user_status="ACTIVE" if r.faces else "CREATED") for r in page
            ],
            NextToken=validate.make_token(page[-1].user_id) if len(rows) > limit and page else None,
        )

    def associate_faces(
        self,
        CollectionId: str,
        UserId: str,
        FaceIds: Sequence[str],
        UserMatchThreshold: float | None = None,
        ClientRequestToken: str | None = None,
    ) -> records.Plain:
        """Each new face must match the user's faces (those it has, or the first accepted here)
        at UserMatchThreshold or above (default: the measured similarity threshold)."""
        cid, uid = validate.collection_id(CollectionId), validate.user_id(UserId)
        ids = validate.face_ids(FaceIds, most=MAX_FACES_PER_USER)
        threshold = validate.percentage(
            UserMatchThreshold, "UserMatchThreshold", calibration.DEFAULT_SIMILARITY_THRESHOLD
        )
        validate.request_token(ClientRequestToken)
        f = tables.faces
        associated, failed = [], []
        with self.catalog.write() as conn:
            self._user(conn, cid, uid)
            mine = [
                FaceRow.from_row(r)
                for r in conn.execute(select(f).where(f.c.collection_id == cid, f.c.user_id == uid))
            ]
            found = self.catalog.faces_by_ids(conn, cid, ids)
            members = [r.embedding for r in mine]
            new_keys = []
            for face_id in dict.fromkeys(ids):
                row = found.get(face_id)
                if row is None:
                    failed.append({"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]})
                    continue
                if row.user_id == uid:
                    associated.append({"FaceId": face_id})
                    continue
                if row.user_id is not None:
                    failed.append(
                        {
                            "FaceId": face_id,
                            "UserId": row.user_id,
                            "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"],
                        }
                    )
                    continue
                if members:
                    score = float(similarities(row.embedding, np.stack(members)).max())
                    if score < threshold:
                        failed.append(
                            {
                                "FaceId": face_id,
                                "UserId": uid,
                                "Confidence": score,
                                "Reasons": ["LOW_MATCH_CONFIDENCE"],
                            }
                        )
                        continue
                members.append(row.embedding)
                new_keys.append(row.key)
                associated.append({"FaceId": face_id})
            if len(mine) + len(new_keys) > MAX_FACES_PER_USER:
                raise ServiceQuotaExceededException(
                    f"A user holds at most {MAX_FACES_PER_USER} faces; {uid!r} has {len(mine)}."
                )
            if new_keys:
                conn.execute(
                    update(f).where(f.c.collection_id == cid, f.c.key.in_(new_keys)).values(user_id=uid)
                )
                self.ledger.append(
                    conn,
                    "AssociateFaces",
                    collection_id=cid,
                    threshold=threshold,
                    detail={"UserId": uid, "FaceIds": [a["FaceId"] for a in associated]},
                )
            status = self._status(conn, cid, uid)
        return records.Plain(
            AssociatedFaces=associated, UnsuccessfulFaceAssociations=failed, UserStatus=status
        )

    def disassociate_faces(
        self, CollectionId: str, UserId: str, FaceIds: Sequence[str], ClientRequestToken: str | None = None
    ) -> records.Plain:
        cid, uid = validate.collection_id(CollectionId), validate.user_id(UserId)
        ids = validate.face_ids(FaceIds, most=MAX_FACES_PER_USER)
        validate.request_token(ClientRequestToken)
        f = tables.faces
        done, failed = [], []
        with self.catalog.write() as conn:
            self._user(conn, cid, uid)
            found = self.catalog.faces_by_ids(conn, cid, ids)
            keys = []
            for face_id in dict.fromkeys(ids):
                row = found.get(face_id)
                if row is None:
                    failed.append({"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]})
                elif row.user_id != uid:
                    failed.append(
                        {
                            "FaceId": face_id,
                            "UserId": row.user_id or uid,
                            "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"],
                        }
                    )
                else:
                    keys.append(row.key)
                    done.append({"FaceId": face_id})
            if keys:
                conn.execute(
                    update(f).where(f.c.collection_id == cid, f.c.key.in_(keys)).values(user_id=None)
                )
                self.ledger.append(
                    conn,
                    "DisassociateFaces",
                    collection_id=cid,
                    detail={"UserId": uid, "FaceIds": [d["FaceId"] for d in done]},
                )
            status = self._status(conn, cid, uid)
        return records.Plain(
            DisassociatedFaces=done, UnsuccessfulFaceDisassociations=failed, UserStatus=status
        )

    # -- searching users --------------------------------------------------------------------

    def _user_matches(
        self, search, vectors: np.ndarray, *, exclude_user=None, exclude_keys=frozenset()
    ) -> list[records.UserMatch]:
        best: dict[str, float] = {}
        hits = self._find_similar(
            search.collection_id, vectors, search.threshold, MAX_SEARCH_RESULTS, exclude=set(exclude_keys)
        )
        for score, row in hits:
            if row.user_id is not None and row.user_id != exclude_user:
                best[row.user_id] = max(best.get(row.user_id, 0.0), score)
        ranked = sorted(best.items(), key=lambda item: -item[1])[: search.most]
        return [
            records.UserMatch(similarity=s, user=records.User(user_id=u, user_status="ACTIVE"))
            for u, s in ranked
        ]

    def search_users(
        self,
        CollectionId: str,
        UserId: str | None = None,
        FaceId: str | None = None,
        UserMatchThreshold: float | None = None,
        MaxUsers: int | None = None,
    ) -> records.Plain:
        """Users like a stored face, or like a user's faces (the user itself left out)."""
        if (UserId is None) == (FaceId is None):
            raise InvalidParameterException("SearchUsers needs exactly one of UserId or FaceId.")
        search = self._begin_search(
            CollectionId, UserMatchThreshold, "UserMatchThreshold", MaxUsers, "MaxUsers", MAX_USERS
        )
        cid = search.collection_id
        f = tables.faces
        with self.catalog.read() as conn:
            if UserId is not None:
                uid = validate.user_id(UserId)
                self._user(conn, cid, uid)
                rows = [
                    FaceRow.from_row(r)
                    for r in conn.execute(select(f).where(f.c.collection_id == cid, f.c.user_id == uid))
                ]
                if not rows:
                    raise InvalidParameterException(f"The user {uid!r} has no faces to search with.")
                searched = {"SearchedUser": {"UserId": uid}}
            else:
                fid = validate.face_id(FaceId)
                row = self.catalog.faces_by_ids(conn, cid, [fid]).get(fid)
                if row is None:
                    raise ResourceNotFoundException(f"The face {fid} is not in the collection {cid!r}.")
                rows, uid = [row], None
                searched = {"SearchedFace": {"FaceId": fid}}
        vectors = np.stack([r.embedding for r in rows])
        matches = self._user_matches(search, vectors, exclude_user=uid, exclude_keys={r.key for r in rows})
        extension = self._record_search(
            "SearchUsers", search, user_hits(matches), size=search.size - len(rows), searched=searched
        )
        return records.Plain(
            UserMatches=matches, FaceModelVersion=FACE_MODEL_VERSION, **searched, FaceLedger=extension
        )

    def search_users_by_image(
        self,
        CollectionId: str,
        Image: ImageInput,
        UserMatchThreshold: float | None = None,
        MaxUsers: int | None = None,
        QualityFilter: str | None = None,
        *,
        detector: str | None = None,
    ) -> records.Plain:
        search, probe = self._begin_image_search(
            CollectionId,
            Image,
            QualityFilter,
            UserMatchThreshold,
            "UserMatchThreshold",
            MaxUsers,
            "MaxUsers",
            MAX_USERS,
            detector,
        )
        matches = self._user_matches(search, probe.embedding)
        return records.Plain(
            UserMatches=matches,
            FaceModelVersion=FACE_MODEL_VERSION,
            SearchedFace={"FaceDetail": probe.detail},
            FaceLedger=self._record_search(
                "SearchUsersByImage", search, user_hits(matches), probe_sha256=probe.sha256
            ),
        )


def user_hits(matches: list[records.UserMatch]) -> list[dict]:
    return [{"UserId": m.user.user_id, "Similarity": round(m.similarity, 4)} for m in matches]
