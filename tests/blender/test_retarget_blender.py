"""Retarget + bake on real rigs, judged on Blender's evaluated pose; operators and bad input."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from rig_helpers import chain_armature, factory_reset, make_armature  # noqa: E402

import dance_ai_addon  # noqa: E402
from dance_ai_addon.blender import armature, compat, jobs  # noqa: E402
from dance_ai_addon.core.bvh import load_bvh_clip  # noqa: E402
from dance_ai_addon.core.errors import DanceAIError  # noqa: E402
from dance_ai_addon.core.retarget import RetargetOptions, detect_mapping  # noqa: E402
from dance_ai_addon.core.retarget.quality import (  # noqa: E402
    foot_contact_stats,
    limb_direction_errors,
    y_up_to_z_up,
)

pytestmark = pytest.mark.bpy

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
SAMPLE_RIGS = os.path.join(HERE, "..", "..", "sample_rigs")
SALSA = os.path.join(DATA, "cmu_60_01_sl60.bvh")
ZOMBIE = os.path.join(DATA, "human-zombie.glb")
N_FRAMES = 600  # 10 s of the salsa take at 60 fps


@pytest.fixture(scope="module")
def salsa():
    return load_bvh_clip(SALSA).trim(0, N_FRAMES)


@pytest.fixture(scope="module")
def addon():
    factory_reset()
    dance_ai_addon.register()
    yield
    dance_ai_addon.unregister()


def evaluated_heads(obj, bones: list[str], frames) -> np.ndarray:
    """World head positions (F, B, 3) of ``bones`` after depsgraph evaluation at ``frames``."""
    scene = bpy.context.scene
    names = [pb.name for pb in obj.pose.bones]
    idx = np.array([names.index(b) for b in bones])
    buf = np.empty(len(names) * 16, dtype=np.float32)
    out = np.empty((len(frames), len(bones), 3))
    for i, f in enumerate(frames):
        scene.frame_set(int(f))
        ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        ev.pose.bones.foreach_get("matrix", buf)
        mats = buf.reshape(-1, 4, 4).transpose(0, 2, 1)  # flat data is column-major
        mw = np.array(ev.matrix_world)
        heads = mats[idx, :3, 3] @ mw[:3, :3].T + mw[:3, 3]
        out[i] = heads
        if i == 0:  # the flat read must agree with the per-bone API
            ref = np.array(ev.matrix_world @ ev.pose.bones[bones[0]].head)
            np.testing.assert_allclose(heads[0], ref, atol=1e-5)
    return out


def _judge_bones(obj, mapping) -> dict[str, str]:
    """Canonical joint -> bone to judge: the mapped bones, or DEF- bones on a Rigify rig."""
    if armature.is_rigify_rig(obj):
        names = [b.name for b in obj.data.bones]
        return detect_mapping(names, preset="rigify_def").bones
    return dict(mapping.bones)


def _bake_and_measure(obj, clip, **kw):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(round(clip.fps)), 1.0
    details: dict = {}
    report = jobs.run_retarget_job(scene, obj, clip, RetargetOptions(**kw), details=details)
    result, src = details["result"], details["clip"]
    judge = _judge_bones(obj, details["mapping"])
    joints = list(judge)
    frames = np.arange(report["frame_start"], report["frame_end"] + 1)
    tgt = evaluated_heads(obj, [judge[j] for j in joints], frames)
    spos, _ = src.world()
    smap = details["source_mapping"].bones
    s_names = src.skeleton.names
    sj = [j for j in smap]
    src_pos = y_up_to_z_up(spos[:, [s_names.index(smap[j]) for j in sj]])
    errors = limb_direction_errors(
        src_pos, {j: i for i, j in enumerate(sj)}, tgt, {j: i for i, j in enumerate(joints)}
    )
    return report, result, errors, tgt, {j: i for i, j in enumerate(joints)}


RIGS = ["mixamo_tpose", "rigify_apose", "vrm_apose_rolls", "ue_mannequin"]
LIMBS = ("L_upper_arm", "R_upper_arm", "L_forearm", "R_forearm", "L_thigh", "R_thigh", "L_shin",
         "R_shin", "neck")  # fmt: skip
MJ_HOP = os.path.join(DATA, "cmu_131_03_3dsmax120.bvh")  # I-pose rest, 3-joint spine


@pytest.mark.parametrize("rig", RIGS)
def test_limb_directions_on_sample_rigs(rig, salsa):
    """Salsa (CMU 60_01): every limb, the chest and the neck within 3 degrees. Its spine has two
    joints (abdomen, chest) against the rigs' three, so the spine is judged on the next test."""
    bpy.ops.wm.open_mainfile(filepath=os.path.join(SAMPLE_RIGS, f"{rig}.blend"))
    obj = bpy.data.objects[rig]
    report, _, errors, _, _ = _bake_and_measure(obj, salsa, foot_cleanup=False)
    assert report["frames"] == N_FRAMES
    assert set(LIMBS) | {"chest"} <= set(errors), errors
    assert max(errors.values()) <= 3.0, errors


