"""The engine: every operation, once (see face_ledger.py). Importing a module of this package
does not load the models or the database drivers: FaceLedger is imported on first use."""


def __getattr__(name):
    if name == "FaceLedger":
        from .face_ledger import FaceLedger

        return FaceLedger
    raise AttributeError(name)


__all__ = ["FaceLedger"]
