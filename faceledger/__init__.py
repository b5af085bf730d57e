"""faceledger: self-hosted face analysis speaking Amazon Rekognition's API."""

__version__ = "0.1.0"

# The engine pulls in numpy and dlib; keep `import faceledger` instant.
def __getattr__(name):
    if name == "FaceLedger":
        from .engine import FaceLedger

        return FaceLedger
    raise AttributeError(name)


__all__ = ["FaceLedger", "__version__"]