@pytest.mark.parametrize("rig", RIGS)
def test_all_segments_with_matching_spine(rig):
    """CMU 131_03 (I-pose rest, spine joints matching the rigs): every segment within 3 degrees."""
    clip = load_bvh_clip(MJ_HOP).trim(0, 400)
    bpy.ops.wm.open_mainfile(filepath=os.path.join(SAMPLE_RIGS, f"{rig}.blend"))
    obj = bpy.data.objects[rig]
    _, _, errors, _, _ = _bake_and_measure(obj, clip, foot_cleanup=False)
    assert set(LIMBS) | {"spine", "chest"} <= set(errors), errors
    # Rigify is judged on its DEF- bones: DEF-spine.001 follows the torso control (Spine1) and
    # DEF-spine the reversed lower FK chain (spine_fk, the pelvis).
    assert max(errors.values()) <= 3.0, errors


def test_limb_directions_on_third_party_glb(salsa):
    factory_reset()
    bpy.ops.import_scene.gltf(filepath=ZOMBIE)
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(arms) == 1
    obj = arms[0]
    report, _, errors, _, _ = _bake_and_measure(obj, salsa, foot_cleanup=False)
    assert report["preset"].startswith("ue")
    assert {"L_upper_arm", "R_forearm", "L_thigh", "R_shin"} <= set(errors)
    assert max(errors.values()) <= 3.0, errors


@pytest.mark.parametrize("rig", ["mixamo_tpose", "rigify_apose"])
def test_salsa_feet_with_cleanup(rig, salsa):
    bpy.ops.wm.open_mainfile(filepath=os.path.join(SAMPLE_RIGS, f"{rig}.blend"))
    obj = bpy.data.objects[rig]
    report, result, _, tgt, index = _bake_and_measure(obj, salsa, foot_cleanup=True)
    assert sum(report["contact_frames"].get(k, 0) for k in ("L", "R")) > 0.2 * N_FRAMES
    for joint in ("L_Ankle", "R_Ankle"):
        stats = foot_contact_stats(
            tgt[:, [index[joint]]], result.contacts[joint][:, None], report["fps"]
        )
        assert stats["contact_frames"] > 0
        assert stats["min_height_cm"] >= -1.0, (joint, stats)
        assert stats["max_speed_cm_s"] <= 2.0, (joint, stats)


# ---------------------------------------------------------------------------------------------
# Operators: bad input leaves the scene exactly as it was; a bake is one undo step.


def _snapshot() -> dict:
    snap = {
        "actions": sorted(a.name for a in bpy.data.actions),
        "objects": sorted(o.name for o in bpy.data.objects),
        "frame_end": bpy.context.scene.frame_end,
    }
    for o in bpy.data.objects:
        anim = o.animation_data
        snap[f"anim:{o.name}"] = None if anim is None else (
            anim.action.name if anim.action else None, len(anim.nla_tracks)
        )  # fmt: skip
        if o.type == "ARMATURE":
            snap[f"pose:{o.name}"] = [
                (pb.name, pb.rotation_mode, tuple(pb.rotation_quaternion), tuple(pb.location),
                 tuple(sorted((k, repr(pb[k])) for k in pb.keys())))
                for pb in o.pose.bones
            ]  # fmt: skip
            if hasattr(o, "dance_ai_mapping"):
                snap[f"map:{o.name}"] = [(i.canonical, i.bone) for i in o.dance_ai_mapping.items]
    return snap


def _activate(obj) -> None:
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)


def _bake_expect_error(match: str) -> None:
    before = _snapshot()
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.dance_ai.retarget_bake()
    assert _snapshot() == before


def test_operator_rejects_non_armature(addon):
    factory_reset()
    bpy.ops.mesh.primitive_cube_add()
    bpy.context.scene.dance_ai.bvh_path = SALSA
    _bake_expect_error("not an armature")


def test_operator_rejects_non_humanoid(addon):
    factory_reset()
    _activate(chain_armature("Snake", 6))
    bpy.context.scene.dance_ai.bvh_path = SALSA
    _bake_expect_error("Snake.*has no bones for")


def test_operator_rejects_linked_armature(addon, tmp_path):
    shutil.copy(os.path.join(SAMPLE_RIGS, "mixamo_tpose.blend"), tmp_path / "lib.blend")
    factory_reset()
    with bpy.data.libraries.load(str(tmp_path / "lib.blend"), link=True) as (_, dst):
        dst.objects = ["mixamo_tpose"]
    obj = dst.objects[0]
    bpy.context.scene.collection.objects.link(obj)
    _activate(obj)
    bpy.context.scene.dance_ai.bvh_path = SALSA
    _bake_expect_error("linked from the library")


