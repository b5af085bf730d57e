"""One exception class per Rekognition error, raised in the engine and mapped once per surface.

Each class carries the error's code, the HTTP status Rekognition's protocol answers it with
(`status`: 400 for nearly everything, as AWS's JSON services do) and the status the native REST
API uses (`rest_status`: 404 for what does not exist, 409 for conflicts, ...).
"""

from __future__ import annotations


class FaceLedgerError(Exception):
    """Base for every error faceledger reports to a caller."""

    code = "InternalServerError"
    status = 500
    rest_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.code = cls.__name__

    def to_dict(self) -> dict:
        return {"__type": self.code, "message": self.message}


class ClientError(FaceLedgerError):
    """Something about the request: HTTP 400 in both protocols unless a class says otherwise."""

    status = 400
    rest_status = 400


# -- the operations' own errors ------------------------------------------------------------------


class InvalidImageFormatException(ClientError):
    pass


class ImageTooLargeException(ClientError):
    rest_status = 413


class InvalidParameterException(ClientError):
    pass


class InvalidS3ObjectException(ClientError):
    pass


class ResourceNotFoundException(ClientError):
    rest_status = 404


class ResourceAlreadyExistsException(ClientError):
    rest_status = 409


class AccessDeniedException(ClientError):
    rest_status = 403


class InvalidPaginationTokenException(ClientError):
    pass


class ConflictException(ClientError):
    rest_status = 409


class IdempotentParameterMismatchException(ClientError):
    rest_status = 409


class ServiceQuotaExceededException(ClientError):
    pass


class ResourceInUseException(ClientError):
    """A stream processor in a state the request cannot act on (running, or being stopped)."""

    rest_status = 409


class ResourceNotReadyException(ClientError):
    """Rekognition's error for a model that is not deployed: here, attribute models not installed."""


class ProvisionedThroughputExceededException(ClientError):
    rest_status = 429


class InternalServerError(FaceLedgerError):
    pass


# -- the AWS JSON protocol's own errors, which no operation models but every client knows --------


class MissingAuthenticationTokenException(ClientError):
    status = 403
    rest_status = 401


class UnrecognizedClientException(ClientError):
    """An unknown or revoked access key, or a session token this service did not issue."""

    status = 403
    rest_status = 401


class InvalidSignatureException(ClientError):
    status = 403
    rest_status = 401


class IncompleteSignatureException(ClientError):
    pass


class ExpiredTokenException(ClientError):
    """A web UI session past its expiry."""

    status = 403
    rest_status = 401


class SerializationException(ClientError):
    pass


class UnknownOperationException(ClientError):
    pass


class RequestTimeoutException(ClientError):
    """The request's body did not arrive in time (botocore retries this code)."""

    status = 408
    rest_status = 408


def _all(cls: type[FaceLedgerError]) -> list[type[FaceLedgerError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _all(sub))]


BY_CODE = {cls.code: cls for cls in _all(FaceLedgerError) if cls is not ClientError}
