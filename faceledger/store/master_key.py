"""The master key: the one secret of a data directory, kept in a file readable by its owner only.
Access keys' secrets are encrypted under it, and web UI session tokens signed with a key derived
from it; every node that serves the same catalog needs the same file."""

from __future__ import annotations

import os
from pathlib import Path


def master_key_path(home: Path) -> Path:
    return Path(os.environ.get("FACELEDGER_MASTER_KEY_FILE") or home / "master.key")


def load_master_key(path: Path) -> bytes:
    """The Fernet key, made on first use with owner-only permissions."""
    from cryptography.fernet import Fernet

    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return key