def test_operator_rejects_zero_frame_bvh(addon, tmp_path):
    with open(SALSA, encoding="utf-8") as fh:
        text = fh.read()
    head = text[: text.index("MOTION")]
    empty = tmp_path / "empty.bvh"
    empty.write_text(head + "MOTION\nFrames: 0\nFrame Time: 0.016667\n", encoding="utf-8")
    bpy.ops.wm.open_mainfile(filepath=os.path.join(SAMPLE_RIGS, "mixamo_tpose.blend"))
    _activate(bpy.data.objects["mixamo_tpose"])
    bpy.context.scene.dance_ai.bvh_path = str(empty)
    _bake_expect_error("(?i)zero frames|no frames|0 frames")


def test_operator_bad_source_path_and_last_motion(addon):
    bpy.ops.wm.open_mainfile(filepath=os.path.join(SAMPLE_RIGS, "mixamo_tpose.blend"))
    _activate(bpy.data.objects["mixamo_tpose"])
    settings = bpy.context.scene.dance_ai
    settings.bvh_path = "/nonexistent/take.bvh"
    _bake_expect_error("does not exist")
    settings.motion_source = "LAST"
    jobs._last_generated.clear()
    _bake_expect_error("No motion has been generated")


def test_operator_bake_detect_and_undo(addon, tmp_path):
    bpy.ops.wm.open_mainfile(filepath=os.path.join(SAMPLE_RIGS, "ue_mannequin.blend"))
    obj = bpy.data.objects["ue_mannequin"]
    _activate(obj)
    user = bpy.data.actions.new("mine")
    compat.assign_action(obj, user)
    settings = bpy.context.scene.dance_ai
    settings.bvh_path = SALSA
    settings.preset = "ue"
    from dance_ai_addon.blender.retarget_ui import DANCEAI_OT_retarget_bake

    assert "UNDO" in DANCEAI_OT_retarget_bake.bl_options
    assert bpy.ops.dance_ai.detect_mapping() == {"FINISHED"}
    rows = {i.canonical: i.bone for i in obj.dance_ai_mapping.items}
    assert rows["L_Elbow"] == "lowerarm_l" and rows["L_Hand"] == ""
    # the user edits the map: swap nothing but drop the neck; the bake must use the edited map
    next(i for i in obj.dance_ai_mapping.items if i.canonical == "Neck").bone = ""

    bpy.ops.ed.undo_push(message="before bake")
    assert bpy.ops.dance_ai.retarget_bake("EXEC_DEFAULT", True) == {"FINISHED"}
    obj = bpy.data.objects["ue_mannequin"]
    baked = obj.animation_data.action
    assert baked.name.startswith("Dance ") and baked.name != "mine"
    paths = {fc.data_path for fc in compat.fcurves_of(baked, obj)}
    assert 'pose.bones["lowerarm_l"].rotation_quaternion' in paths
    assert 'pose.bones["pelvis"].location' in paths
    # The edited map was used: the unmapped neck only carries the identity (it is an ancestor
    # of the mapped head, so it is keyed to keep the chain exact).
    neck_w = next(
        fc for fc in compat.fcurves_of(baked, obj)
        if fc.data_path == 'pose.bones["neck_01"].rotation_quaternion' and fc.array_index == 0
    )  # fmt: skip
    assert {kp.co[1] for kp in neck_w.keyframe_points} == {1.0}

    bpy.ops.ed.undo()
    obj = bpy.data.objects["ue_mannequin"]
    assert obj.animation_data.action.name == "mine"
    assert not any(a.name.startswith("Dance ") for a in bpy.data.actions)

    # JSON export / import round trip through the operators
    out = tmp_path / "map.json"
    assert bpy.ops.dance_ai.mapping_export(filepath=str(out)) == {"FINISHED"}
    for item in obj.dance_ai_mapping.items:
        item.bone = ""
    assert bpy.ops.dance_ai.mapping_import(filepath=str(out)) == {"FINISHED"}
    rows = {i.canonical: i.bone for i in obj.dance_ai_mapping.items}
    assert rows["L_Elbow"] == "lowerarm_l"


def test_job_rejects_map_with_foreign_bones():
    factory_reset()
    obj = make_armature("Solo", [("a", None, (0, 0, 0), (0, 0, 1))])
    from dance_ai_addon.core.retarget import BoneMapping

    bad = BoneMapping(preset="custom", bones={"Pelvis": "nope"})
    with pytest.raises(DanceAIError, match="nope"):
        jobs.run_retarget_job(bpy.context.scene, obj, SALSA, mapping=bad)
    assert obj.animation_data is None and len(bpy.data.actions) == 0


def test_register_unregister_is_clean():
    factory_reset()
    dance_ai_addon.register()
    assert hasattr(bpy.types.Scene, "dance_ai") and hasattr(bpy.types, "DANCEAI_PT_retarget")
    dance_ai_addon.unregister()
    assert not hasattr(bpy.types.Scene, "dance_ai")
    assert not hasattr(bpy.types.Object, "dance_ai_mapping")
    assert not hasattr(bpy.types, "DANCEAI_PT_retarget")
    assert not hasattr(bpy.types, "DANCEAI_OT_retarget_bake")
    dance_ai_addon.register()  # and again, no leftovers in the way
    dance_ai_addon.unregister()
