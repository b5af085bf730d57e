"""FaceLedger: the operations, with Rekognition's parameter names, so code written for boto3 ports as it is:

    FaceLedger().detect_faces(Image={"Bytes": data}, Attributes=["ALL"]).to_dict()

Surfaces (CLI, HTTP) adapt to these methods; none of them repeats an operation. Besides the
operations, an engine holds a few objects of its own: `catalog` (the store), `ledger`,
`calibration`, `keys` (access keys) and `video_jobs` (for the runners that run them).
"""

from .folders import FolderOperations
from .labels import LabelOperations
from .media import MediaOperations
from .retention import RetentionOperations
from .review import ReviewOperations
from .streams import StreamOperations
from .users import UserOperations


class FaceLedger(
    UserOperations,
    FolderOperations,
    ReviewOperations,
    RetentionOperations,
    MediaOperations,
    StreamOperations,
    LabelOperations,
):
    """The engine: one per process is enough. Models load once, on first use; the catalog and
    the indexes open on the first collection operation."""

    _keys = None

    @property
    def keys(self):
        """The access keys of the HTTP service (kept in the catalog, secrets under master.key)."""
        if self._keys is None:
            from .keys import AccessKeys

            self._keys = AccessKeys(self.catalog, self.home)
        return self._keys
