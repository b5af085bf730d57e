"""PyTorch state dicts (.pth) read without torch: float tensors as numpy arrays.

Both of torch.save's formats: the legacy one (a magic-number pickle, the protocol version, system
info, the state dict's pickle whose storages are persistent ids, the storage keys, then each
storage as an int64 element count and its raw little-endian bytes) and the zip one (data.pkl with
each storage in data/<key>). No pickle in the file is read by the stock unpickler: the legacy
format's headers and storage keys by one that resolves no global at all and keeps only plain
values, the state dict by one that resolves only the handful of globals a state dict needs.
Anything else is refused, so no code from the file ever runs. A tensor is a view of its storage;
one that reaches outside it (offset, sizes, strides) is refused too.
"""

from __future__ import annotations

import io
import math
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


def _index(value) -> bool:
    """A non-negative int (not a bool): an offset, a size or a stride."""
    return type(value) is int and value >= 0


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
        if base is None:
            raise ValueError(f"storage {self.storage.key} has no data in the file")
        # The elements the view reaches: offset + sum((size - 1) * stride) must lie inside the
        # storage, and a view has no more elements than its storage (a state dict's tensors never
        # repeat elements by a zero stride): as_strided checks neither.
        count = math.prod(self.size)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) if count else 0
        if (count and last >= len(base)) or self.offset > len(base) or count > max(len(base), 1):
            raise ValueError(
                f"a tensor of size {self.size}, stride {self.stride} at offset {self.offset} "
                f"reaches outside its storage of {len(base)} elements"
            )
        if not self.size:
            return base[self.offset].copy()
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset :], shape=self.size, strides=[s * item for s in self.stride]
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, hooks=None, *rest):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor whose storage is not one of the file's")
    if not (
        _index(storage_offset)
        and isinstance(size, tuple | list)
        and isinstance(stride, tuple | list)
        and len(size) == len(stride)
        and all(_index(v) for v in (*size, *stride))
    ):
        raise pickle.UnpicklingError(
            f"a tensor's offset, sizes and strides must be non-negative ints: "
            f"{storage_offset!r}, {size!r}, {stride!r}"
        )
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
        if not (
            isinstance(pid, tuple)
            and len(pid) >= 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[2], str | int)
            and _index(pid[4])
        ):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        kind, key, size = pid[1], str(pid[2]), pid[4]
        if key not in self.storages:
            self.storages[key] = _Storage(kind.dtype, key, size)
        elif self.storages[key].dtype != kind.dtype:
            raise pickle.UnpicklingError(f"storage {key} named with two types")
        return self.storages[key]


_PLAIN = (int, str, bool, type(None))


def _plain(value, depth: int = 0) -> bool:
    """ints, strings, bools and None, in dicts, lists and tuples: all a header holds."""
    if depth > 20:
        return False
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


class _PlainUnpickler(pickle.Unpickler):
    """For the legacy format's headers and storage keys: no global resolves, no persistent id."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refused global in a header: {module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused persistent id in a header")


def _load_plain(f):
    value = _PlainUnpickler(f).load()
    if not _plain(value):
        raise pickle.UnpicklingError(f"a header that is not plain values: {type(value).__name__}")
    return value


def _tensors(state) -> dict[str, np.ndarray]:
    if not isinstance(state, dict):
        raise ValueError("not a state dict")
    return {str(k): v.numpy() for k, v in state.items() if isinstance(v, _Tensor)}


def _read_legacy(data: bytes) -> dict[str, np.ndarray]:
    f = io.BytesIO(data)
    if _load_plain(f) != _LEGACY_MAGIC:
        raise ValueError("not a PyTorch file")
    _load_plain(f)  # protocol version
    _load_plain(f)  # system info: a dict of plain values
    storages: dict[str, _Storage] = {}
    state = _Unpickler(f, storages).load()
    keys = _load_plain(f)
    if not isinstance(keys, list) or any(str(key) not in storages for key in keys):
        raise ValueError("the storage keys do not name the state dict's storages")
    for key in keys:
        storage = storages[str(key)]
        header = f.read(8)
        if len(header) != 8:
            raise ValueError("truncated storage")
        (count,) = struct.unpack("<q", header)
        size = count * storage.dtype.itemsize
        raw = f.read(size) if count >= 0 else b""
        if count < 0 or len(raw) != size:
            raise ValueError("truncated storage")
        storage.array = np.frombuffer(raw, dtype=storage.dtype)
    return _tensors(state)


def _read_zip(data: bytes) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ValueError("not a PyTorch file: no data.pkl")
        prefix = pkl[: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        state = _Unpickler(io.BytesIO(z.read(pkl)), storages).load()
        for key, storage in storages.items():
            name = f"{prefix}data/{key}"
            if name not in names:
                raise ValueError(f"storage {key} has no data in the file")
            storage.array = np.frombuffer(z.read(name), dtype=storage.dtype)
    return _tensors(state)


def read_state_dict(path) -> dict[str, np.ndarray]:
    """The tensors of a torch.save'd state dict, by name, as numpy arrays."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"PK\x03\x04":
        return _read_zip(data)
    return _read_legacy(data)
