"""Read dlib's DNN serialisation (the .dat files of face-recognition-models) with numpy and struct.

The format, from dlib/serialize.h and dlib/dnn/{core,layers,input,loss}.h:

- An integer is a control byte (low 4 bits: how many bytes follow; bit 7: negative) and then its
  absolute value, little-endian, in that many bytes. A bool is the character '1' or '0'. A string
  is its length (an integer) and its bytes. A float or double is two integers, a mantissa and a
  binary exponent (value = mantissa * 2**exponent; exponents 32000-32002 stand for inf, -inf, NaN).
- A tensor is a version (1: every value as a dlib float; 2: raw little-endian float32), then its
  num_samples, k, nr, nc, and the values in that order (NCHW, row-major). An alias_tensor (the
  view of a layer's parameter block: a filter bank, a bias, gamma, beta) is a version and the
  same four dimensions, no data.
- A network is written from the top: add_loss_layer writes its version, the loss's details and
  then its subnetwork; add_layer writes its version, then its whole subnetwork, then its own
  details and some training state (three bools and a few tensors); tag and skip layers write a
  version and their subnetwork only. So the file reads every layer's version going down, the
  input layer's details at the bottom, and then every layer's details coming back up. Tags carry
  no id in the file: which tag a skip or add_prev refers to exists only in the C++ type, so the
  caller gives the network's shape (see `Spec`) and the reader checks each layer's name against it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MMOD_FILE = "mmod_human_face_detector.dat"


class DlibFormatError(ValueError):
    """The file is not the network the caller described, or not dlib's format at all."""


@dataclass(frozen=True)
class Spec:
    """One entry of a network's shape, from the top down: `kind` is a layer name (con, affine, relu,
    max_pool, avg_pool, fc, add_prev), "tag" or "skip"; `tag` is the tag id of tag/skip/add_prev."""

    kind: str
    tag: int = 0


@dataclass
class Layer:
    """A computational layer's details as read from the file (bottom-up order in `Net.layers`)."""

    kind: str  # the Spec kind: con, affine, relu, max_pool, avg_pool, fc, add_prev, tag, skip
    name: str = ""  # the file's own version string: con_4, bn_con2, affine_, ...
    tag: int = 0
    params: dict = field(default_factory=dict)


@dataclass
class Net:
    loss: dict
    input: dict
    layers: list[Layer]  # from the input up


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"the file ends at byte {len(self.data)}, {n} more bytes were expected")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def integer(self) -> int:
        ctrl = self._take(1)[0]
        size = ctrl & 0x0F
        if size > 8 or ctrl & 0x70:
            raise DlibFormatError(f"byte {self.pos - 1}: {ctrl:#04x} is not an integer's control byte")
        value = int.from_bytes(self._take(size), "little") if size else 0
        return -value if ctrl & 0x80 else value

    def boolean(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise DlibFormatError(f"byte {self.pos - 1}: {ch!r} is not a bool")
        return ch == b"1"

    def real(self) -> float:
        if self.data[self.pos] & 0x70:
            raise DlibFormatError(f"byte {self.pos}: dlib's old text format for numbers is not supported")
        mantissa, exponent = self.integer(), self.integer()
        special = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
        if exponent in special:
            return special[exponent]
        return math.ldexp(float(mantissa), exponent)

    def string(self) -> str:
        return self._take(self.integer()).decode("latin-1")

    def tensor(self) -> np.ndarray:
        version = self.integer()
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        if version == 2:
            values = np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)
        elif version == 1:
            values = np.array([self.real() for _ in range(count)], dtype=np.float32)
        else:
            raise DlibFormatError(f"byte {self.pos}: tensor version {version} is not known")
        return values.reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise DlibFormatError(f"byte {self.pos}: alias_tensor version {version} is not known")
        return tuple(self.integer() for _ in range(4))

    def expect_version(self, allowed: tuple[int, ...], what: str) -> int:
        version = self.integer()
        if version not in allowed:
            raise DlibFormatError(f"byte {self.pos}: {what} version {version}, expected one of {allowed}")
        return version


def _param_block(params: np.ndarray, shape: tuple, offset: int) -> np.ndarray:
    """The view `shape` of a layer's flat parameter tensor from `offset` (what alias_tensor does)."""
    size = int(np.prod(shape))
    flat = params.reshape(-1)
    if offset + size > flat.size:
        raise DlibFormatError(f"a parameter block of {shape} at {offset} runs past {flat.size} values")
    return flat[offset : offset + size].reshape(shape).copy()


