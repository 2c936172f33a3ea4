"""The retarget job: validate everything, transfer in the core, then bake in one go.

Used by the panel operator, the ``retarget`` CLI subcommand and (wrapped) by generate-then-
retarget. Every check that can fail runs BEFORE the scene is touched, so a failure leaves the
file exactly as it was; the caller's undo step covers the changes of a successful run.
"""

from __future__ import annotations

import os
import time
from typing import Any

import bpy
import numpy as np

from ..core.clip import MotionClip
from ..core.errors import DanceAIError, MotionFileError, RigError
from ..core.retarget import (
    BoneMapping,
    RetargetOptions,
    check_required,
    detect_mapping,
    retarget,
)
from ..core.skeleton import SMPL24_NAMES, Skeleton
from . import armature as _armature
from . import bake as _bake

__all__ = [
    "run_retarget_job",
    "load_source",
    "target_mapping_for",
    "set_last_generated_motion",
    "get_last_generated_motion",
]

_last_generated: dict[str, MotionClip] = {}


def set_last_generated_motion(clip: MotionClip) -> None:
    """Remember the motion generated last (the panel's "Last Generated Motion" source)."""
    _last_generated["clip"] = clip


def get_last_generated_motion() -> MotionClip | None:
    """The motion generated last in this session, or None."""
    return _last_generated.get("clip")


def load_source(source: MotionClip | str | os.PathLike) -> MotionClip:
    """A MotionClip from a clip or a BVH path; errors for missing/empty/unsupported input."""
    if isinstance(source, MotionClip):
        clip = source
        label = clip.name or "motion"
    else:
        path = os.fspath(source)
        if not path:
            raise MotionFileError("No motion file given; pick a BVH file.")
        path = bpy.path.abspath(path) if path.startswith("//") else path
        if not os.path.isfile(path):
            raise MotionFileError("The file does not exist; check the path.", path=path)
        if not path.lower().endswith(".bvh"):
            raise MotionFileError("Only BVH motion files can be retargeted; pick a .bvh.", path)
        from ..core.bvh import load_bvh_clip

        clip = load_bvh_clip(path)
        if not clip.name:
            clip.name = os.path.splitext(os.path.basename(path))[0]
        label = os.path.basename(path)
    if clip.n_frames == 0:
        raise MotionFileError(f"'{label}' has zero frames; there is no motion to retarget.")
    return clip


def _rest_heads(skel: Skeleton) -> np.ndarray:
    from ..core.skeleton import rest_pose_world

    return rest_pose_world(skel)[0]


def target_mapping_for(
    obj: bpy.types.Object,
    skel: Skeleton,
    mapping: BoneMapping | None = None,
    preset: str = "auto",
) -> tuple[BoneMapping, str]:
    """The bone map to use and where it came from (``given``, ``stored`` or ``detected``).

    A given or stored map is checked against the armature's bones; a preset other than
    ``auto`` always re-detects.
    """
    origin = "given"
    if mapping is None and preset == "auto":
        from .props import mapping_from_object

        stored = mapping_from_object(obj) if hasattr(obj, "dance_ai_mapping") else None
        if stored is not None:
            mapping, origin = stored, "stored"
    if mapping is None:
        mapping = detect_mapping(skel.names, skel.parents, _rest_heads(skel), preset=preset)
        origin = "detected"
    names = set(skel.names)
    bad = {j: b for j, b in mapping.bones.items() if b not in names}
    if mapping.root_motion_bone and mapping.root_motion_bone not in names:
        bad["root motion"] = mapping.root_motion_bone
    if bad:
        listing = ", ".join(f"{j} -> '{b}'" for j, b in bad.items())
        hint = " (a Rigify rig is driven through its FK controls)" if obj.name else ""
        raise RigError(
            f"The bone map names bones that armature '{obj.name}' cannot drive: {listing}{hint}; "
            "fix the map or detect it again."
        )
    check_required(mapping, obj.name)
    return mapping, origin


def _source_mapping(clip: MotionClip) -> BoneMapping | None:
    if list(clip.skeleton.names) == list(SMPL24_NAMES):
        return None
    skel = clip.skeleton
    mapping = detect_mapping(skel.names, skel.parents, _rest_heads(skel), preset="auto")
    try:
        check_required(mapping, clip.name or "source motion")
    except RigError as e:
        raise RigError(f"The source motion is not a recognisable humanoid: {e}") from None
    return mapping


