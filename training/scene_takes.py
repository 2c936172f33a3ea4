"""Mocap that comes as a scene file (FBX, glTF/GLB), turned into BVH with Blender's own code.

The training pipeline reads BVH only, through the same retargeter users run. Two dance takes in the
shared data are not BVH: CMU 55_01 "dance, whirl" (FBX) and the Mesh2Motion YMCA loop (GLB).
Blender's importers (``io_scene_fbx``, ``io_scene_gltf2``) read them onto an armature, and
Blender's BVH exporter (``io_anim_bvh``) writes that armature's action out unchanged, so nothing
here knows about either file format. Training only: the extension never imports this module.

The BVH files are cached next to the dataset (``build/scene_takes/``) keyed by the source's size
and modification time, so ``prepare_data`` pays the ~2 s of importing once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

__all__ = ["SCENE_SUFFIXES", "scene_to_bvh"]

#: File suffixes read through Blender's importers instead of ``core.bvh``.
SCENE_SUFFIXES = (".fbx", ".glb", ".gltf")

#: Source frames to drop at the start, by file name: CMU's FBX exports open on one T-pose frame
#: that is calibration, not dance.
LEADING_CALIBRATION_FRAMES: dict[str, int] = {"cmu_55_01_mb120.fbx": 1}

_IMPORTERS = {".fbx": "io_scene_fbx", ".glb": "io_scene_gltf2", ".gltf": "io_scene_gltf2"}


def _stamp(src: Path) -> dict:
    st = src.stat()
    return {"source": src.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def scene_to_bvh(src: Path, cache_dir: Path) -> Path:
    """The BVH of ``src``'s animated armature (cached); raises ``ValueError`` if it has none."""
    src = Path(src)
    if src.suffix.lower() not in SCENE_SUFFIXES:
        raise ValueError(f"{src.name}: not a scene file ({', '.join(SCENE_SUFFIXES)})")
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / (src.stem + ".bvh")
    stamp_file = out.with_suffix(".json")
    stamp = _stamp(src)
    if out.is_file() and stamp_file.is_file():
        if json.loads(stamp_file.read_text()) == stamp:
            return out
    # a child process: importing resets Blender's whole state, which must not touch the caller's
    cmd = [sys.executable, "-m", "training.scene_takes", str(src.resolve()), str(out.resolve())]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    if run.returncode != 0 or not out.is_file():
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ValueError(f"{src.name}: conversion to BVH failed: {tail[0]}")
    stamp_file.write_text(json.dumps(stamp))
    return out


def _export_with_blender(src: Path, out: Path, skip: int) -> None:
    import bpy  # noqa: I001  (bpy first: it puts addon_utils on the path)
    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)
    for module in ("io_anim_bvh", _IMPORTERS[src.suffix.lower()]):
        addon_utils.enable(module, default_set=False)
    if src.suffix.lower() == ".fbx":
        bpy.ops.import_scene.fbx(filepath=str(src))
    else:
        bpy.ops.import_scene.gltf(filepath=str(src))
    rigs = [
        o
        for o in bpy.data.objects
        if o.type == "ARMATURE" and o.animation_data and o.animation_data.action
    ]
    if not rigs:
        raise ValueError(f"{src.name}: no animated armature in the file")
    rig = max(rigs, key=lambda o: len(o.data.bones))
    first, last = (int(round(v)) for v in rig.animation_data.action.frame_range)
    view_layer = bpy.context.view_layer
    for o in view_layer.objects:
        o.select_set(False)
    rig.select_set(True)
    view_layer.objects.active = rig
    # the importers set the scene rate from the file; the exporter writes it as Frame Time
    result = bpy.ops.export_anim.bvh(
        filepath=str(out),
        frame_start=first + skip,
        frame_end=last,
        rotate_mode="NATIVE",
        root_transform_only=True,
    )
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if "FINISHED" not in result or not out.is_file():
        raise ValueError(f"{src.name}: Blender's BVH exporter failed ({result})")


if __name__ == "__main__":
    _src, _out = Path(sys.argv[1]), Path(sys.argv[2])
    try:
        _export_with_blender(_src, _out, LEADING_CALIBRATION_FRAMES.get(_src.name, 0))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