def _con(r: Reader, name: str) -> dict:
    params = r.tensor()
    num_filters = r.integer()
    nr, nc, stride_y, stride_x = (r.integer() for _ in range(4))
    pad_y, pad_x = r.integer(), r.integer()
    filters, biases = r.alias(), r.alias()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.real()
    use_bias = r.boolean() if name == "con_5" else True
    weight = _param_block(params, filters, 0)
    if weight.shape[0] != num_filters or weight.shape[2:] != (nr, nc):
        raise DlibFormatError(f"{name}: filters {weight.shape} do not match {num_filters}x{nr}x{nc}")
    bias = (
        _param_block(params, (num_filters,), weight.size) if use_bias else np.zeros(num_filters, np.float32)
    )
    del biases
    return {
        "weight": weight,
        "bias": bias,
        "stride": (stride_y, stride_x),
        "pad": (pad_y, pad_x),
    }


def _affine(r: Reader, name: str) -> dict:
    params = r.tensor()
    gamma, beta = r.alias(), r.alias()
    mode = r.integer()  # 0: CONV_MODE (one value per channel), 1: FC_MODE (one per element)
    disabled = r.boolean() if name == "affine_2" else False
    g = _param_block(params, gamma, 0)
    b = _param_block(params, beta, g.size)
    if disabled:
        g, b = np.ones_like(g), np.zeros_like(b)
    return {"gamma": g, "beta": b, "mode": mode}


def _bn_as_affine(r: Reader, name: str) -> dict:
    """A batch-norm layer read where the network has an affine layer: dlib converts it on load to
    gamma / sqrt(running_variance + eps) and beta - that * running_mean (float arithmetic)."""
    params = r.tensor()
    gamma, beta = r.alias(), r.alias()
    r.tensor(), r.tensor()  # this batch's means and inverse deviations: training state
    running_means, running_variances = r.tensor(), r.tensor()
    r.integer(), r.integer()  # num_updates, running_stats_window_size
    for _ in range(4):
        r.real()
    eps = np.float32(r.real())
    g = _param_block(params, gamma, 0)
    b = _param_block(params, beta, g.size)
    scale = (g.reshape(-1) / np.sqrt(running_variances.reshape(-1) + eps)).astype(np.float32)
    shift = (b.reshape(-1) - scale * running_means.reshape(-1)).astype(np.float32)
    mode = 0 if name == "bn_con2" else 1
    return {"gamma": scale.reshape(g.shape), "beta": shift.reshape(b.shape), "mode": mode}


def _pool(r: Reader, name: str) -> dict:
    nr, nc, stride_y, stride_x = (r.integer() for _ in range(4))
    pad_y, pad_x = r.integer(), r.integer()
    return {"window": (nr, nc), "stride": (stride_y, stride_x), "pad": (pad_y, pad_x)}


def _fc(r: Reader, name: str) -> dict:
    num_outputs, num_inputs = r.integer(), r.integer()
    params = r.tensor()
    weights, biases = r.alias(), r.alias()
    bias_mode = r.integer()  # 0: FC_HAS_BIAS, 1: FC_NO_BIAS
    for _ in range(4):
        r.real()
    use_bias = r.boolean() if name == "fc_3" else True
    w = _param_block(params, weights, 0).reshape(num_inputs, num_outputs)
    if bias_mode == 0 and use_bias:
        b = _param_block(params, (num_outputs,), w.size)
    else:
        b = None
    del biases
    return {"weight": w, "bias": b}


# Layer kind -> {version string in the file: reader}
_DETAILS = {
    "con": {"con_4": _con, "con_5": _con},
    "affine": {"affine_": _affine, "affine_2": _affine, "bn_con2": _bn_as_affine, "bn_fc2": _bn_as_affine},
    "relu": {"relu_": lambda r, n: {}},
    "max_pool": {"max_pool_2": _pool},
    "avg_pool": {"avg_pool_2": _pool},
    "fc": {"fc_2": _fc, "fc_3": _fc},
    "add_prev": {"add_prev_": lambda r, n: {}},
}


def _input(r: Reader) -> dict:
    name = r.string()
    if name == "input_rgb_image_sized":
        mean = [r.real() for _ in range(3)]
        size = (r.integer(), r.integer())
        return {"kind": name, "mean_rgb": mean, "size": size}
    if name in ("input_rgb_image_pyramid", "input_rgb_image_pyramid2"):
        mean = [r.real() for _ in range(3)]
        padding, outer = (r.integer(), r.integer()) if name.endswith("2") else (10, 11)
        return {"kind": name, "mean_rgb": mean, "padding": padding, "outer_padding": outer}
    raise DlibFormatError(f"input layer {name!r} is not supported")


