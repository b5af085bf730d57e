"""Pictures for people to look at: a stored face cut from its kept source image, and the frame
of a video job's video at a time. Neither compares faces nor changes anything, so neither is a
ledger entry; the surfaces check the caller's rights first."""

from __future__ import annotations

import json

from sqlalchemy import select

from ..errors import InvalidParameterException, ResourceNotFoundException
from ..inputs import images
from ..store import catalog as tables
from . import validate
from .collections import CollectionOperations
from .video import VideoOperations

FACE_MARGIN = 0.35  # of the box's size on each side: dlib's boxes are tight (brows to lip)
MAX_FRAME_SIDE = 1280


class MediaOperations(CollectionOperations, VideoOperations):
    def face_image(self, CollectionId: str, FaceId: str, Size: int | None = None) -> bytes:
        """A JPEG of the face with some margin, at most `Size` pixels a side (default 160), cut
        from the source image kept by a collection whose policy has KeepImages."""
        cid = validate.collection_id(CollectionId)
        fid = validate.face_id(FaceId)
        size = validate.integer(Size, "Size", 32, 1024, 160)
        f, im = tables.faces, tables.face_images
        with self.catalog.read() as conn:
            self._require(conn, cid)
            face = conn.execute(select(f).where(f.c.collection_id == cid, f.c.face_id == fid)).first()
            if face is None:
                raise ResourceNotFoundException(f"No face {fid} in the collection {cid!r}.")
            data = conn.execute(
                select(im.c.data).where(im.c.collection_id == cid, im.c.image_id == face.image_id)
            ).scalar()
        if data is None:
            raise ResourceNotFoundException(
                f"No image is kept for face {fid}: the collection {cid!r} keeps images only when its policy "
                "has KeepImages."
            )
        rgb = images.decode_image(bytes(data), self.limits, max_bytes=self.limits.max_file_bytes).rgb
        h, w = rgb.shape[:2]
        mx, my = face.box_width * FACE_MARGIN, face.box_height * FACE_MARGIN
        left, top = max(0, int((face.box_left - mx) * w)), max(0, int((face.box_top - my) * h))
        right = min(w, int((face.box_left + face.box_width + mx) * w))
        bottom = min(h, int((face.box_top + face.box_height + my) * h))
        if right - left < 2 or bottom - top < 2:  # a box outside the picture: show the picture
            left, top, right, bottom = 0, 0, w, h
        return images.encode_jpeg(rgb[top:bottom, left:right], size)

    def video_frame(self, JobId: str, Timestamp: int) -> tuple[int, bytes]:
        """The frame of a job's video at `Timestamp` ms (the first at or after it), as
        (its own timestamp, JPEG at most 1280 pixels a side)."""
        from ..video.decode import VideoError, frame_at

        at = validate.integer(Timestamp, "Timestamp", 0, 2**53, None)
        if at is None:
            raise InvalidParameterException("Timestamp (milliseconds from the start) is required.")
        video = json.loads(self._job(JobId).request)["Video"]
        with self._video_file(video) as path:
            try:
                found_at, rgb = frame_at(path, at)
            except VideoError as e:
                raise InvalidParameterException(f"No frame at {at} ms: {e}") from None
        return found_at, images.encode_jpeg(rgb, MAX_FRAME_SIDE)
