"""faceledger: self-hosted face analysis speaking Amazon Rekognition's API.

    from faceledger import FaceLedger, acting

`FaceLedger` is the engine (every operation); `acting(...)` says who searches and why, for the
ledger; the errors are in `faceledger.errors`. The names load on first use, so that
`import faceledger` (and the command line's --help) stays instant.
"""

__version__ = "0.1.0"


def __getattr__(name):
    if name == "FaceLedger":
        from .engine import FaceLedger

        return FaceLedger
    if name == "acting":
        from .accountability.ledger import acting

        return acting
    raise AttributeError(name)


__all__ = ["FaceLedger", "acting", "__version__"]
