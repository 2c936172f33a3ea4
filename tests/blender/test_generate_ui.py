"""The Engine/Generate panels' operators and run_dance_job, on the real bpy module and real ONNX.

Engines are contract test engines built with tools/make_test_engine.py; the rig is the Mixamo
sample rig from sample_rigs/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from rig_helpers import factory_reset, make_face_mesh  # noqa: E402

import dance_ai_addon  # noqa: E402
from dance_ai_addon.blender import compat, engine_cache, generate_ui, jobs  # noqa: E402
from dance_ai_addon.core.bvh import load_bvh_clip  # noqa: E402
from dance_ai_addon.core.engines.contract import ARKIT_52  # noqa: E402
from dance_ai_addon.core.errors import DanceAIError, EngineError  # noqa: E402
from dance_ai_addon.jobs_spec import DanceJobSpec  # noqa: E402
from tools import make_test_engine  # noqa: E402  (repo root is on pytest's path)

pytestmark = pytest.mark.bpy

REPO = Path(__file__).resolve().parents[2]
MIXAMO = REPO / "sample_rigs" / "mixamo_tpose.blend"


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gen_engines")
    mte = make_test_engine
    return {
        "plain": mte.make_test_engine(folder / "plain.onnx"),
        "face": mte.make_test_engine(folder / "face.onnx", blendshapes=True, name="face-engine"),
        "nan": mte.make_test_engine(folder / "nan.onnx", emit_nan=True),
        "other_axes": mte.make_test_engine(folder / "other.onnx", metadata=_renamed_axes(mte)),
    }


def _renamed_axes(mte) -> dict:
    """Metadata of an engine whose style axes have other names (same count as the graph)."""
    meta = mte.test_metadata(name="other-engine")
    names = ["waltz", "tango", "disco", "bounce"]
    for axis, name in zip(meta["style"]["axes"], names):
        axis["name"] = name
    meta["style"]["axes"][3]["max"] = 2.0
    meta["style"]["presets"] = {"ballroom": [0.5, 0.5, 0.0, 1.5]}
    return meta


@pytest.fixture(scope="module", autouse=True)
def addon():
    dance_ai_addon.register()
    yield
    dance_ai_addon.unregister()


@pytest.fixture()
def rig():
    """The Mixamo sample rig, active and selected, 30 fps scene (the engines' rate)."""
    if not MIXAMO.is_file():
        pytest.skip(f"sample rig missing: {MIXAMO}")
    bpy.ops.wm.open_mainfile(filepath=str(MIXAMO))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    arm = next(o for o in scene.objects if o.type == "ARMATURE")
    for o in scene.objects:
        o.select_set(o == arm)
    bpy.context.view_layer.objects.active = arm
    return arm


def _use_engine(path: Path) -> generate_ui.DANCEAI_PG_generate:
    s = bpy.context.scene.dance_ai_generate
    s.engine = generate_ui.FILE_ITEM
    s.engine_file = str(path)
    s.backend = "CPU"
    s.threads = 1
    return s


def _state(scene) -> tuple:
    """What a refused generate must leave unchanged."""
    objs = tuple(
        (
            o.name,
            o.animation_data.action.name
            if o.animation_data is not None and o.animation_data.action
            else None,
        )
        for o in scene.objects
    )
    return (len(bpy.data.actions), scene.frame_start, scene.frame_end, objs)


def test_register_adds_panels_operators_and_menu_entry():
    assert hasattr(bpy.types, "DANCEAI_PT_engine") and hasattr(bpy.types, "DANCEAI_PT_generate")
    assert bpy.types.DANCEAI_PT_generate.bl_parent_id == "DANCEAI_PT_main"
    for op in ("load_engine", "generate_dance", "apply_style_preset"):
        assert hasattr(bpy.ops.dance_ai, op)
    assert bpy.ops.dance_ai.generate_dance.get_rna_type().name == "Generate Dance"
    assert "UNDO" in generate_ui.DANCEAI_OT_generate_dance.bl_options
    draw_funcs = bpy.types.VIEW3D_MT_object_animation._dyn_ui_initialize()
    assert generate_ui._menu_entry in draw_funcs
    assert "onnxruntime" not in sys.modules or engine_cache.current() is None


def test_load_engine_rebuilds_style_sliders_and_presets(rig, engines):
    s = _use_engine(engines["plain"])
    assert bpy.ops.dance_ai.load_engine() == {"FINISHED"}
    entry = engine_cache.current()
    assert entry is not None and entry.engine.provider == "CPUExecutionProvider"
    meta = entry.engine.metadata
    assert [a.name for a in s.style_axes] == meta.style_names
    assert [a.kind for a in s.style_axes] == [a.kind for a in meta.style_axes]
    assert [a.value for a in s.style_axes] == pytest.approx([a.default for a in meta.style_axes])
    assert bpy.ops.dance_ai.apply_style_preset(preset="hiphop") == {"FINISHED"}
    assert [a.value for a in s.style_axes] == pytest.approx(list(meta.style_presets["hiphop"]))
    s.style_axes[0].value = 7.5  # clamped to the axis range
    assert s.style_axes[0].value == pytest.approx(meta.style_axes[0].max)
    # reloading the same engine keeps the user's mix; the cache reuses the loaded engine
    assert bpy.ops.dance_ai.load_engine() == {"FINISHED"}
    assert engine_cache.current().engine is entry.engine
    assert s.style_axes[0].value == pytest.approx(meta.style_axes[0].max)
    with pytest.raises(RuntimeError, match="no preset 'tango'"):
        bpy.ops.dance_ai.apply_style_preset(preset="tango")


def test_generate_bakes_a_new_quaternion_action(rig, engines):
    scene = bpy.context.scene
    s = _use_engine(engines["plain"])
    s.seconds, s.seed, s.bpm = 2.0, 5, 110.0
    old = compat.new_action("User animation")
    compat.assign_action(rig, old)
    n_actions = len(bpy.data.actions)
    assert bpy.ops.dance_ai.generate_dance() == {"FINISHED"}
    action = rig.animation_data.action
    assert action != old and old.use_fake_user  # the user's action is kept, not overwritten
    assert len(bpy.data.actions) == n_actions + 1
    curves = compat.fcurves_of(action, rig)
    quat = [fc for fc in curves if fc.data_path.endswith("rotation_quaternion")]
    assert len(quat) >= 4 * 15 and len(quat) % 4 == 0
    assert {len(fc.keyframe_points) for fc in curves} == {60}  # 2 s at 30 fps
    start = scene.frame_start
    assert tuple(quat[0].range()) == pytest.approx((start, start + 59))
    assert scene.frame_end >= start + 59
    # keys are unit quaternions and the pose really moves
    by_bone: dict[str, np.ndarray] = {}
    for fc in quat:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        by_bone.setdefault(fc.data_path, np.zeros((60, 4)))[:, fc.array_index] = co[1::2]
    q = np.stack(list(by_bone.values()))
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-4)
    assert np.ptp(q, axis=1).max() > 0.05
    # the generated clip is now the Retarget panel's "last generated motion"
    last = jobs.get_last_generated_motion()
    assert last is not None and last.n_frames == 60 and last.skeleton.n_joints == 24
    # a second generate makes another action (never overwrites the first)
    first = action.name
    assert bpy.ops.dance_ai.generate_dance() == {"FINISHED"}
    assert rig.animation_data.action.name != first and first in bpy.data.actions


