"""The engine contract (version 1.x): metadata schema, validation and the common Engine interface.

An engine is a network file plus self-describing JSON metadata (see ``docs/engine-contract.md``).
Everything a backend needs to check a file lives here as plain functions, so the ONNX Runtime and
the TensorRT backends apply exactly the same rules and the rules are testable without a GPU.
"""

from __future__ import annotations

import abc
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import EngineError

__all__ = [
    "CONTRACT_VERSION",
    "METADATA_KEY",
    "ROOT_HEADING_V1",
    "ROOT_CHANNELS_V1",
    "ARKIT_52",
    "StyleAxis",
    "EngineMetadata",
    "TensorInfo",
    "Engine",
    "parse_metadata",
    "metadata_from_dict",
    "expected_inputs",
    "expected_outputs",
    "check_io",
    "display_name",
]

CONTRACT_VERSION = "1.0"
METADATA_KEY = "dance_ai"
ROOT_HEADING_V1 = "root_heading_v1"
ROOT_CHANNELS_V1 = ("root_height", "vel_x", "vel_z", "yaw_rate")

#: The 52 ARKit face blendshape names, in Apple's documented order.
ARKIT_52 = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward",
    "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft",
    "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight", "tongueOut",
)  # fmt: skip

_NORMALISE_MODES = ("categories_sum_to_one", "none")
_AXIS_KINDS = ("category", "descriptor")


def display_name(path: str | os.PathLike) -> str:
    """The file name users see in messages (no long absolute paths)."""
    return os.path.basename(os.fspath(path)) or os.fspath(path)


def check_engine_file(path: str | os.PathLike) -> None:
    """Refuse a missing, unreadable or empty engine file before any runtime sees it."""
    name = display_name(path)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise EngineError(f"{name}: cannot read the engine file ({exc.strerror or exc})") from None
    if size == 0:
        raise EngineError(f"{name}: the engine file is empty")


@dataclass(frozen=True)
class StyleAxis:
    """One entry of the style vector: a dance category weight or a continuous descriptor."""

    name: str
    kind: str
    default: float
    min: float
    max: float


@dataclass(frozen=True)
class TensorInfo:
    """An engine tensor as a backend reports it: dims are int, or str/None/-1 when dynamic."""

    name: str
    shape: tuple
    dtype: str  # numpy dtype name, e.g. "float32"


