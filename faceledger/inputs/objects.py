"""`S3Object` inputs: read from an S3-compatible store (AWS S3, MinIO, Ceph, ...) or from local
folders that stand in for buckets on a machine without object storage.

Configuration, from the environment:
- FACELEDGER_BUCKETS="photos=/srv/photos,archive=/mnt/archive": buckets served from folders;
- FACELEDGER_S3_ENDPOINT_URL (empty: AWS's own endpoints), FACELEDGER_S3_REGION (us-east-1),
  FACELEDGER_S3_ACCESS_KEY_ID / FACELEDGER_S3_SECRET_ACCESS_KEY (empty: boto3's usual chain of
  AWS_* variables, ~/.aws and instance roles) for every other bucket.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ImageTooLargeException, InvalidParameterException, InvalidS3ObjectException

log = logging.getLogger("faceledger.server")

# Rekognition's own message for an object it cannot read.
UNREADABLE = "Unable to get object metadata from S3. Check object key, region and/or access permissions."


@dataclass(frozen=True)
class ObjectStoreConfig:
    folders: dict[str, Path] = field(default_factory=dict)
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None

    @classmethod
    def from_env(cls) -> ObjectStoreConfig:
        env = os.environ
        folders = {}
        for item in (env.get("FACELEDGER_BUCKETS") or "").split(","):
            if item.strip():
                name, sep, path = item.partition("=")
                if not sep:
                    raise ValueError(f"FACELEDGER_BUCKETS entry {item!r} is not bucket=/folder")
                folders[name.strip()] = Path(path.strip()).expanduser()
        return cls(
            folders=folders,
            endpoint_url=env.get("FACELEDGER_S3_ENDPOINT_URL") or None,
            region=env.get("FACELEDGER_S3_REGION") or "us-east-1",
            access_key_id=env.get("FACELEDGER_S3_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("FACELEDGER_S3_SECRET_ACCESS_KEY") or None,
        )


def check_s3_object(obj) -> tuple[str, str, str | None]:
    if not isinstance(obj, dict) or set(obj) - {"Bucket", "Name", "Version"}:
        raise InvalidParameterException("S3Object takes Bucket, Name and optionally Version.")
    bucket, name, version = obj.get("Bucket"), obj.get("Name"), obj.get("Version")
    if not isinstance(bucket, str) or not 3 <= len(bucket) <= 255:
        raise InvalidParameterException("S3Object.Bucket must be a bucket name of 3 to 255 characters.")
    if not isinstance(name, str) or not 1 <= len(name) <= 1024 or "\x00" in name:
        raise InvalidParameterException("S3Object.Name must be an object key of 1 to 1024 characters.")
    if version is not None and (not isinstance(version, str) or not 1 <= len(version) <= 1024):
        raise InvalidParameterException("S3Object.Version must be 1 to 1024 characters.")
    return bucket, name, version


class ObjectStore:
    def __init__(self, config: ObjectStoreConfig | None = None):
        self.config = config or ObjectStoreConfig.from_env()
        self._client = None
        self._lock = threading.Lock()

    def read(self, obj: dict, max_bytes: int) -> bytes:
        """The object's bytes; InvalidS3ObjectException when it cannot be read,
        ImageTooLargeException past `max_bytes`."""
        bucket, name, version = check_s3_object(obj)
        if bucket in self.config.folders:
            return self._folder_file(bucket, name, version, max_bytes).read_bytes()
        return self._read_s3(bucket, name, version, max_bytes)

    def local_file(self, obj: dict, scratch: Path, max_bytes: int) -> tuple[Path, bool]:
        """A local path for a large object (a video): a bucket folder's file as it is, an S3
        object downloaded into `scratch` (True: the caller deletes it when done)."""
        bucket, name, version = check_s3_object(obj)
        if bucket in self.config.folders:
            return self._folder_file(bucket, name, version, max_bytes), False
        scratch.mkdir(parents=True, exist_ok=True)
        dest = scratch / f"object-{os.getpid()}-{threading.get_ident()}"
        with self._s3_errors(bucket, name):
            head = self.client().head_object(**_s3_key(bucket, name, version))
            _check_size(int(head.get("ContentLength") or 0), max_bytes)
            self.client().download_file(
                bucket, name, str(dest), ExtraArgs={"VersionId": version} if version else None
            )
        return dest, True

    def _folder_file(self, bucket: str, name: str, version: str | None, max_bytes: int) -> Path:
        if version is not None:
            raise InvalidS3ObjectException(
                f"The bucket {bucket!r} is a local folder: its objects have no versions."
            )
        root = self.config.folders[bucket].resolve()
        try:
            path = (root / name).resolve()
            readable = path.is_relative_to(root) and path.is_file()  # no escape by .. or a link
        except (OSError, ValueError):  # a name no file system takes
            readable = False
        if not readable:
            raise InvalidS3ObjectException(UNREADABLE)
        _check_size(path.stat().st_size, max_bytes)
        return path

    def client(self):
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                c = self.config
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=c.endpoint_url,
                    region_name=c.region,
                    aws_access_key_id=c.access_key_id,
                    aws_secret_access_key=c.secret_access_key,
                    config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
                )
            return self._client

    @staticmethod
    @contextmanager
    def _s3_errors(bucket: str, name: str):
        """The store's errors as Rekognition reports an unreadable object."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            raise InvalidS3ObjectException(
                f"{UNREADABLE} ({code or 'error'} for s3://{bucket[:255]}/{name[:1024]})"
            ) from None
        except BotoCoreError as e:  # no credentials, no connection, a timeout: the operator's log says which
            log.warning("reading s3://%s/%s: %s: %s", bucket[:255], name[:1024], type(e).__name__, e)
            raise InvalidS3ObjectException(UNREADABLE) from None

    def _read_s3(self, bucket: str, name: str, version: str | None, max_bytes: int) -> bytes:
        with self._s3_errors(bucket, name):
            response = self.client().get_object(**_s3_key(bucket, name, version))
            try:
                _check_size(int(response.get("ContentLength") or 0), max_bytes)
                data = response["Body"].read(max_bytes + 1)
            finally:
                response["Body"].close()
        if len(data) > max_bytes:
            raise ImageTooLargeException(f"The object is over {max_bytes} bytes.")
        return data


def _s3_key(bucket: str, name: str, version: str | None) -> dict:
    return {"Bucket": bucket, "Key": name, **({"VersionId": version} if version else {})}


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise ImageTooLargeException(f"The object is {size} bytes; at most {max_bytes} are accepted.")