def _loss(r: Reader) -> dict:
    name = r.string()
    if name == "loss_metric_2":
        return {"kind": name, "margin": r.real(), "distance_threshold": r.real()}
    if name == "loss_mmod_":
        version = r.expect_version((1, 2, 3, 4), "mmod_options")
        if version == 1:
            windows = [(r.integer(), r.integer(), "")]
        else:
            windows = []
            for _ in range(r.integer()):
                windows.append((r.integer(), r.integer(), r.string()))
        opts = {
            "kind": name,
            "windows": windows,  # (width, height, label) of each detector window
            "loss_per_false_alarm": r.real(),
            "loss_per_missed_target": r.real(),
            "truth_match_iou_threshold": r.real(),
            "nms_iou": r.real(),
            "nms_percent_covered": r.real(),
            "ignore_iou": r.real(),
            "ignore_percent_covered": r.real(),
            "assume_image_pyramid": True,
            "bounding_box_regression": False,
        }
        if version >= 3:
            opts["assume_image_pyramid"] = r._take(1)[0] != 0
        if version >= 4:
            opts["bounding_box_regression"] = r.boolean()
            opts["bbr_lambda"] = r.real()
        return opts
    raise DlibFormatError(f"loss layer {name!r} is not supported")


def read_net(data: bytes, spec: list[Spec]) -> Net:
    """Parse a whole network file whose shape (top down, below the loss) is `spec`."""
    r = Reader(data)
    r.expect_version((1,), "add_loss_layer")
    loss = _loss(r)
    # Going down: each layer's version; the lowest computational layer holds the input layer.
    versions = []
    for s in spec:
        if s.kind in ("tag", "skip"):
            r.expect_version((1,), f"add_{s.kind}_layer")
            versions.append(None)
        else:
            versions.append(r.integer())
    if not spec or spec[-1].kind in ("tag", "skip"):
        raise DlibFormatError("the lowest layer must be a computational layer")
    if versions[-1] not in (2, 3):
        raise DlibFormatError(f"the input's add_layer has version {versions[-1]}, expected 2 or 3")
    inp = _input(r)
    # Coming up: each computational layer's details and training state.
    layers = []
    for s, version in zip(reversed(spec), reversed(versions)):
        if s.kind in ("tag", "skip"):
            layers.append(Layer(s.kind, tag=s.tag))
            continue
        name = r.string()
        reader = _DETAILS[s.kind].get(name)
        if reader is None:
            raise DlibFormatError(f"byte {r.pos}: found layer {name!r} where the network has {s.kind!r}")
        layers.append(Layer(s.kind, name, s.tag, reader(r, name)))
        lowest = len(layers) == 1
        if lowest:
            r.boolean(), r.boolean(), r.boolean()
            r.tensor(), r.tensor(), r.tensor()  # x_grad, cached_output, grad_final
            if version == 3:
                r.integer()  # sample_expansion_factor
        else:
            if version not in (1, 2):
                raise DlibFormatError(f"add_layer version {version} is not known")
            r.boolean(), r.boolean(), r.boolean()
            r.tensor(), r.tensor()  # x_grad, cached_output
            if version == 2:
                r.tensor()  # params_grad
    if r.pos != len(data):
        raise DlibFormatError(f"{len(data) - r.pos} bytes left after the network: not the expected network")
    return Net(loss, inp, layers)


# -- the two networks' shapes, top down (what sits right under the loss layer first) -------------


def _res_block() -> list[Spec]:
    # block<N,BN,stride,S> = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,S>>>>> (sizes, strides
    # and paddings are in the file)
    return [Spec("affine"), Spec("con"), Spec("relu"), Spec("affine"), Spec("con")]


def _ares(below: list[Spec]) -> list[Spec]:
    # relu<add_prev1<block<N,BN,1,tag1<S>>>>
    return [Spec("relu"), Spec("add_prev", 1), *_res_block(), Spec("tag", 1), *below]


def _ares_down(below: list[Spec]) -> list[Spec]:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,BN,2,tag1<S>>>>>>>
    return [
        Spec("relu"),
        Spec("add_prev", 2),
        Spec("avg_pool"),
        Spec("skip", 1),
        Spec("tag", 2),
        *_res_block(),
        Spec("tag", 1),
        *below,
    ]


def resnet_spec() -> list[Spec]:
    """anet_type: fc_no_bias<128, avg_pool_everything<level0..level4<max_pool<relu<affine<con>>>>>>."""
    net = [Spec("max_pool"), Spec("relu"), Spec("affine"), Spec("con")]
    for downs, plain in ((False, 3), (True, 3), (True, 2), (True, 2), (True, 0)):  # levels 4 .. 0
        if downs:
            net = _ares_down(net)
        for _ in range(plain):
            net = _ares(net)
    return [Spec("fc"), Spec("avg_pool"), *net]


def mmod_spec() -> list[Spec]:
    """net_type: con<1,9,9> over three rcon5 (con 5x5 45, affine, relu) over the downsampler
    (three con5d: 5x5 stride 2, affine, relu)."""
    rcon = [Spec("relu"), Spec("affine"), Spec("con")]
    return [Spec("con"), *(rcon * 3), *(rcon * 3)]


SPECS = {RESNET_FILE: resnet_spec, MMOD_FILE: mmod_spec}


def read(path: str | os.PathLike, name: str | None = None) -> Net:
    data = Path(path).read_bytes()
    return read_net(data, SPECS[name or Path(path).name]())