def test_generate_refusals_leave_the_scene_untouched(rig, engines, tmp_path):
    scene = bpy.context.scene
    s = _use_engine(engines["plain"])
    s.seconds = 1.0
    mesh = next(o for o in scene.objects if o.type == "MESH")
    before = _state(scene)

    bpy.context.view_layer.objects.active = mesh  # not an armature
    with pytest.raises(RuntimeError, match="not an armature"):
        bpy.ops.dance_ai.generate_dance()
    assert _state(scene) == before

    bpy.context.view_layer.objects.active = rig
    s.engine_file = str(tmp_path / "missing.onnx")
    with pytest.raises(RuntimeError, match="missing.onnx' does not exist"):
        bpy.ops.dance_ai.generate_dance()
    assert _state(scene) == before

    s.engine_file = str(engines["nan"])
    with pytest.raises(RuntimeError, match="NaN.*refusing to bake"):
        bpy.ops.dance_ai.generate_dance()
    assert _state(scene) == before

    s.engine_file = str(engines["plain"])
    s.face_mesh = None
    bpy.context.view_layer.objects.active = None
    with pytest.raises(RuntimeError, match="no active object"):
        bpy.ops.dance_ai.generate_dance()
    assert _state(scene) == before


def test_spec_from_settings_takes_retarget_options_and_bvh(rig, engines, tmp_path):
    scene = bpy.context.scene
    s = _use_engine(engines["plain"])
    s.seconds, s.seed, s.bpm, s.loop, s.save_bvh = 1.5, 9, 0.0, True, True
    scene.dance_ai.in_place = True
    scene.dance_ai.foot_cleanup = False
    scene.dance_ai.smooth_strength = 0.25
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    spec = generate_ui.spec_from_settings(scene, rig, engines["plain"])
    assert spec.in_place and not spec.foot_cleanup and spec.smooth == pytest.approx(0.25)
    assert spec.seed == 9 and spec.loop and spec.bpm is None and spec.seconds == 1.5
    assert spec.out_bvh == str(tmp_path / "scene_dance_s9.bvh")
    assert bpy.ops.dance_ai.generate_dance() == {"FINISHED"}
    clip = load_bvh_clip(spec.out_bvh)
    assert clip.n_frames == 45 and clip.skeleton.n_joints == 24


