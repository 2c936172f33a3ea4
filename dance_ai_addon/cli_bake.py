"""``python -m dance_ai_addon bake``: bake a generated motion (NPZ or BVH) onto a rig in a .blend.

Headless twin of the Generate panel's bake half: opens ``--blend``, retargets the motion onto
``--armature`` with the same job code the panel runs (:func:`.blender.jobs.bake_dance`), bakes
face weights from an NPZ onto ``--mesh``'s shape keys, sets the frame range to the dance and saves
a NEW file ``--out`` (the input is never overwritten). Needs Blender's ``bpy`` (inside
``blender --background --command dance_ai bake ...`` or with the ``bpy`` module installed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "add_parser",
    "run",
    "import_bpy",
    "load_motion_file",
    "open_blend",
    "save_blend",
    "find_armature",
    "write_report",
]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bake",
        help="bake a generated motion (NPZ/BVH) onto an armature in a .blend",
        description="Retarget a motion (NPZ from `generate`, with optional face curves, or any "
        "humanoid BVH) onto an armature in a .blend, bake it into a new action (and face weights "
        "onto a mesh's shape keys) and save the result as a new .blend.",
    )
    p.add_argument("--blend", required=True, help="input .blend with the rig (not modified)")
    p.add_argument("--armature", default=None, help="armature object (default: the only one)")
    p.add_argument("--motion", required=True, help="FILE.npz (from `generate`) or FILE.bvh")
    p.add_argument("--mesh", default=None, help="mesh whose shape keys get the face weights")
    p.add_argument("--preset", default="auto", help="bone-map preset (default: auto-detect)")
    p.add_argument("--smooth", type=float, default=0.0, help="jerk smoothing 0..1 (default 0)")
    p.add_argument("--in-place", action="store_true", help="remove horizontal travel")
    p.add_argument(
        "--no-foot-cleanup", action="store_true", help="keep foot sliding/penetration as is"
    )
    p.add_argument("--nla", action="store_true", help="push the action to a new NLA track")
    p.add_argument("--action-name", default=None, help="name of the new action")
    p.add_argument("--out", required=True, help="output .blend (a new file)")
    p.add_argument("--report", default=None, help="write a JSON report here")
    return p


def import_bpy():
    """Blender's ``bpy`` module, or a DanceAIError saying how to get it."""
    from .core.errors import DanceAIError

    try:
        import bpy
    except ImportError:
        raise DanceAIError(
            "this subcommand needs Blender: run `blender --background --command dance_ai ...` "
            "or install the bpy module (pip install bpy==5.0.1 on Python 3.11)"
        ) from None
    return bpy


def load_motion_file(path: str | os.PathLike) -> tuple[Any, tuple[list[str], Any] | None]:
    """A MotionClip and optional ``(names, weights (T, K))`` from an NPZ (``generate``) or a BVH."""
    import numpy as np

    from .core.clip import MotionClip
    from .core.errors import DanceAIError, MotionFileError
    from .core.skeleton import Skeleton

    p = Path(path)
    if not p.is_file():
        raise MotionFileError("the motion file does not exist; check the path", p)
    suffix = p.suffix.lower()
    if suffix == ".bvh":
        from .core.bvh import load_bvh_clip

        clip = load_bvh_clip(p)
        clip.name = clip.name or p.stem
        return clip, None
    if suffix != ".npz":
        raise MotionFileError("give a .npz (from `generate`) or a .bvh motion file", p)
    needed = ("rotations", "root_positions", "fps", "joint_names", "parents", "offsets")
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in needed if k not in data.files]
            if missing:
                raise MotionFileError(
                    f"is not a Dance AI motion NPZ (missing {', '.join(missing)})", p
                )
            arrays = {k: data[k] for k in data.files}
    except MotionFileError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise MotionFileError(f"cannot be read as NPZ ({exc})", p) from None
    try:
        names = [str(n) for n in arrays["joint_names"].tolist()]
        rest = arrays.get("rest_rotations")
        skeleton = Skeleton(
            names,
            np.asarray(arrays["parents"], dtype=np.int64),
            np.asarray(arrays["offsets"], dtype=np.float64),
            None if rest is None else np.asarray(rest, dtype=np.float64),
        )
        clip = MotionClip(
            skeleton,
            np.asarray(arrays["rotations"], dtype=np.float64),
            np.asarray(arrays["root_positions"], dtype=np.float64),
            float(np.asarray(arrays["fps"]).reshape(())),
            p.stem,
        )
    except (DanceAIError, ValueError, TypeError) as exc:
        raise MotionFileError(f"holds an invalid motion ({exc})", p) from None
    shapes = None
    if "blendshape_names" in arrays or "blendshape_weights" in arrays:
        if "blendshape_names" not in arrays or "blendshape_weights" not in arrays:
            raise MotionFileError("has blendshape names or weights but not both", p)
        bs_names = [str(n) for n in arrays["blendshape_names"].tolist()]
        weights = np.asarray(arrays["blendshape_weights"], dtype=np.float64)
        if weights.shape != (clip.n_frames, len(bs_names)):
            raise MotionFileError(
                f"blendshape weights have shape {weights.shape}, expected "
                f"({clip.n_frames}, {len(bs_names)})",
                p,
            )
        if not np.all(np.isfinite(weights)):
            raise MotionFileError("has NaN/Inf blendshape weights; refusing to bake them", p)
        shapes = (bs_names, weights)
    return clip, shapes