@dataclass
class EngineMetadata:
    """Validated engine metadata (contract 1.x). ``raw`` keeps the JSON dict as read."""

    raw: dict
    source: str
    contract_version: str
    name: str
    version: str
    description: str
    license: str
    fps: float
    history: int
    window: int
    feature_layout: str
    feature_size: int
    rotation: str
    root_channels: tuple[str, ...]
    skeleton: Any  # core.skeleton.Skeleton
    skeleton_name: str | None
    style_axes: tuple[StyleAxis, ...]
    style_presets: dict[str, np.ndarray]
    style_normalise: str
    noise_size: int
    beat_input: bool
    default_bpm: float
    blendshape_names: tuple[str, ...] | None
    blendshape_standard: str | None
    recommended_overlap: int
    recommended_noise_scale: float
    initial_history: np.ndarray | None = field(default=None)
    # optional: real seed histories per style category, each (n, H, F); see engine-contract.md
    seed_histories: dict[str, np.ndarray] | None = field(default=None)
    # optional: per seed history, its descriptor values (n, D) in the descriptor axes' order
    seed_descriptors: dict[str, np.ndarray] | None = field(default=None)
    # optional: per descriptor axis, how much a slider's distance from the preset is amplified
    # on its way into the network (1 = as set); see engine-contract.md
    descriptor_gain: dict[str, float] = field(default_factory=dict)
    # optional: how far a clip's character drifts through the style's real takes by default
    # (core.generation.character_drift; 0 = every seed aims at the preset); see engine-contract.md
    recommended_variety: float = 0.0
    # optional: per style category, the noise scale its output moves at its real speed with
    # (recommended_noise_scale stands in for categories not listed); see engine-contract.md
    style_noise_scale: dict[str, float] = field(default_factory=dict)

    @property
    def style_size(self) -> int:
        return len(self.style_axes)

    @property
    def style_names(self) -> list[str]:
        return [a.name for a in self.style_axes]

    @property
    def category_indices(self) -> list[int]:
        """Style-vector indices of the category axes, in order."""
        return [i for i, a in enumerate(self.style_axes) if a.kind == "category"]

    @property
    def descriptor_indices(self) -> list[int]:
        """Style-vector indices of the descriptor axes, in order."""
        return [i for i, a in enumerate(self.style_axes) if a.kind == "descriptor"]

    @property
    def num_joints(self) -> int:
        return len(self.skeleton.names)

    def summary(self) -> dict:
        """A short JSON-able description for listings (CLI ``engines``, the UI)."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "license": self.license,
            "contract_version": self.contract_version,
            "fps": self.fps,
            "history": self.history,
            "window": self.window,
            "features": self.feature_size,
            "skeleton": self.skeleton_name or f"custom ({self.num_joints} joints)",
            "joints": self.num_joints,
            "style_axes": self.style_names,
            "presets": sorted(self.style_presets),
            "beat_input": self.beat_input,
            "blendshapes": len(self.blendshape_names) if self.blendshape_names else 0,
        }


# --------------------------------------------------------------------------- metadata parsing


class _Reader:
    """Typed access to a JSON dict that turns every problem into one EngineError sentence."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, message: str) -> EngineError:
        return EngineError(f"{self.source}: engine metadata {message}")

    def get(self, d: Mapping, key: str, types, where: str, default: Any = ...) -> Any:
        if key not in d:
            if default is ...:
                raise self.fail(f"is missing the key '{where}{key}'")
            return default
        value = d[key]
        # bool is an int subclass in Python; never accept it where a number is wanted.
        if isinstance(value, bool) and bool not in _as_tuple(types):
            raise self.fail(f"'{where}{key}' must be {_type_words(types)}, not a boolean")
        if not isinstance(value, types):
            raise self.fail(
                f"'{where}{key}' must be {_type_words(types)}, not {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(f"'{where}{key}' must be a finite number")
        return value

    def number(self, d: Mapping, key: str, where: str, default: Any = ...) -> float:
        return float(self.get(d, key, (int, float), where, default))

    def integer(self, d: Mapping, key: str, where: str, minimum: int, default: Any = ...) -> int:
        value = self.get(d, key, int, where, default)
        if value < minimum:
            raise self.fail(f"'{where}{key}' must be >= {minimum}, got {value}")
        return int(value)


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _type_words(types) -> str:
    words = {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
        list: "a list",
        dict: "an object",
    }
    parts = [words.get(t, t.__name__) for t in _as_tuple(types)]
    if parts == ["an integer", "a number"]:
        return "a number"
    return " or ".join(parts)


def _number_list(r: _Reader, value: Any, where: str, length: int | None = None) -> np.ndarray:
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise r.fail(f"'{where}' must be a list of numbers")
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise r.fail(f"'{where}' must contain only finite numbers")
    if length is not None and arr.shape[0] != length:
        raise r.fail(f"'{where}' must have {length} values, got {arr.shape[0]}")
    return arr


def _parse_skeleton(r: _Reader, d: Mapping) -> tuple[Any, str | None]:
    from ..skeleton import Skeleton, smpl24_skeleton

    if "name" in d and "names" not in d:
        name = r.get(d, "name", str, "skeleton.")
        if name.upper().replace("_", "-") in ("SMPL-24", "SMPL24"):
            return smpl24_skeleton(), "SMPL-24"
        raise r.fail(
            f"names an unknown skeleton '{name}' (known: SMPL-24); "
            "give 'names', 'parents' and 'offsets' instead"
        )
    names = r.get(d, "names", list, "skeleton.")
    if not names or not all(isinstance(n, str) and n for n in names):
        raise r.fail("'skeleton.names' must be a non-empty list of strings")
    if len(set(names)) != len(names):
        raise r.fail("'skeleton.names' has duplicate joint names")
    parents = r.get(d, "parents", list, "skeleton.")
    if len(parents) != len(names) or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in parents
    ):
        raise r.fail(f"'skeleton.parents' must be {len(names)} integers")
    if parents[0] != -1 or any(not (-1 < p < j) for j, p in enumerate(parents) if j > 0):
        raise r.fail("'skeleton.parents' must start with -1 and list each parent before its child")
    offsets = r.get(d, "offsets", list, "skeleton.")
    if len(offsets) != len(names):
        raise r.fail(f"'skeleton.offsets' must have {len(names)} entries")
    off = np.stack([_number_list(r, o, "skeleton.offsets[]", 3) for o in offsets])
    rest = None
    if "rest_rotations" in d:
        rr = r.get(d, "rest_rotations", list, "skeleton.")
        if len(rr) != len(names):
            raise r.fail(f"'skeleton.rest_rotations' must have {len(names)} entries")
        rest = np.stack([_number_list(r, q, "skeleton.rest_rotations[]", 4) for q in rr])
        norms = np.linalg.norm(rest, axis=-1, keepdims=True)
        if np.any(norms < 1e-8):
            raise r.fail("'skeleton.rest_rotations' has a zero quaternion")
        rest = rest / norms
    else:
        rest = np.tile(np.array([1.0, 0.0, 0.0, 0.0]), (len(names), 1))
    try:
        skel = Skeleton(list(names), np.asarray(parents, dtype=np.int64), off, rest)
    except Exception as exc:  # the core's own validation, reworded for engines
        raise r.fail(f"describes an invalid skeleton ({exc})") from None
    return skel, r.get(d, "name", str, "skeleton.", None)


