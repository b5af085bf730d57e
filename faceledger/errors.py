"""One exception type per Rekognition error, raised in the engine, mapped once per surface."""


class FaceLedgerError(Exception):
    """Base for every error faceledger reports to a caller."""

    code = "InternalServerError"
    http_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict:
        return {"__type": self.code, "message": self.message}


def _error(name: str, status: int) -> type[FaceLedgerError]:
    return type(name, (FaceLedgerError,), {"code": name, "http_status": status})


InvalidImageFormatException = _error("InvalidImageFormatException", 400)
ImageTooLargeException = _error("ImageTooLargeException", 400)
InvalidParameterException = _error("InvalidParameterException", 400)
InvalidS3ObjectException = _error("InvalidS3ObjectException", 400)
ResourceNotFoundException = _error("ResourceNotFoundException", 400)
ResourceAlreadyExistsException = _error("ResourceAlreadyExistsException", 400)
AccessDeniedException = _error("AccessDeniedException", 400)
InvalidPaginationTokenException = _error("InvalidPaginationTokenException", 400)
ConflictException = _error("ConflictException", 400)
IdempotentParameterMismatchException = _error("IdempotentParameterMismatchException", 400)
ServiceQuotaExceededException = _error("ServiceQuotaExceededException", 400)
InternalServerError = _error("InternalServerError", 500)
# Rekognition's error for a model that is not deployed: here, attribute models not installed.
ResourceNotReadyException = _error("ResourceNotReadyException", 400)
ProvisionedThroughputExceededException = _error("ProvisionedThroughputExceededException", 400)
# The AWS JSON protocol's own errors, which no operation models but every client knows.
MissingAuthenticationTokenException = _error("MissingAuthenticationTokenException", 403)
UnrecognizedClientException = _error("UnrecognizedClientException", 403)
InvalidSignatureException = _error("InvalidSignatureException", 403)
IncompleteSignatureException = _error("IncompleteSignatureException", 400)
SerializationException = _error("SerializationException", 400)
UnknownOperationException = _error("UnknownOperationException", 400)
ExpiredTokenException = _error("ExpiredTokenException", 403)  # a web UI session past its expiry

BY_CODE = {
    cls.code: cls
    for cls in (
        InvalidImageFormatException,
        ImageTooLargeException,
        InvalidParameterException,
        InvalidS3ObjectException,
        ResourceNotFoundException,
        ResourceAlreadyExistsException,
        AccessDeniedException,
        InvalidPaginationTokenException,
        ConflictException,
        IdempotentParameterMismatchException,
        ServiceQuotaExceededException,
        InternalServerError,
        ResourceNotReadyException,
        ProvisionedThroughputExceededException,
        MissingAuthenticationTokenException,
        UnrecognizedClientException,
        InvalidSignatureException,
        IncompleteSignatureException,
        SerializationException,
        UnknownOperationException,
        ExpiredTokenException,
    )
}
