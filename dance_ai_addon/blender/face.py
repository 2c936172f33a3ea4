"""Bake facial blendshape weight curves onto a mesh's shape keys, in bulk.

Engines that output face weights name them with ARKit's camelCase names (``jawOpen``); rigs made
for Live Link Face use PascalCase (``JawOpen``) and others add separators (``jaw_open``). Names are
matched exactly first, then case- and separator-insensitively. Keys go into a NEW action on the
mesh's Key datablock (``key_blocks["Name"].value`` F-curves), written with the same bulk
``foreach_set`` path as bone baking; version differences go through :mod:`.compat`. Engine names
the mesh lacks are reported by name instead of failing the whole bake.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import bpy
import numpy as np

from ..core.errors import EngineError, RigError
from . import compat
from .bake import Channel, write_channels

__all__ = [
    "FaceBakeInfo",
    "normalise_shape_name",
    "match_shape_keys",
    "resample_weights",
    "mesh_shape_key_names",
    "bake_face_weights",
]

_SEPARATORS = re.compile(r"[\s_.\-]+")


@dataclass
class FaceBakeInfo:
    """What a face bake did: the action, matched names, names the mesh lacks, key counts."""

    action: bpy.types.Action
    mesh: str
    matched: dict[str, str]
    missing: list[str]
    frame_start: int
    frame_end: int
    n_fcurves: int
    n_keys: int
    unused_shape_keys: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-able report of the bake."""
        return {
            "action": self.action.name,
            "mesh": self.mesh,
            "matched": len(self.matched),
            "missing": list(self.missing),
            "frame_start": self.frame_start,
            "frame_end": self.frame_end,
            "fcurves": self.n_fcurves,
            "keys": self.n_keys,
        }


def normalise_shape_name(name: str) -> str:
    """Case- and separator-free form: ``jawOpen``, ``JawOpen``, ``jaw_open`` -> ``jawopen``."""
    return _SEPARATORS.sub("", name).casefold()