def metadata_from_dict(data: Any, source: str) -> EngineMetadata:
    """Validate a decoded metadata dict; every problem is an EngineError naming ``source``."""
    r = _Reader(source)
    if not isinstance(data, dict):
        raise r.fail("must be a JSON object")
    version = r.get(data, "contract_version", str, "")
    major = version.split(".", 1)[0]
    if major != CONTRACT_VERSION.split(".", 1)[0]:
        raise r.fail(
            f"uses contract version {version}, but this Dance AI reads {CONTRACT_VERSION} "
            "(1.x); update Dance AI or re-export the engine"
        )
    name = r.get(data, "name", str, "")
    eng_version = str(r.get(data, "version", (str, int, float), ""))
    description = r.get(data, "description", str, "", "")
    license_ = r.get(data, "license", str, "", "")
    fps = r.number(data, "fps", "")
    if not 1.0 <= fps <= 1000.0:
        raise r.fail(f"'fps' must be between 1 and 1000, got {fps}")
    history = r.integer(data, "history", "", 0)
    window = r.integer(data, "window", "", 1)
    if history > 100_000 or window > 100_000:
        raise r.fail("'history'/'window' are implausibly large")

    feats = r.get(data, "features", dict, "")
    layout = r.get(feats, "layout", str, "features.")
    if layout != ROOT_HEADING_V1:
        raise r.fail(f"has an unknown feature layout '{layout}' (known: {ROOT_HEADING_V1})")
    feature_size = r.integer(feats, "size", "features.", 1)
    rotation = r.get(feats, "rotation", str, "features.")
    if rotation != "6d":
        raise r.fail(f"'features.rotation' must be '6d', got '{rotation}'")
    root = r.get(feats, "root", list, "features.")
    if tuple(root) != ROOT_CHANNELS_V1:
        raise r.fail(f"'features.root' must be {list(ROOT_CHANNELS_V1)} for {layout}")

    skeleton, skel_name = _parse_skeleton(r, r.get(data, "skeleton", dict, ""))
    n_joints = len(skeleton.names)
    expected_f = len(ROOT_CHANNELS_V1) + 6 * n_joints
    if feature_size != expected_f:
        raise r.fail(
            f"'features.size' is {feature_size}, but {layout} with {n_joints} joints needs "
            f"{len(ROOT_CHANNELS_V1)} + 6 x {n_joints} = {expected_f}"
        )

    style = r.get(data, "style", dict, "")
    axes_raw = r.get(style, "axes", list, "style.")
    if not axes_raw:
        raise r.fail("'style.axes' must list at least one axis")
    axes = []
    for i, a in enumerate(axes_raw):
        where = f"style.axes[{i}]."
        if not isinstance(a, dict):
            raise r.fail(f"'style.axes[{i}]' must be an object")
        kind = r.get(a, "kind", str, where)
        if kind not in _AXIS_KINDS:
            raise r.fail(f"'{where}kind' must be one of {list(_AXIS_KINDS)}, got '{kind}'")
        lo = r.number(a, "min", where, 0.0)
        hi = r.number(a, "max", where, 1.0)
        default = r.number(a, "default", where, 0.0)
        if lo > hi or not lo <= default <= hi:
            raise r.fail(f"'{where}' needs min <= default <= max")
        axes.append(StyleAxis(r.get(a, "name", str, where), kind, default, lo, hi))
    if len({a.name for a in axes}) != len(axes):
        raise r.fail("'style.axes' has duplicate names")
    presets_raw = r.get(style, "presets", dict, "style.", {})
    presets = {
        str(k): _number_list(r, v, f"style.presets.{k}", len(axes)) for k, v in presets_raw.items()
    }
    normalise = r.get(style, "normalise", str, "style.", "none")
    if normalise not in _NORMALISE_MODES:
        raise r.fail(f"'style.normalise' must be one of {list(_NORMALISE_MODES)}")

    noise_size = r.integer(r.get(data, "noise", dict, ""), "size", "noise.", 1)
    beat = r.get(data, "beat", dict, "", {"input": False})
    beat_input = r.get(beat, "input", bool, "beat.", False)
    default_bpm = r.number(beat, "default_bpm", "beat.", 120.0)
    if not 1.0 <= default_bpm <= 1000.0:
        raise r.fail("'beat.default_bpm' must be between 1 and 1000")

    bs_names = None
    bs_standard = None
    if data.get("blendshapes") is not None:
        bs = r.get(data, "blendshapes", dict, "")
        names = r.get(bs, "names", list, "blendshapes.")
        if not names or not all(isinstance(n, str) and n for n in names):
            raise r.fail("'blendshapes.names' must be a non-empty list of strings")
        bs_names = tuple(names)
        bs_standard = r.get(bs, "standard", str, "blendshapes.", None)
        if bs_standard == "ARKit-52" and set(bs_names) != set(ARKIT_52):
            raise r.fail("'blendshapes' claims ARKit-52 but the names differ from ARKit's 52")

    rec = r.get(data, "recommended", dict, "", {})
    overlap = r.integer(rec, "overlap", "recommended.", 0, min(8, window - 1) if window > 1 else 0)
    if overlap >= window:
        raise r.fail(f"'recommended.overlap' ({overlap}) must be smaller than window ({window})")
    noise_scale = r.number(rec, "noise_scale", "recommended.", 1.0)
    gains = _parse_named_numbers(
        r,
        rec,
        "descriptor_gain",
        [a.name for a in axes if a.kind == "descriptor"],
        ("descriptor axis", "descriptor axes"),
        lambda v: 1.0 <= v <= MAX_DESCRIPTOR_GAIN,
        f"between 1 and {MAX_DESCRIPTOR_GAIN:g}",
    )
    style_noise = _parse_named_numbers(
        r,
        rec,
        "style_noise_scale",
        [a.name for a in axes if a.kind == "category"],
        ("style category", "categories"),
        lambda v: 0.0 < v <= MAX_NOISE_SCALE,
        f"above 0 and at most {MAX_NOISE_SCALE:g}",
    )
    variety = r.number(rec, "variety", "recommended.", 0.0)
    if not 0.0 <= variety <= 1.0:
        raise r.fail(f"'recommended.variety' must be between 0 and 1, got {variety:g}")

    initial = None
    if data.get("initial_history") is not None:
        ih = r.get(data, "initial_history", list, "")
        if len(ih) != history:
            raise r.fail(f"'initial_history' must have {history} rows (history), got {len(ih)}")
        initial = (
            np.stack([_number_list(r, row, "initial_history[]", feature_size) for row in ih])
            if history
            else np.zeros((0, feature_size))
        )

    seeds = _parse_seed_histories(r, data, axes, history, feature_size)
    seed_desc = _parse_seed_descriptors(r, data, axes, seeds)

    return EngineMetadata(
        raw=data,
        source=source,
        contract_version=version,
        name=name,
        version=eng_version,
        description=description,
        license=license_,
        fps=fps,
        history=history,
        window=window,
        feature_layout=layout,
        feature_size=feature_size,
        rotation=rotation,
        root_channels=tuple(root),
        skeleton=skeleton,
        skeleton_name=skel_name,
        style_axes=tuple(axes),
        style_presets=presets,
        style_normalise=normalise,
        noise_size=noise_size,
        beat_input=beat_input,
        default_bpm=default_bpm,
        blendshape_names=bs_names,
        blendshape_standard=bs_standard,
        recommended_overlap=overlap,
        recommended_noise_scale=noise_scale,
        initial_history=initial,
        seed_histories=seeds,
        seed_descriptors=seed_desc,
        descriptor_gain=gains,
        recommended_variety=variety,
        style_noise_scale=style_noise,
    )