def test_dance_job_bakes_face_weights_and_reports_missing_keys(rig, engines, tmp_path):
    scene = bpy.context.scene
    # Live Link Face names (PascalCase), three ARKit shapes missing on purpose
    dropped = {"tongueOut", "cheekPuff", "noseSneerLeft"}
    face = make_face_mesh("Face", [n[0].upper() + n[1:] for n in ARKIT_52 if n not in dropped])
    spec = DanceJobSpec(
        name="facejob",
        engine=str(engines["face"]),
        backend="cpu",
        frames=40,
        seed=2,
        style="modern",
        armature=rig.name,
        mesh=face.name,
        out_npz=str(tmp_path / "face.npz"),
    )
    report = jobs.run_dance_job(scene, spec)
    assert report["blendshapes"] == 52 and report["frames"] == 40
    assert report["face"]["matched"] == 49
    assert sorted(report["face"]["missing"]) == sorted(dropped)
    assert any("tongueOut" in w for w in report["warnings"])
    key = face.data.shape_keys
    assert key.animation_data.action.name == report["face"]["action"]
    # read back through Blender's evaluation and compare with the NPZ the job wrote
    data = np.load(tmp_path / "face.npz", allow_pickle=False)
    names = [str(n) for n in data["blendshape_names"]]
    weights = data["blendshape_weights"]
    start = report["frame_start"]
    for frame in (start, start + 17, start + 39):
        scene.frame_set(frame)
        for n in ("jawOpen", "eyeBlinkLeft", "mouthSmileRight"):
            got = key.key_blocks[n[0].upper() + n[1:]].value
            want = float(np.clip(weights[frame - start, names.index(n)], 0.0, 1.0))
            assert got == pytest.approx(want, abs=1e-5), (frame, n)


def test_dance_job_face_mesh_without_matching_keys_is_refused_before_baking(rig, engines):
    scene = bpy.context.scene
    face = make_face_mesh("Wrong", ["Smile", "Frown"])
    before = _state(scene)
    spec = DanceJobSpec(
        engine=str(engines["face"]), backend="cpu", frames=10, armature=rig.name, mesh=face.name
    )
    with pytest.raises(DanceAIError, match="none of the 52 blendshapes"):
        jobs.run_dance_job(scene, spec)
    assert _state(scene) == before


def test_generate_only_job_and_unknown_style(engines, tmp_path):
    factory_reset()
    spec = DanceJobSpec(
        engine=str(engines["plain"]), backend="cpu", frames=33, out_bvh=str(tmp_path / "a.bvh")
    )
    report = jobs.run_dance_job(bpy.context.scene, spec)
    assert report["action"] is None and report["frames"] == 33
    assert load_bvh_clip(tmp_path / "a.bvh").n_frames == 33
    spec.style = "tango=1"
    with pytest.raises(DanceAIError, match="unknown style 'tango'"):
        jobs.run_dance_job(bpy.context.scene, spec)
    spec.engine = str(tmp_path / "nope.onnx")
    with pytest.raises(EngineError, match="does not exist"):
        jobs.run_dance_job(bpy.context.scene, spec)