def match_shape_keys(
    engine_names: Sequence[str], shape_key_names: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """Map each engine blendshape name to a shape key name; returns ``(matched, missing)``.

    Exact names win; otherwise the normalised forms must agree. A shape key is used at most once.
    """
    available = list(shape_key_names)
    exact = set(available)
    by_norm: dict[str, list[str]] = {}
    for name in available:
        by_norm.setdefault(normalise_shape_name(name), []).append(name)
    matched: dict[str, str] = {}
    used: set[str] = set()
    for name in engine_names:
        if name in exact and name not in used:
            matched[name] = name
            used.add(name)
    missing: list[str] = []
    for name in engine_names:
        if name in matched:
            continue
        candidates = [c for c in by_norm.get(normalise_shape_name(name), []) if c not in used]
        if candidates:
            matched[name] = candidates[0]
            used.add(candidates[0])
        else:
            missing.append(name)
    return matched, missing


def resample_weights(
    weights: np.ndarray, src_fps: float, dst_fps: float, n_out: int | None = None
) -> np.ndarray:
    """Linearly resample ``(T, K)`` weight curves from ``src_fps`` to ``dst_fps``.

    ``n_out`` fixes the number of output frames (to match a body bake exactly); times past the
    last input frame hold its value.
    """
    weights = np.asarray(weights, dtype=np.float64)
    t_in = weights.shape[0]
    if n_out is None:
        if abs(src_fps - dst_fps) < 1e-9 or t_in < 2:
            return weights
        n_out = int(np.floor((t_in - 1) * dst_fps / src_fps + 1e-6)) + 1
    u = np.arange(int(n_out), dtype=np.float64) * (float(src_fps) / float(dst_fps))
    u = np.clip(np.where(np.abs(u - np.round(u)) < 1e-6, np.round(u), u), 0.0, t_in - 1)
    if t_in < 2:
        return np.repeat(weights[:1], int(n_out), axis=0)
    i0 = np.minimum(np.floor(u).astype(np.int64), t_in - 2)
    frac = (u - i0)[:, None]
    return weights[i0] * (1.0 - frac) + weights[i0 + 1] * frac


def mesh_shape_key_names(obj: bpy.types.Object) -> list[str]:
    """The animatable shape keys of a mesh object (the reference key "Basis" excluded)."""
    key = getattr(obj.data, "shape_keys", None) if obj.type == "MESH" else None
    if key is None:
        return []
    ref = key.reference_key
    return [kb.name for kb in key.key_blocks if ref is None or kb.name != ref.name]


def check_face_mesh(obj: bpy.types.Object | None) -> bpy.types.Key:
    """The Key datablock of a face mesh, or a RigError saying why the object cannot take weights."""
    if obj is None:
        raise RigError("no face mesh given; choose a mesh object with shape keys")
    if obj.type != "MESH":
        raise RigError(f"face object '{obj.name}' is a {obj.type.lower()}, not a mesh")
    key = obj.data.shape_keys
    if key is None or len(key.key_blocks) < 2:
        raise RigError(
            f"mesh '{obj.name}' has no shape keys to animate; add shape keys named like the "
            "ARKit blendshapes (jawOpen, eyeBlinkLeft, ...)"
        )
    return key


def _key_block_path(name: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(name)}"].value'


def bake_face_weights(
    obj: bpy.types.Object,
    names: Sequence[str],
    weights: np.ndarray,
    action_name: str,
    frame_start: int,
    src_fps: float | None = None,
    dst_fps: float | None = None,
    scene: bpy.types.Scene | None = None,
    n_frames: int | None = None,
) -> FaceBakeInfo:
    """Bake ``weights (T, K)`` for blendshapes ``names`` onto ``obj``'s shape keys.

    Creates a new action on the mesh's Key datablock (the previously assigned one keeps a fake
    user, never overwritten), one F-curve per matched shape key, values clipped to each key's
    slider range. With ``src_fps``/``dst_fps`` the curves are resampled to the scene rate first
    (to exactly ``n_frames`` frames when given, so face and body keys line up).
    Raises RigError when the mesh has none of the names, EngineError on NaN weights.
    """
    key = check_face_mesh(obj)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != len(names) or weights.shape[0] < 1:
        raise EngineError(
            f"blendshape weights have shape {weights.shape}, expected (frames, {len(names)})"
        )
    if not np.all(np.isfinite(weights)):
        frame = int(np.nonzero(~np.all(np.isfinite(weights), axis=1))[0][0])
        raise EngineError(
            f"the engine produced NaN/Inf face weights at frame {frame}; refusing to bake them"
        )
    if src_fps and dst_fps:
        weights = resample_weights(weights, src_fps, dst_fps, n_frames)
    elif n_frames is not None and n_frames != weights.shape[0]:
        weights = resample_weights(weights, 1.0, 1.0, n_frames)

    matched, missing = match_shape_keys(list(names), mesh_shape_key_names(obj))
    if not matched:
        raise RigError(
            f"mesh '{obj.name}' has none of the engine's {len(names)} blendshapes "
            f"(e.g. {', '.join(list(names)[:3])}); name its shape keys after ARKit's"
        )
    col = {n: i for i, n in enumerate(names)}
    order = [n for n in names if n in matched]
    values = weights[:, [col[n] for n in order]].T.copy()  # (C, T)
    lo = np.array([key.key_blocks[matched[n]].slider_min for n in order])[:, None]
    hi = np.array([key.key_blocks[matched[n]].slider_max for n in order])[:, None]
    values = np.clip(values, lo, hi)
    channels = [Channel(_key_block_path(matched[n]), 0, "Face") for n in order]

    t = values.shape[1]
    frames = frame_start + np.arange(t, dtype=np.float64)
    anim = key.animation_data
    previous = anim.action if anim is not None else None
    if previous is not None and previous.users <= 1 and not previous.use_fake_user:
        previous.use_fake_user = True
    action = compat.new_action(action_name)
    compat.assign_action(key, action)
    write_channels(action, key, channels, values, frames)
    used = set(matched.values())
    info = FaceBakeInfo(
        action=action,
        mesh=obj.name,
        matched=matched,
        missing=missing,
        frame_start=int(frame_start),
        frame_end=int(frame_start + t - 1),
        n_fcurves=len(channels),
        n_keys=len(channels) * t,
        unused_shape_keys=[n for n in mesh_shape_key_names(obj) if n not in used],
    )
    if scene is not None and scene.frame_end < info.frame_end:
        scene.frame_end = info.frame_end
    return info