#: The largest descriptor gain an engine may ask for (beyond it the network runs far outside
#: anything it was trained on).
MAX_DESCRIPTOR_GAIN = 5.0


def _parse_named_numbers(
    r: _Reader,
    rec: Mapping,
    key: str,
    names: list[str],
    kind: tuple[str, str],
    ok: Callable[[float], bool],
    bounds: str,
) -> dict[str, float]:
    """Optional ``recommended.<key>``: {name from ``names``: a number ``ok`` accepts}.

    ``kind`` is the singular and plural of what the names are (for the error message) and
    ``bounds`` says the accepted range in words.
    """
    if rec.get(key) is None:
        return {}
    values = r.get(rec, key, dict, "recommended.")
    out = {}
    for name, value in values.items():
        if name not in names:
            raise r.fail(
                f"'recommended.{key}' names '{name}', which is not a {kind[0]} "
                f"({kind[1]}: {', '.join(names) or 'none'})"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise r.fail(f"'recommended.{key}.{name}' must be a number")
        if not ok(float(value)):
            raise r.fail(f"'recommended.{key}.{name}' must be {bounds}, got {value}")
        out[name] = float(value)
    return out


#: The largest noise scale an engine may recommend (the network was trained on unit noise).
MAX_NOISE_SCALE = 10.0


def _parse_seed_histories(
    r: _Reader, data: Mapping, axes: list, history: int, feature_size: int
) -> dict[str, np.ndarray] | None:
    """Optional ``seed_histories``: {category axis name: [[H][F], ...]} -> {name: (n, H, F)}."""
    if data.get("seed_histories") is None:
        return None
    raw = r.get(data, "seed_histories", dict, "")
    categories = {a.name for a in axes if a.kind == "category"}
    out: dict[str, np.ndarray] = {}
    for name, entries in raw.items():
        where = f"seed_histories.{name}"
        if name not in categories:
            raise r.fail(
                f"'{where}' names no style category (categories: {', '.join(sorted(categories))})"
            )
        if not isinstance(entries, list) or not entries:
            raise r.fail(f"'{where}' must be a non-empty list of [history][features] histories")
        stacked = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, list) or len(entry) != history:
                got = len(entry) if isinstance(entry, list) else type(entry).__name__
                raise r.fail(f"'{where}[{i}]' must have {history} rows (history), got {got}")
            rows = [_number_list(r, row, f"{where}[{i}][]", feature_size) for row in entry]
            stacked.append(np.stack(rows) if rows else np.zeros((0, feature_size)))
        out[str(name)] = np.stack(stacked)
    return out or None


