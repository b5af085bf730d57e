"""PyTorch state dicts (.pth) read without torch: float tensors as numpy arrays.

Both of torch.save's formats: the legacy one (a magic-number pickle, the protocol version, system
info, the state dict's pickle whose storages are persistent ids, the storage keys, then each
storage as an int64 element count and its raw little-endian bytes) and the zip one (data.pkl with
each storage in data/<key>). The unpickler resolves only the handful of globals a state dict
needs; anything else in the file is refused, so no code from the pickle ever runs.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# storage classes as torch names them, to numpy dtypes (little-endian on disk)
_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
# the zip format's typed storages name a dtype instead
_TORCH_DTYPES = {
    "float32": "FloatStorage",
    "float64": "DoubleStorage",
    "float16": "HalfStorage",
    "int64": "LongStorage",
}


class _StorageType:
    def __init__(self, name: str):
        self.dtype = _DTYPES[name]


class _Storage:
    """A storage's place in the file; its array is filled in once the bytes are read."""

    def __init__(self, dtype: np.dtype, key: str, size: int):
        self.dtype, self.key, self.size = dtype, key, size
        self.array: np.ndarray | None = None


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def numpy(self) -> np.ndarray:
        base = self.storage.array
        if not self.size:
            return base[self.offset].copy()
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset :], shape=self.size, strides=[s * item for s in self.stride]
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, hooks=None, *rest):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, hooks=None, *rest):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict[str, _Storage]):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        if module == "torch" and name in _TORCH_DTYPES:
            return _StorageType(_TORCH_DTYPES[name])
        raise pickle.UnpicklingError(f"refused global in a state dict: {module}.{name}")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not isinstance(pid, tuple) or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        kind, key, size = pid[1], str(pid[2]), int(pid[4])
        if key not in self.storages:
            self.storages[key] = _Storage(kind.dtype, key, size)
        return self.storages[key]


def _tensors(state) -> dict[str, np.ndarray]:
    if not isinstance(state, dict):
        raise ValueError("not a state dict")
    return {str(k): v.numpy() for k, v in state.items() if isinstance(v, _Tensor)}


def _read_legacy(data: bytes) -> dict[str, np.ndarray]:
    f = io.BytesIO(data)
    if pickle.load(f) != _LEGACY_MAGIC:  # plain ints only: safe with the stock unpickler
        raise ValueError("not a PyTorch file")
    pickle.load(f)  # protocol version
    pickle.load(f)  # system info: a dict of plain values
    storages: dict[str, _Storage] = {}
    state = _Unpickler(f, storages).load()
    keys = pickle.load(f)
    for key in keys:
        storage = storages[str(key)]
        (count,) = struct.unpack("<q", f.read(8))
        raw = f.read(count * storage.dtype.itemsize)
        if len(raw) != count * storage.dtype.itemsize:
            raise ValueError("truncated storage")
        storage.array = np.frombuffer(raw, dtype=storage.dtype)
    return _tensors(state)


def _read_zip(data: bytes) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        pkl = next(n for n in names if n.endswith("/data.pkl") or n == "data.pkl")
        prefix = pkl[: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        state = _Unpickler(io.BytesIO(z.read(pkl)), storages).load()
        for key, storage in storages.items():
            storage.array = np.frombuffer(z.read(f"{prefix}data/{key}"), dtype=storage.dtype)
    return _tensors(state)


def read_state_dict(path) -> dict[str, np.ndarray]:
    """The tensors of a torch.save'd state dict, by name, as numpy arrays."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"PK\x03\x04":
        return _read_zip(data)
    return _read_legacy(data)