def test_engine_cache_releases_on_unregister(engines):
    engine = engine_cache.get_engine(engines["plain"], "cpu", 1)
    assert engine_cache.get_engine(engines["plain"], "cpu", 1) is engine
    dance_ai_addon.unregister()
    try:
        assert engine.closed and engine_cache.current() is None
        assert not hasattr(bpy.types.Scene, "dance_ai_generate")
    finally:
        dance_ai_addon.register()


def test_loading_another_engine_rebuilds_the_sliders(rig, engines):
    s = _use_engine(engines["plain"])
    assert bpy.ops.dance_ai.load_engine() == {"FINISHED"}
    assert [a.name for a in s.style_axes] == ["salsa", "modern", "hiphop", "energy"]
    assert s.variety == 0.0  # the test engine recommends no variety
    s.variety = 0.5  # the user's choice survives a reload of the same engine ...
    assert bpy.ops.dance_ai.load_engine() == {"FINISHED"}
    assert s.variety == pytest.approx(0.5)
    assert generate_ui.spec_from_settings(
        bpy.context.scene, rig, engines["plain"]
    ).variety == pytest.approx(0.5)
    s.engine_file = str(engines["other_axes"])
    assert bpy.ops.dance_ai.load_engine() == {"FINISHED"}
    assert [a.name for a in s.style_axes] == ["waltz", "tango", "disco", "bounce"]
    assert s.variety == 0.0  # ... and another engine brings its own recommendation
    assert s.style_axes[3].max == pytest.approx(2.0)
    assert bpy.ops.dance_ai.apply_style_preset(preset="ballroom") == {"FINISHED"}
    assert [a.value for a in s.style_axes] == pytest.approx([0.5, 0.5, 0.0, 1.5])
    assert s.style_engine == str(engines["other_axes"].resolve())
    assert generate_ui.spec_from_settings(bpy.context.scene, rig, engines["other_axes"]).style_axes[
        "bounce"
    ] == pytest.approx(1.5)


def test_generate_operator_bakes_face_weights_on_the_chosen_mesh(rig, engines):
    face = make_face_mesh("OpFace", ["jawOpen", "EyeBlinkLeft"])
    s = _use_engine(engines["face"])
    s.seconds = 1.0
    s.face_mesh = face
    bpy.context.view_layer.objects.active = rig
    assert bpy.ops.dance_ai.generate_dance() == {"FINISHED"}
    key = face.data.shape_keys
    action = key.animation_data.action
    assert action.name == rig.animation_data.action.name + " Face"
    curves = compat.fcurves_of(action, key)
    assert sorted(fc.data_path for fc in curves) == [
        'key_blocks["EyeBlinkLeft"].value',
        'key_blocks["jawOpen"].value',
    ]
    assert {len(fc.keyframe_points) for fc in curves} == {30}


def test_bake_dance_rolls_back_when_a_late_step_fails(rig, engines):
    """A face bake failing after the body bake leaves the file exactly as it was."""
    from dance_ai_addon.core.engines import load_engine
    from dance_ai_addon.core.generation import generate

    scene = bpy.context.scene
    face = make_face_mesh("LateFace", ["jawOpen"])
    user = compat.new_action("UserDance")
    compat.assign_action(rig, user)
    modes = {pb.name: pb.rotation_mode for pb in rig.pose.bones}
    before = _state(scene)
    stored_before = len(rig.dance_ai_mapping.items)
    engine = load_engine(engines["plain"], backend="cpu", threads=1)
    try:
        meta = engine.metadata
        clip = generate(engine, frames=12, style=[1, 0, 0, 0.5], seed=0).clip
    finally:
        engine.close()
    assert meta.blendshape_names is None
    weights = np.zeros((12, 1))
    weights[6, 0] = np.nan  # only noticed by the face bake, after the body was baked
    spec = DanceJobSpec(name="late", armature=rig.name, mesh=face.name)
    with pytest.raises(EngineError, match="NaN"):
        jobs.bake_dance(scene, clip, (["jawOpen"], weights), spec, rig, face)
    assert _state(scene) == before
    assert rig.animation_data.action == user and not user.use_fake_user
    assert {pb.name: pb.rotation_mode for pb in rig.pose.bones} == modes
    assert face.data.shape_keys.animation_data is None
    assert len(rig.dance_ai_mapping.items) == stored_before  # the stored bone map is restored