def _parse_seed_descriptors(
    r: _Reader, data: Mapping, axes: list, seeds: dict[str, np.ndarray] | None
) -> dict[str, np.ndarray] | None:
    """Optional ``seed_descriptors``: {category: [[D], ...]}, one row per seed history."""
    if data.get("seed_descriptors") is None:
        return None
    raw = r.get(data, "seed_descriptors", dict, "")
    n_desc = sum(1 for a in axes if a.kind == "descriptor")
    out: dict[str, np.ndarray] = {}
    for name, rows in raw.items():
        where = f"seed_descriptors.{name}"
        n_seeds = len(seeds[name]) if seeds and name in seeds else None
        if n_seeds is None:
            raise r.fail(f"'{where}' has no matching 'seed_histories.{name}'")
        if not isinstance(rows, list) or len(rows) != n_seeds:
            raise r.fail(f"'{where}' must have one row per seed history ({n_seeds})")
        out[str(name)] = np.stack([_number_list(r, v, f"{where}[]", n_desc) for v in rows])
    return out or None


def parse_metadata(text: str | bytes | None, source: str) -> EngineMetadata:
    """Parse the ``dance_ai`` metadata JSON string of an engine file named ``source``."""
    if text is None:
        raise EngineError(
            f"{source}: has no '{METADATA_KEY}' metadata, so it is not a Dance AI engine "
            "(export it with the engine contract metadata, see docs/engine-contract.md)"
        )
    try:
        data = json.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise EngineError(f"{source}: engine metadata is not valid JSON ({exc})") from None
    return metadata_from_dict(data, source)