def open_blend(path: str | os.PathLike):
    """Open a .blend (replacing the session's data); returns its scene."""
    from .core.errors import DanceAIError

    bpy = import_bpy()
    p = Path(path)
    if not p.is_file():
        raise DanceAIError(f"blend file '{p}' does not exist")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(p.resolve()), load_ui=False)
    except RuntimeError as exc:
        raise DanceAIError(f"cannot open '{p.name}' ({str(exc).strip()})") from None
    return bpy.context.scene


def save_blend(path: str | os.PathLike) -> str:
    """Save the session as a new .blend at ``path`` (folders created); returns the path."""
    from .core.errors import DanceAIError

    bpy = import_bpy()
    p = Path(path).resolve()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=str(p), check_existing=False)
    except (OSError, RuntimeError) as exc:
        raise DanceAIError(f"cannot save '{p}' ({str(exc).strip()})") from None
    return str(p)


def find_armature(scene, name: str | None):
    """The armature object ``name``, or the scene's only armature when ``name`` is None."""
    from .core.errors import RigError

    armatures = [o for o in scene.objects if o.type == "ARMATURE"]
    if name:
        obj = scene.objects.get(name)
        if obj is None or obj.type != "ARMATURE":
            what = "is not an armature" if obj is not None else "does not exist"
            raise RigError(
                f"object '{name}' {what} in scene '{scene.name}'; armatures here: "
                f"{', '.join(sorted(o.name for o in armatures)) or '(none)'}"
            )
        return obj
    if len(armatures) != 1:
        listing = ", ".join(sorted(o.name for o in armatures)) or "none"
        raise RigError(
            f"scene '{scene.name}' has {len(armatures)} armatures ({listing}); "
            "name one with --armature"
        )
    return armatures[0]


def find_mesh(scene, name: str | None):
    """The mesh object ``name`` (None passes through)."""
    from .core.errors import RigError

    if not name:
        return None
    obj = scene.objects.get(name)
    if obj is None or obj.type != "MESH":
        meshes = sorted(o.name for o in scene.objects if o.type == "MESH")
        what = "is not a mesh" if obj is not None else "does not exist"
        raise RigError(
            f"object '{name}' {what} in scene '{scene.name}'; meshes here: "
            f"{', '.join(meshes) or '(none)'}"
        )
    return obj


def write_report(path: str | os.PathLike | None, report: dict) -> None:
    """Write a JSON report (folders created); nothing when ``path`` is None."""
    if not path:
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def run(args: argparse.Namespace) -> int:
    from .core.errors import DanceAIError
    from .jobs_spec import DanceJobSpec

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if not str(args.out).lower().endswith(".blend"):
        raise DanceAIError(f"--out {args.out}: write a .blend file")
    if _same_file(args.out, args.blend):
        raise DanceAIError("--out must differ from --blend (the input is never overwritten)")
    if not 0.0 <= args.smooth <= 1.0:
        raise DanceAIError(f"--smooth must be between 0 and 1, got {args.smooth}")
    t = time.perf_counter()
    bpy = import_bpy()
    timings["import_bpy_s"] = time.perf_counter() - t

    t = time.perf_counter()
    clip, shapes = load_motion_file(args.motion)
    timings["load_motion_s"] = time.perf_counter() - t

    t = time.perf_counter()
    scene = open_blend(args.blend)
    armature = find_armature(scene, args.armature)
    mesh = find_mesh(scene, args.mesh)
    timings["open_blend_s"] = time.perf_counter() - t

    spec = DanceJobSpec(
        name=clip.name or Path(args.motion).stem,
        armature=armature.name,
        mesh=mesh.name if mesh is not None else None,
        preset=args.preset,
        smooth=args.smooth,
        in_place=bool(args.in_place),
        foot_cleanup=not args.no_foot_cleanup,
        nla=bool(args.nla),
        action_name=args.action_name,
        blend=str(args.blend),
        out_blend=str(args.out),
    )
    from .blender.jobs import bake_dance

    t = time.perf_counter()
    baked = bake_dance(scene, clip, shapes, spec, armature, mesh)
    timings["bake_s"] = time.perf_counter() - t

    t = time.perf_counter()
    out = save_blend(args.out)
    timings["save_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    body = baked["body"]
    report = {
        "blend": str(Path(args.blend).resolve()),
        "motion": str(Path(args.motion).resolve()),
        "out": out,
        "armature": body["armature"],
        "action": body["action"],
        "frames": body["frames"],
        "fps": body["fps"],
        "frame_start": body["frame_start"],
        "frame_end": body["frame_end"],
        "source_fps": float(clip.fps),
        "retarget": body,
        "face": baked["face"],
        "warnings": baked["warnings"],
        "timings": {k: round(v, 6) for k, v in timings.items()},
        "blender": bpy.app.version_string,
    }
    write_report(args.report, report)
    for warning in baked["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    face = f", face weights on '{mesh.name}'" if baked["face"] else ""
    print(
        f"wrote {out}: action '{body['action']}' on '{body['armature']}', {body['frames']} frames "
        f"at {body['fps']:g} fps{face} ({timings['total_s']:.2f} s)"
    )
    return 0
