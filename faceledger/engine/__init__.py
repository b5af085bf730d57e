"""The operations, with Rekognition's parameter names, so code written for boto3 ports as it is:

    FaceLedger().detect_faces(Image={"Bytes": data}, Attributes=["ALL"]).to_dict()

Surfaces (CLI, HTTP) adapt to these methods; none of them repeats an operation.
"""

from .faces import FaceOperations
from .media import MediaOperations
from .retention import RetentionOperations
from .review import ReviewOperations
from .users import UserOperations
from .video import VideoOperations


class FaceLedger(FaceOperations, UserOperations, ReviewOperations, RetentionOperations, MediaOperations,
                 VideoOperations):
    """The engine: one per process is enough. Models load once, on first use; the catalog and
    the indexes open on the first collection operation."""


__all__ = ["FaceLedger"]