# --------------------------------------------------------------------------- tensor checks


def expected_inputs(meta: EngineMetadata) -> list[TensorInfo]:
    """The contract's input tensors for this metadata; the batch dim is ``None`` (1 or dynamic)."""
    out = []
    if meta.history > 0:
        out.append(TensorInfo("history", (None, meta.history, meta.feature_size), "float32"))
    out.append(TensorInfo("style", (None, meta.style_size), "float32"))
    out.append(TensorInfo("noise", (None, meta.window, meta.noise_size), "float32"))
    if meta.beat_input:
        out.append(TensorInfo("beat", (None, meta.window, 2), "float32"))
    return out


def expected_outputs(meta: EngineMetadata) -> list[TensorInfo]:
    out = [TensorInfo("motion", (None, meta.window, meta.feature_size), "float32")]
    if meta.blendshape_names:
        out.append(
            TensorInfo("blendshapes", (None, meta.window, len(meta.blendshape_names)), "float32")
        )
    return out


def _is_dynamic(dim: Any) -> bool:
    return dim is None or isinstance(dim, str) or (isinstance(dim, int) and dim < 0)


def _fmt_shape(shape: Sequence) -> str:
    return "[" + ", ".join("batch" if _is_dynamic(d) else str(d) for d in shape) + "]"


