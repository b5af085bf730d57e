"""Collections and their faces: create, describe, list, delete; IndexFaces, ListFaces,
DeleteFaces, SearchFaces and SearchFacesByImage."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, insert, select

from ..errors import (
    InternalServerError,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from ..store import catalog as tables
from ..store.catalog import FaceRow, now
from ..vision.analyze import analyze_faces, embed_faces
from ..vision.models import FACE_MODEL_VERSION
from ..vision.similarity import similarities, similarity_from_distance
from . import quality_filter, records, validate
from .base import ImageInput
from .faces import _NEEDS_68, FaceOperations, check_attributes, not_live, only_wanted
from .policy import CollectionPolicy

MAX_SEARCH_RESULTS = 4096


DEFAULT_ACCOUNT_ID = "000000000000"
MAX_INDEXED_FACES = 100  # IndexFaces indexes at most this many faces of one image, as Rekognition


def collection_arn(collection_id: str) -> str:
    """arn:aws:rekognition:REGION:ACCOUNT:collection/ID, as Rekognition's: the region the service
    is bound to (FACELEDGER_REGION, else us-east-1) and FACELEDGER_ACCOUNT_ID (12 digits)."""
    region = os.environ.get("FACELEDGER_REGION") or "us-east-1"
    account = os.environ.get("FACELEDGER_ACCOUNT_ID") or DEFAULT_ACCOUNT_ID
    if not (len(account) == 12 and account.isdigit()):
        raise InternalServerError("FACELEDGER_ACCOUNT_ID must be 12 digits, as an AWS account id.")
    return f"arn:aws:rekognition:{region}:{account}:collection/{collection_id}"


@dataclass
class PreparedFace:
    """A face measured for IndexFaces, before it is stored; picklable for worker processes."""

    detail: records.FaceDetail
    embedding: np.ndarray | None
    reasons: list[str]
    image_sha256: str = ""
    image: bytes | None = None  # the source image, for collections that keep images


def _timestamp(value: dt.datetime) -> float:
    """Epoch seconds, as the JSON protocol sends timestamps (SQLite hands back naive UTC)."""
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


class CollectionOperations(FaceOperations):
    # -- collections ------------------------------------------------------------------------

    def create_collection(
        self, CollectionId: str, Tags: dict | None = None, *, policy: dict | None = None
    ) -> records.Plain:
        """`policy` (faceledger's own): the collection's rules, see CollectionPolicy."""
        cid = validate.collection_id(CollectionId)
        rules = CollectionPolicy.from_dict(policy)
        with self.catalog.write() as conn:
            if self.catalog.collection(conn, cid) is not None:
                raise ResourceAlreadyExistsException(f"The collection {cid!r} already exists.")
            conn.execute(
                insert(tables.collections).values(
                    collection_id=cid, face_model_version=FACE_MODEL_VERSION, created_at=now(), version=0
                )
            )
            self._store_policy(conn, cid, rules)
            self.ledger.append(
                conn, "CreateCollection", collection_id=cid, detail={"Policy": rules.to_dict()}
            )
        return records.Plain(
            StatusCode=200, CollectionArn=collection_arn(cid), FaceModelVersion=FACE_MODEL_VERSION
        )

    def put_collection_policy(self, CollectionId: str, Policy: dict | None = None) -> records.Plain:
        """Change some or all of a collection's rules; the members not given stay as they were."""
        cid = validate.collection_id(CollectionId)
        if not isinstance(Policy, dict):
            raise InvalidParameterException("Policy is required: an object of the members to change.")
        with self.catalog.write() as conn:
            self._require(conn, cid)
            rules = CollectionPolicy.from_dict(Policy, self._policy(conn, cid))
            self._store_policy(conn, cid, rules)
            self.ledger.append(
                conn, "PutCollectionPolicy", collection_id=cid, detail={"Policy": rules.to_dict()}
            )
        return records.Plain(CollectionId=cid, Policy=rules.to_dict())

    def get_collection_policy(self, CollectionId: str) -> records.Plain:
        cid = validate.collection_id(CollectionId)
        with self.catalog.read() as conn:
            self._require(conn, cid)
            rules = self._policy(conn, cid)
        return records.Plain(CollectionId=cid, Policy=rules.to_dict())

    def describe_collection(self, CollectionId: str) -> records.Plain:
        cid = validate.collection_id(CollectionId)
        with self.catalog.read() as conn:
            row = self._require(conn, cid)
            face_count = self.catalog.count_faces(conn, cid)
            user_count = conn.execute(
                select(func.count()).select_from(tables.users).where(tables.users.c.collection_id == cid)
            ).scalar()
        return records.Plain(
            FaceCount=face_count,
            FaceModelVersion=row.face_model_version,
            CollectionARN=collection_arn(cid),
            CreationTimestamp=_timestamp(row.created_at),
            UserCount=int(user_count or 0),
        )

    def list_collections(
        self, NextToken: str | None = None, MaxResults: int | None = None, *, only=None
    ) -> records.Plain:
        """`only`: the collections the caller may see (None: all)."""
        limit = validate.integer(MaxResults, "MaxResults", 0, 4096, 1000)
        after = validate.read_token(NextToken, str)
        q = select(tables.collections.c.collection_id, tables.collections.c.face_model_version)
        if only is not None:
            q = q.where(tables.collections.c.collection_id.in_(list(only)))
        if after is not None:
            q = q.where(tables.collections.c.collection_id > after)
        with self.catalog.read() as conn:
            rows = conn.execute(q.order_by(tables.collections.c.collection_id).limit(limit + 1)).all()
        page = rows[:limit]
        return records.Plain(
            CollectionIds=[r.collection_id for r in page],
            FaceModelVersions=[r.face_model_version for r in page],
            NextToken=validate.make_token(page[-1].collection_id) if len(rows) > limit and page else None,
        )

    def delete_collection(self, CollectionId: str) -> records.Plain:
        cid = validate.collection_id(CollectionId)
        with self.catalog.write() as conn:
            self._require(conn, cid)
            faces = self.catalog.count_faces(conn, cid)
            rc = tables.review_candidates
            conn.execute(
                delete(tables.review_decisions).where(
                    tables.review_decisions.c.candidate_id.in_(
                        select(rc.c.candidate_id).where(rc.c.collection_id == cid)
                    )
                )
            )
            for table in (
                tables.faces,
                tables.face_deletions,
                tables.users,
                tables.collection_policies,
                tables.face_images,
                rc,
                tables.erasures,
                tables.vector_sync,
            ):
                conn.execute(delete(table).where(table.c.collection_id == cid))
            conn.execute(delete(tables.collections).where(tables.collections.c.collection_id == cid))
            self.ledger.append(conn, "DeleteCollection", collection_id=cid, detail={"FacesDeleted": faces})
        self.indexes.forget(cid)
        return records.Plain(StatusCode=200)

    # -- IndexFaces -------------------------------------------------------------------------

    def _prepare_index_faces(
        self,
        Image: ImageInput,
        DetectionAttributes: Sequence[str] | None = None,
        MaxFaces: int | None = None,
        QualityFilter: str | None = None,
        *,
        keep_image: bool = False,
        liveness_threshold: float | None = None,
        detector: str | None = None,
    ) -> list[PreparedFace]:
        """The expensive half of IndexFaces (detect, filter, embed), touching no storage.

        With `liveness_threshold`, faces scoring below it for liveness are left out too, with
        Rekognition's reason LOW_FACE_QUALITY."""
        wanted = check_attributes(DetectionAttributes)
        # Any number from 1 is accepted (botocore's model sets no maximum); at most 100 are indexed.
        max_faces = min(
            validate.integer(MaxFaces, "MaxFaces", 1, 2**31 - 1, MAX_INDEXED_FACES), MAX_INDEXED_FACES
        )
        level = quality_filter.check_level(QualityFilter, "AUTO")
        img = self._load_image(Image)
        faces = analyze_faces(
            img.rgb, self._detector(detector), all_attributes=bool(wanted & _NEEDS_68), appearance=wanted
        )
        reasons_of = [quality_filter.reasons(face, level) for face in faces]
        passing = [i for i, r in enumerate(reasons_of) if not r]  # only these are worth a liveness score
        for j in not_live(img.rgb, [faces[i] for i in passing], liveness_threshold):
            reasons_of[passing[j]].append("LOW_FACE_QUALITY")
        kept, prepared = [], []
        for face, reasons in zip(
            faces, reasons_of
        ):  # largest first, so MaxFaces keeps the largest good faces
            if not reasons and len(kept) >= max_faces:
                reasons = ["EXCEEDS_MAX_FACES"]
            if not reasons:
                kept.append(face)
            prepared.append(
                PreparedFace(
                    only_wanted(records.face_detail(face, img.width, img.height), wanted),
                    None,
                    reasons,
                    img.sha256,
                    img.data if keep_image else None,
                )
            )
        embed_faces(img.rgb, kept)
        vectors = iter(f.embedding for f in kept)
        for p in prepared:
            if not p.reasons:
                p.embedding = next(vectors)
        return prepared

    def _index_policy(
        self, CollectionId: str, liveness_threshold: float | None = None
    ) -> tuple[CollectionPolicy, float | None]:
        """The collection's policy and the liveness bar IndexFaces holds faces to: the higher of
        the one asked for and the policy's MinLiveness (None: no liveness check)."""
        cid = validate.collection_id(CollectionId)
        given = validate.percentage(liveness_threshold, "LivenessThreshold", None)
        with self.catalog.read() as conn:
            self._require(conn, cid)
            policy = self._policy(conn, cid)
        floors = [t for t in (given, policy.min_liveness) if t is not None]
        return policy, (max(floors) if floors else None)

    def _store_indexed_faces(
        self, CollectionId: str, prepared: list[PreparedFace], ExternalImageId: str | None = None
    ) -> records.IndexFacesResponse:
        """The storing half of IndexFaces: one transaction, durable when this returns."""
        cid = validate.collection_id(CollectionId)
        external = validate.external_image_id(ExternalImageId)
        image_id = str(uuid.uuid4())
        created = now()
        rows, face_records, unindexed = [], [], []
        for p in prepared:
            if p.reasons:
                unindexed.append(records.UnindexedFace(reasons=p.reasons, face_detail=p.detail))
                continue
            box = p.detail.bounding_box
            row = dict(
                face_id=str(uuid.uuid4()),
                collection_id=cid,
                image_id=image_id,
                external_image_id=external,
                user_id=None,
                box_left=box.left,
                box_top=box.top,
                box_width=box.width,
                box_height=box.height,
                confidence=p.detail.confidence,
                model_version=FACE_MODEL_VERSION,
                embedding=np.ascontiguousarray(p.embedding, dtype=np.float32).tobytes(),
                created_at=created,
            )
            rows.append(row)
            face = records.Face(
                face_id=row["face_id"],
                bounding_box=box,
                image_id=image_id,
                external_image_id=external,
                confidence=p.detail.confidence,
                index_faces_model_version=FACE_MODEL_VERSION,
            )
            face_records.append(records.FaceRecord(face=face, face_detail=p.detail))
        with self.catalog.write() as conn:
            self._require(conn, cid)
            if rows:
                # The version first: its row lock orders concurrent writers to this collection, so
                # on PostgreSQL too its faces' keys are committed in key order (store/shared_index.py).
                self.catalog.bump(conn, cid)
                self.catalog.insert_faces(conn, rows)
                kept = next((p.image for p in prepared if p.image is not None), None)
                if kept is not None and self._policy(conn, cid).keep_images:
                    conn.execute(
                        insert(tables.face_images).values(
                            collection_id=cid, image_id=image_id, data=kept, created_at=created
                        )
                    )
            self.ledger.append(
                conn,
                "IndexFaces",
                collection_id=cid,
                probe_sha256=prepared[0].image_sha256 if prepared else None,
                detail={
                    "ImageId": image_id,
                    "ExternalImageId": external,
                    "FaceIds": [r["face_id"] for r in rows],
                    "Unindexed": len(unindexed),
                },
            )
        if rows:
            self.indexes.changed(cid)
        return records.IndexFacesResponse(
            face_records=face_records, face_model_version=FACE_MODEL_VERSION, unindexed_faces=unindexed
        )

    def index_faces(
        self,
        CollectionId: str,
        Image: ImageInput,
        ExternalImageId: str | None = None,
        DetectionAttributes: Sequence[str] | None = None,
        MaxFaces: int | None = None,
        QualityFilter: str | None = None,
        *,
        liveness_threshold: float | None = None,
        detector: str | None = None,
    ) -> records.IndexFacesResponse:
        """`liveness_threshold` (faceledger's own, 0-100): leave out faces less live than this;
        the collection's MinLiveness policy, when higher, wins. `detector` (faceledger's own):
        the face detector to use (see vision/detect.py), the engine's default if None."""
        cid = validate.collection_id(CollectionId)
        validate.external_image_id(ExternalImageId)
        self._detector(detector)  # an unknown name is refused before anything else
        policy, floor = self._index_policy(cid, liveness_threshold)  # before the expensive part
        prepared = self._prepare_index_faces(
            Image,
            DetectionAttributes,
            MaxFaces,
            QualityFilter,
            keep_image=policy.keep_images,
            liveness_threshold=floor,
            detector=detector,
        )
        return self._store_indexed_faces(cid, prepared, ExternalImageId)

    # -- ListFaces, DeleteFaces -------------------------------------------------------------

    def list_faces(
        self,
        CollectionId: str,
        NextToken: str | None = None,
        MaxResults: int | None = None,
        UserId: str | None = None,
        FaceIds: Sequence[str] | None = None,
    ) -> records.Plain:
        cid = validate.collection_id(CollectionId)
        limit = validate.integer(MaxResults, "MaxResults", 0, 4096, 1000)
        after = validate.read_token(NextToken, int)
        f = tables.faces
        q = select(f).where(f.c.collection_id == cid)
        if UserId is not None:
            q = q.where(f.c.user_id == validate.user_id(UserId))
        if FaceIds is not None:
            q = q.where(f.c.face_id.in_(validate.face_ids(FaceIds, most=4096)))
        if after is not None:
            q = q.where(f.c.key > after)
        with self.catalog.read() as conn:
            self._require(conn, cid)
            rows = [FaceRow.from_row(r) for r in conn.execute(q.order_by(f.c.key).limit(limit + 1))]
        page = rows[:limit]
        return records.Plain(
            Faces=[records.Face.from_row(r) for r in page],
            NextToken=validate.make_token(page[-1].key) if len(rows) > limit and page else None,
            FaceModelVersion=FACE_MODEL_VERSION,
        )

    def delete_faces(self, CollectionId: str, FaceIds: Sequence[str]) -> records.Plain:
        cid = validate.collection_id(CollectionId)
        ids = validate.face_ids(FaceIds, most=4096)
        deleted, failed = [], []
        with self.catalog.write() as conn:
            self._require(conn, cid)
            found = self.catalog.faces_by_ids(conn, cid, ids)
            keys = []
            for face_id in dict.fromkeys(ids):
                row = found.get(face_id)
                if row is None:
                    failed.append({"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]})
                elif row.user_id is not None:
                    failed.append(
                        {
                            "FaceId": face_id,
                            "UserId": row.user_id,
                            "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"],
                        }
                    )
                else:
                    deleted.append(face_id)
                    keys.append(row.key)
            if keys:
                self.catalog.delete_faces(conn, cid, keys)
                f, im = tables.faces, tables.face_images
                for image_id in {found[i].image_id for i in deleted}:  # kept images no face uses any more
                    if not conn.execute(
                        select(f.c.key).where(f.c.collection_id == cid, f.c.image_id == image_id).limit(1)
                    ).first():
                        conn.execute(delete(im).where(im.c.collection_id == cid, im.c.image_id == image_id))
                self.ledger.append(conn, "DeleteFaces", collection_id=cid, detail={"FaceIds": deleted})
        if deleted:
            self.indexes.changed(cid)
        return records.Plain(DeletedFaces=deleted, UnsuccessfulFaceDeletions=failed)

    # -- searching --------------------------------------------------------------------------

    def _find_similar(
        self, cid: str, vectors: np.ndarray, threshold: float, most: int, *, exclude: set[int] = frozenset()
    ) -> list[tuple[float, FaceRow]]:
        """Faces of the collection at or above `threshold` similarity to any of `vectors`, best
        first, at most `most`. The index proposes candidates; the exact similarity is computed
        again from the catalog's embeddings, and deleted faces fall out here."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, 128)
        try:
            index = self.indexes.current(cid)
        except KeyError:
            raise ResourceNotFoundException(f"The collection {cid!r} does not exist.") from None
        size = len(index)
        k = min(size, max(16, most + len(exclude)))
        while True:
            keys, dists = index.search(vectors, max(k, 1))
            candidates = {int(key) for key in keys.ravel() if key >= 0} - set(exclude)
            with self.catalog.read() as conn:
                rows = self.catalog.faces_by_keys(conn, cid, candidates)
            best: dict[int, float] = {}
            for row in rows.values():
                best[row.key] = float(similarities(row.embedding, vectors).max())
            hits = sorted(((s, rows[key]) for key, s in best.items() if s >= threshold), key=lambda h: -h[0])
            # Stop once every query's furthest candidate is already below the threshold.
            furthest = np.where(np.isfinite(dists), dists, -np.inf).max(axis=1)
            if k >= size or len(hits) >= most or similarity_from_distance(furthest.min()) < threshold:
                return hits[:most]
            k = min(size, k * 4)

    def search_faces_by_image(
        self,
        CollectionId: str,
        Image: ImageInput,
        MaxFaces: int | None = None,
        FaceMatchThreshold: float | None = None,
        QualityFilter: str | None = None,
        *,
        detector: str | None = None,
    ) -> records.SearchFacesByImageResponse:
        """The largest face of the picture against the collection."""
        search, probe = self._begin_image_search(
            CollectionId,
            Image,
            QualityFilter,
            FaceMatchThreshold,
            "FaceMatchThreshold",
            MaxFaces,
            "MaxFaces",
            MAX_SEARCH_RESULTS,
            detector,
        )
        hits = self._find_similar(search.collection_id, probe.embedding, search.threshold, search.most)
        return records.SearchFacesByImageResponse(
            searched_face_bounding_box=probe.box,
            searched_face_confidence=probe.confidence,
            face_matches=[records.FaceMatch(similarity=s, face=records.Face.from_row(r)) for s, r in hits],
            face_model_version=FACE_MODEL_VERSION,
            face_ledger=self._record_search(
                "SearchFacesByImage", search, face_hits(hits), probe_sha256=probe.sha256
            ),
        )

    def search_faces(
        self,
        CollectionId: str,
        FaceId: str,
        MaxFaces: int | None = None,
        FaceMatchThreshold: float | None = None,
    ) -> records.SearchFacesResponse:
        """A stored face against the rest of its collection (never matching itself)."""
        fid = validate.face_id(FaceId)
        search = self._begin_search(
            CollectionId, FaceMatchThreshold, "FaceMatchThreshold", MaxFaces, "MaxFaces", MAX_SEARCH_RESULTS
        )
        cid = search.collection_id
        with self.catalog.read() as conn:
            row = self.catalog.faces_by_ids(conn, cid, [fid]).get(fid)
        if row is None:
            raise ResourceNotFoundException(f"The face {fid} is not in the collection {cid!r}.")
        hits = self._find_similar(cid, row.embedding, search.threshold, search.most, exclude={row.key})
        return records.SearchFacesResponse(
            searched_face_id=fid,
            face_matches=[records.FaceMatch(similarity=s, face=records.Face.from_row(r)) for s, r in hits],
            face_model_version=FACE_MODEL_VERSION,
            face_ledger=self._record_search(
                "SearchFaces", search, face_hits(hits), size=search.size - 1, searched={"SearchedFaceId": fid}
            ),
        )


def face_hits(hits) -> list[dict]:
    """Search hits as the ledger records them: ids and scores, never an embedding."""
    return [
        {
            "FaceId": r.face_id,
            "ExternalImageId": r.external_image_id,
            "UserId": r.user_id,
            "Similarity": round(s, 4),
        }
        for s, r in hits
    ]