def _keyed_bones(result: Any, skel: Skeleton) -> list[str]:
    """Mapped bones plus their ancestors (the core set those to identity), minus virtual joints."""
    index = {n: i for i, n in enumerate(skel.names)}
    wanted: set[int] = set()
    for bone in result.mapped.values():
        j = index[bone]
        while j >= 0 and j not in wanted:
            wanted.add(j)
            j = int(skel.parents[j])
    return [skel.names[j] for j in sorted(wanted) if not skel.names[j].startswith("<")]


def run_retarget_job(
    scene: bpy.types.Scene,
    armature_obj: bpy.types.Object | None,
    source: MotionClip | str | os.PathLike,
    options: RetargetOptions | None = None,
    mapping: BoneMapping | None = None,
    action_name: str | None = None,
    nla: bool = False,
    preset: str = "auto",
    store: bool = True,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Retarget ``source`` onto ``armature_obj`` and bake a new action; returns a JSON-able report.

    Raises a :class:`DanceAIError` (scene untouched) for a bad selection, rig, map or motion.
    On success the armature gets a new action (or NLA strip), a Rigify rig is switched to FK,
    and the bone map is stored on the armature (``store``) for the next bake. ``details``, when
    given, receives the core ``result``, the (resampled) source ``clip`` and the target
    ``skeleton`` and ``mapping`` for callers that measure the bake (tests, bench).
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    obj = _armature.check_armature(armature_obj)
    opts = options or RetargetOptions()

    clip = load_source(source)
    source_fps = float(clip.fps)
    scene_fps = float(scene.render.fps) / float(scene.render.fps_base or 1.0)
    if abs(source_fps - scene_fps) > 1e-6:
        clip = clip.resample(scene_fps)  # one key per scene frame, real-time playback
    timings["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    bpy.context.view_layer.update()  # fresh matrix_world
    skel, matrix_world = _armature.skeleton_from_armature(obj)
    tmap, origin = target_mapping_for(obj, skel, mapping, preset)
    smap = _source_mapping(clip)
    timings["mapping"] = time.perf_counter() - t

    t = time.perf_counter()
    opts.target_world_matrix = matrix_world
    try:
        result = retarget(clip, smap, skel, tmap, opts)
    except DanceAIError:
        raise
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as e:
        raise RigError(f"Retargeting onto '{obj.name}' failed: {e}.") from e
    timings["transfer"] = time.perf_counter() - t
    timings.update({f"core_{k}": float(v) for k, v in result.timings.items()})
    bones = _keyed_bones(result, skel)
    cols = [skel.names.index(b) for b in bones]
    rotations = np.asarray(result.clip.rotations)[:, cols]
    root_bone = result.root_bone
    frames = int(rotations.shape[0])
    if not np.all(np.isfinite(rotations)) or not np.all(np.isfinite(result.root_location)):
        raise RigError(f"Retargeting onto '{obj.name}' produced invalid values; check the rig.")

    # ---- nothing above changed the file; from here on it does (one undo step) ----
    t = time.perf_counter()
    rigify = _armature.is_rigify_rig(obj)
    if rigify:
        _armature.prepare_rigify_fk(obj)
    name = action_name or f"Dance {clip.name or 'motion'}"
    info = _bake.bake_pose_arrays(
        obj,
        bones,
        rotations,
        root_bone,
        result.root_location,
        name,
        int(scene.frame_start),
        nla=nla,
        scene=scene,
    )
    if store and hasattr(obj, "dance_ai_mapping"):
        from .props import store_mapping

        store_mapping(obj, tmap)
    timings["bake"] = time.perf_counter() - t
    if details is not None:
        details.update(result=result, clip=clip, skeleton=skel, mapping=tmap, source_mapping=smap)
    timings["total"] = time.perf_counter() - t0

    return {
        "armature": obj.name,
        "source": clip.name,
        "action": info.action.name,
        "nla_track": info.nla_track,
        "frames": frames,
        "fps": float(result.clip.fps),  # = the scene's frame rate
        "frame_start": info.frame_start,
        "frame_end": info.frame_end,
        "scene_frame_end_extended": info.scene_frame_end_extended,
        "preset": tmap.preset,
        "mapping_origin": origin,
        "mapped": dict(result.mapped),
        "unmapped": list(result.unmapped),
        "root_motion_bone": root_bone,
        "keyed_bones": bones,
        "fcurves": info.n_fcurves,
        "keys": info.n_keys,
        "rigify_fk": rigify,
        "contact_frames": {k: int(np.count_nonzero(v)) for k, v in result.contacts.items()},
        "source_fps": source_fps,
        "timings": {k: round(float(v), 6) for k, v in timings.items()},
    }


# --------------------------------------------------------------------------------------------
# generate -> retarget -> bake (+ face): the one dance job behind the Generate button, the
# ``bake``/``batch`` subcommands and ``make demo``. Appended by the generation part; it calls
# run_retarget_job above for the body and blender/face.py for shape keys.


def style_from_spec(meta: Any, style: str | None, axes: dict[str, float] | None) -> np.ndarray:
    """The style vector of a job: presets mixed by ``style``, then raw ``axes`` values.

    As in ``generate --style``, a descriptor axis named in ``style`` sets that axis directly.
    """
    from ..core.style import known_style_names, parse_style, style_vector

    known = known_style_names(meta)
    descriptors = [
        a.name for a in meta.style_axes if a.kind == "descriptor" and a.name not in known
    ]
    parsed = parse_style(style, known + descriptors)
    weights = {k: v for k, v in parsed.items() if k in known}
    raw = {k: v for k, v in parsed.items() if k not in known}
    raw.update(axes or {})
    return style_vector(meta, weights or None, raw or None)


def _find_object(scene: bpy.types.Scene, name: str, kind: str) -> bpy.types.Object:
    obj = scene.objects.get(name) or bpy.data.objects.get(name)
    if obj is None:
        wanted = "ARMATURE" if kind == "armature" else "MESH"
        have = sorted(o.name for o in scene.objects if o.type == wanted)
        raise RigError(
            f"there is no object named '{name}' in scene '{scene.name}'; "
            f"{kind}s here: {', '.join(have) or '(none)'}"
        )
    return obj


def write_motion_outputs(spec: Any, clip: MotionClip, blendshapes: Any) -> dict[str, str]:
    """Write the generated motion to ``spec.out_bvh`` / ``spec.out_npz`` (folders created)."""
    from pathlib import Path

    from ..cli_generate import write_npz
    from ..core.bvh import write_bvh

    written: dict[str, str] = {}
    for key, path in (("bvh", spec.out_bvh), ("npz", spec.out_npz)):
        if not path:
            continue
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            if key == "bvh":
                write_bvh(p, clip)
            else:
                write_npz(p, clip, blendshapes)
        except OSError as exc:
            raise MotionFileError(f"cannot write the motion ({exc.strerror or exc})", p) from None
        written[key] = str(p)
    return written


class _SceneSnapshot:
    """What a dance bake may change, so a failure half-way can put the file back as it was."""

    def __init__(self, scene: bpy.types.Scene, ids: list[Any]):
        self.scene = scene
        self.frame_end = scene.frame_end
        self.actions = set(bpy.data.actions)
        self.fake = {a: a.use_fake_user for a in bpy.data.actions}
        self.anim: list[tuple[Any, Any, Any, int]] = []
        self.modes: dict[str, str] = {}
        self.armature: Any = None
        self.mapping: Any = None
        for idb in ids:
            ad = idb.animation_data
            if ad is None:
                self.anim.append((idb, None, None, -1))
            else:
                slot = ad.action_slot if hasattr(ad, "action_slot") else None
                self.anim.append((idb, ad.action, slot, len(ad.nla_tracks)))
            if getattr(idb, "type", None) == "ARMATURE":
                self.modes = {pb.name: pb.rotation_mode for pb in idb.pose.bones}
                self.armature = idb
                stored = getattr(idb, "dance_ai_mapping", None)  # the bone map kept on the rig
                if stored is not None:
                    self.mapping = (
                        [(it.canonical, it.bone) for it in stored.items],
                        stored.preset,
                        stored.root_motion_bone,
                        stored.active_index,
                    )

    def restore(self) -> None:
        for idb, action, slot, n_tracks in self.anim:
            ad = idb.animation_data
            if ad is None:
                continue
            if n_tracks < 0:
                idb.animation_data_clear()
                continue
            while len(ad.nla_tracks) > n_tracks:
                ad.nla_tracks.remove(ad.nla_tracks[-1])
            ad.action = action
            if slot is not None and action is not None:
                try:
                    ad.action_slot = slot
                except (TypeError, RuntimeError):
                    pass
        for action in set(bpy.data.actions) - self.actions:
            bpy.data.actions.remove(action)
        for action, fake in self.fake.items():
            action.use_fake_user = fake
        for name, mode in self.modes.items():
            pb = self.armature.pose.bones.get(name)
            if pb is not None:
                pb.rotation_mode = mode
        if self.armature is not None and self.mapping is not None:
            stored = self.armature.dance_ai_mapping
            items, stored.preset, stored.root_motion_bone, index = self.mapping
            stored.items.clear()
            for canonical, bone in items:
                it = stored.items.add()
                it.canonical, it.bone = canonical, bone
            stored.active_index = index
        self.scene.frame_end = self.frame_end


def bake_dance(
    scene: bpy.types.Scene,
    clip: MotionClip,
    blendshapes: tuple[list[str], np.ndarray] | None,
    spec: Any,
    armature_obj: bpy.types.Object,
    mesh_obj: bpy.types.Object | None = None,
    options: RetargetOptions | None = None,
    mapping: BoneMapping | None = None,
) -> dict[str, Any]:
    """Retarget + bake ``clip`` onto ``armature_obj`` and face weights onto ``mesh_obj``.

    Validates the face mesh before touching anything; if a later step still fails, every change
    (new actions, assignments, NLA tracks, rotation modes, frame range) is rolled back, so the
    scene is untouched on error. With ``spec.out_blend`` the scene's frame range is set to the
    baked range (the written file opens on the dance).
    """
    from .face import bake_face_weights, check_face_mesh, match_shape_keys, mesh_shape_key_names

    warnings: list[str] = []
    if mesh_obj is not None:
        check_face_mesh(mesh_obj)
        if blendshapes is None:
            warnings.append(
                f"the motion has no face weights, so mesh '{mesh_obj.name}' was left alone"
            )
            mesh_obj = None
        else:
            matched, _ = match_shape_keys(list(blendshapes[0]), mesh_shape_key_names(mesh_obj))
            if not matched:
                raise RigError(
                    f"mesh '{mesh_obj.name}' has none of the {len(blendshapes[0])} blendshapes "
                    f"(e.g. {', '.join(list(blendshapes[0])[:3])}); name its shape keys after "
                    "ARKit's (jawOpen, eyeBlinkLeft, ...)"
                )
    if options is None:
        options = RetargetOptions(
            in_place=bool(spec.in_place),
            foot_cleanup=bool(spec.foot_cleanup),
            smooth_strength=float(spec.smooth or 0.0),
        )
        if list(clip.skeleton.names) == list(SMPL24_NAMES):
            options.source_up = "Y"  # engine output and its BVH/NPZ: canonical, Y up (contract)
    ids: list[Any] = [armature_obj]
    if mesh_obj is not None:
        ids.append(mesh_obj.data.shape_keys)
    snapshot = _SceneSnapshot(scene, ids)
    action_name = spec.action_name or f"Dance {spec.name}"
    try:
        body = run_retarget_job(
            scene,
            armature_obj,
            clip,
            options,
            mapping=mapping,
            action_name=action_name,
            nla=bool(spec.nla),
            preset=spec.preset or "auto",
        )
        face_report = None
        if mesh_obj is not None and blendshapes is not None:
            t = time.perf_counter()
            info = bake_face_weights(
                mesh_obj,
                list(blendshapes[0]),
                blendshapes[1],
                f"{body['action']} Face",
                int(body["frame_start"]),
                src_fps=float(clip.fps),
                dst_fps=float(body["fps"]),
                scene=scene,
                n_frames=int(body["frames"]),
            )
            face_report = info.summary()
            face_report["seconds"] = round(time.perf_counter() - t, 6)
            if info.missing:
                warnings.append(
                    f"mesh '{mesh_obj.name}' has no shape keys for {len(info.missing)} "
                    f"blendshapes: {', '.join(info.missing)}"
                )
        if spec.out_blend:
            scene.frame_start = int(body["frame_start"])
            scene.frame_end = int(body["frame_end"])
            scene.frame_current = int(body["frame_start"])
    except BaseException:
        snapshot.restore()
        raise
    return {"body": body, "face": face_report, "warnings": warnings}


def run_dance_job(
    scene: bpy.types.Scene,
    spec: Any,
    *,
    engine: Any = None,
    armature_obj: bpy.types.Object | None = None,
    mesh_obj: bpy.types.Object | None = None,
    options: RetargetOptions | None = None,
) -> dict[str, Any]:
    """Generate -> retarget -> bake (+ face weights) for one ``jobs_spec.DanceJobSpec``.

    ``engine`` defaults to ``spec.engine``/``spec.backend`` through the session's engine cache;
    the armature and face mesh default to ``spec.armature``/``spec.mesh`` looked up in ``scene``.
    Without an armature the job only generates (and writes ``out_bvh``/``out_npz``). Everything
    that can be checked (armature, bone map, face mesh, engine, style) is checked before the
    engine runs; NaN output is refused; the scene is untouched on any error. Returns a
    JSON-able report with per-stage timings.
    """
    from ..core.engines.registry import resolve_engine
    from ..core.generation import generate
    from . import engine_cache
    from .face import check_face_mesh

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if armature_obj is None and spec.armature:
        armature_obj = _find_object(scene, spec.armature, "armature")
    if mesh_obj is None and spec.mesh:
        mesh_obj = _find_object(scene, spec.mesh, "mesh")
    mapping = None
    if armature_obj is not None:
        _armature.check_armature(armature_obj)
        bpy.context.view_layer.update()
        skel, _ = _armature.skeleton_from_armature(armature_obj)
        mapping, _origin = target_mapping_for(armature_obj, skel, None, spec.preset or "auto")
    elif not (spec.out_bvh or spec.out_npz):
        raise DanceAIError(
            "nothing to do: select an armature to bake onto, or give an output BVH/NPZ file"
        )
    if mesh_obj is not None:
        check_face_mesh(mesh_obj)
    timings["validate_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    if engine is None:
        path = resolve_engine(spec.engine, prefer_tensorrt=spec.backend == "tensorrt")
        engine = engine_cache.get_engine(path, spec.backend, spec.threads)
    meta = engine.metadata
    style = style_from_spec(meta, spec.style, spec.style_axes)
    timings["load_engine_s"] = time.perf_counter() - t

    warnings: list[str] = []
    frames = spec.frame_count(meta.fps)
    bpm = spec.beat_bpm
    lock = float(spec.beat_lock) if bpm is not None else 0.0
    if bpm is not None and not meta.beat_input:
        warnings.append(
            f"engine '{meta.name}' takes no beat input; the tempo only drives the beat lock"
            if lock > 0.0
            else f"engine '{meta.name}' takes no beat input; the tempo was ignored"
        )
    t = time.perf_counter()
    result = generate(
        engine,
        frames=frames,
        style=style,
        seed=int(spec.seed),
        bpm=bpm,
        beat_phase=float(spec.beat_phase),
        loop=bool(spec.loop),
        beat_lock=lock,
        variety=spec.variety,
    )
    timings["generate_s"] = time.perf_counter() - t
    clip = result.clip
    clip.name = spec.name
    set_last_generated_motion(clip)

    t = time.perf_counter()
    written = write_motion_outputs(spec, clip, result.blendshapes)
    timings["write_motion_s"] = time.perf_counter() - t

    report: dict[str, Any] = {
        "job": spec.name,
        "engine": meta.name,
        "engine_path": str(engine.path),
        "backend": engine.backend,
        "provider": engine.provider,
        "frames_generated": clip.n_frames,
        "fps_generated": float(clip.fps),
        "seconds_of_motion": round(clip.n_frames / float(clip.fps), 4),
        "windows": result.windows,
        "seed": int(spec.seed),
        "style": {a.name: round(float(v), 6) for a, v in zip(meta.style_axes, style)},
        "bpm": bpm if meta.beat_input else None,
        "loop": bool(spec.loop),
        "blendshapes": len(result.blendshapes[0]) if result.blendshapes is not None else 0,
        "outputs": written,
    }
    if armature_obj is not None:
        t = time.perf_counter()
        baked = bake_dance(
            scene,
            clip,
            result.blendshapes,
            spec,
            armature_obj,
            mesh_obj,
            options=options,
            mapping=mapping,
        )
        timings["retarget_bake_s"] = time.perf_counter() - t
        body = baked["body"]
        warnings += baked["warnings"]
        report.update(
            armature=body["armature"],
            action=body["action"],
            frames=body["frames"],
            fps=body["fps"],
            frame_start=body["frame_start"],
            frame_end=body["frame_end"],
            retarget=body,
            face=baked["face"],
        )
    else:
        report.update(frames=clip.n_frames, fps=float(clip.fps), action=None)
    timings["total_s"] = time.perf_counter() - t0
    report["timings"] = {k: round(v, 6) for k, v in timings.items()}
    report["warnings"] = warnings
    return report


__all__ += ["style_from_spec", "write_motion_outputs", "bake_dance", "run_dance_job"]