def check_io(
    source: str,
    meta: EngineMetadata,
    inputs: Sequence[TensorInfo],
    outputs: Sequence[TensorInfo],
) -> None:
    """Check a backend's reported tensors against the contract; raise one clear EngineError."""
    for kind, actual, expected in (
        ("input", inputs, expected_inputs(meta)),
        ("output", outputs, expected_outputs(meta)),
    ):
        by_name = {t.name: t for t in actual}
        want = {t.name for t in expected}
        extra = [t.name for t in actual if t.name not in want]
        for exp in expected:
            if exp.name not in by_name:
                found = f"; found {kind}s {sorted(by_name)}" if by_name else ""
                raise EngineError(
                    f"{source}: missing {kind} tensor '{exp.name}' "
                    f"(expected float32 {_fmt_shape(exp.shape)} from the metadata{found})"
                )
        if extra:
            raise EngineError(
                f"{source}: unexpected {kind} tensor '{extra[0]}'; the contract and this "
                f"engine's metadata allow only {sorted(want)}"
            )
        for exp in expected:
            got = by_name[exp.name]
            if got.dtype != exp.dtype:
                raise EngineError(
                    f"{source}: {kind} tensor '{exp.name}' has type {got.dtype}, expected float32"
                )
            if len(got.shape) != len(exp.shape):
                raise EngineError(
                    f"{source}: {kind} tensor '{exp.name}' has rank {len(got.shape)} "
                    f"{_fmt_shape(got.shape)}, expected rank {len(exp.shape)} "
                    f"{_fmt_shape(exp.shape)}"
                )
            for axis, (g, e) in enumerate(zip(got.shape, exp.shape)):
                if axis == 0:
                    if not (_is_dynamic(g) or g == 1):
                        raise EngineError(
                            f"{source}: {kind} tensor '{exp.name}' has batch size {g}; "
                            "the contract allows 1 or a dynamic 'batch' dimension"
                        )
                elif _is_dynamic(g) or g != e:
                    raise EngineError(
                        f"{source}: {kind} tensor '{exp.name}' has shape {_fmt_shape(got.shape)}"
                        f", expected {_fmt_shape(exp.shape)} from the metadata "
                        f"(dimension {axis} must be {e})"
                    )


# --------------------------------------------------------------------------- engine interface


class Engine(abc.ABC):
    """A loaded engine: metadata plus a backend that runs one window at a time.

    ``run_window`` returns the backend's own output buffers (``motion`` and, when the engine has
    them, ``blendshapes``), shaped ``(1, W, ...)``. They are reused by the next call: copy what
    you keep. This is what lets the window loop run without reallocating.
    """

    #: "onnxruntime" or "tensorrt"
    backend: str = ""
    #: what actually runs: an ORT provider name ("CPUExecutionProvider", ...) or "TensorRT"
    provider: str = ""

    def __init__(self, path: str | os.PathLike, metadata: EngineMetadata):
        self.path = Path(path)
        self.metadata = metadata
        self.closed = False

    @property
    def name(self) -> str:
        return self.metadata.name

    def _coerce(self, name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float32)
        if arr.shape != shape:
            if arr.size == int(np.prod(shape)) and arr.shape == shape[1:]:
                arr = arr.reshape(shape)
            else:
                raise EngineError(
                    f"{display_name(self.path)}: input '{name}' has shape {list(arr.shape)}, "
                    f"expected {list(shape)}"
                )
        return arr

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Concrete (batch 1) shapes of the inputs this engine takes."""
        return {t.name: (1,) + tuple(t.shape[1:]) for t in expected_inputs(self.metadata)}

    def prepare_inputs(
        self,
        history: np.ndarray | None,
        style: np.ndarray,
        noise: np.ndarray,
        beat: np.ndarray | None,
    ) -> dict[str, np.ndarray]:
        """Check and convert the window inputs to float32 ``(1, ...)`` arrays keyed by name.

        Every backend's ``run_window`` starts here, so a closed engine is refused in one place.
        """
        if self.closed:
            raise EngineError(f"{display_name(self.path)}: the engine was closed")
        given = {"history": history, "style": style, "noise": noise, "beat": beat}
        out = {}
        for name, shape in self.input_shapes().items():
            if given[name] is None:
                raise EngineError(f"{display_name(self.path)}: input '{name}' is required")
            out[name] = self._coerce(name, given[name], shape)
        return out

    @abc.abstractmethod
    def run_window(
        self,
        history: np.ndarray | None,
        style: np.ndarray,
        noise: np.ndarray,
        beat: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Run one window; see the class docstring for buffer reuse."""

    def close(self) -> None:
        """Release the runtime's resources; safe to call twice."""
        self.closed = True

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> dict:
        return {
            "engine": self.metadata.name,
            "path": str(self.path),
            "backend": self.backend,
            "provider": self.provider,
        }
