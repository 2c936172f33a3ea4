"""Reading armatures into core skeletons: the core FK must equal Blender's evaluated pose."""

from __future__ import annotations

import os

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from rig_helpers import factory_reset, make_armature  # noqa: E402

from dance_ai_addon.blender import armature  # noqa: E402
from dance_ai_addon.core.errors import RigError  # noqa: E402
from dance_ai_addon.core.rotations import quat_to_matrix  # noqa: E402
from dance_ai_addon.core.skeleton import forward_kinematics  # noqa: E402

pytestmark = pytest.mark.bpy

SAMPLE_RIGS = os.path.join(os.path.dirname(__file__), "..", "..", "sample_rigs")


def _random_unit_quats(rng, shape):
    q = rng.normal(size=shape + (4,))
    q[..., 0] = np.abs(q[..., 0]) + 1.0
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _assert_fk_matches_evaluated(obj, skel, rng, root_location=(0.0, 0.0, 0.0)):
    """Pose ``obj`` randomly through the skeleton's bones; compare core FK with Blender."""
    names = [n for n in skel.names if n in obj.pose.bones]
    q = _random_unit_quats(rng, (len(skel.names),))
    for j, name in enumerate(skel.names):
        if name not in obj.pose.bones:
            q[j] = (1.0, 0.0, 0.0, 0.0)
            continue
        pb = obj.pose.bones[name]
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = q[j]
    root = skel.names[0]
    if root in obj.pose.bones:
        obj.pose.bones[root].location = root_location
    bpy.context.view_layer.update()
    rest0 = quat_to_matrix(skel.rest_rotations[0])
    p0 = skel.offsets[0] + (rest0 @ np.asarray(root_location) if root in obj.pose.bones else 0)
    pos, rot = forward_kinematics(skel, q[None], p0[None])
    mats = quat_to_matrix(rot[0])
    for name in names:
        j = skel.names.index(name)
        ev = np.array(obj.pose.bones[name].matrix)
        np.testing.assert_allclose(ev[:3, 3], pos[0, j], atol=2e-5, err_msg=name)
        np.testing.assert_allclose(ev[:3, :3], mats[j], atol=2e-5, err_msg=name)


def test_skeleton_matches_blender_pose_with_rolls():
    factory_reset()
    rows = [
        ("hips", None, (0, 0, 1), (0, 0.1, 1.1)),
        ("spine", "hips", (0, 0.1, 1.1), (0, 0.0, 1.4)),
        ("arm.L", "spine", (0.1, 0, 1.35), (0.4, -0.1, 1.2)),
        ("hand.L", "arm.L", (0.4, -0.1, 1.2), (0.5, -0.1, 1.25)),
        ("leg.L", "hips", (0.1, 0, 1.0), (0.12, 0.05, 0.5)),
    ]
    # Create children before parents in the edit-bone list to exercise the ordering.
    obj = make_armature("Rig", rows, rolls={"arm.L": 1.3, "hips": -0.4, "leg.L": 2.8})
    obj.location = (1, 2, 3)
    bpy.context.view_layer.update()
    skel, mw = armature.skeleton_from_armature(obj)
    assert skel.names[0] == "hips"
    assert all(skel.parents[j] < j for j in range(1, skel.n_joints))
    np.testing.assert_allclose(mw[:3, 3], (1, 2, 3))
    _assert_fk_matches_evaluated(obj, skel, np.random.default_rng(3), root_location=(0.1, 0.2, 0))


def test_multiple_roots_get_a_virtual_root():
    factory_reset()
    obj = make_armature(
        "Two",
        [("a", None, (0, 0, 0), (0, 0, 1)), ("b", None, (1, 0, 0), (1, 0, 1))],
    )
    skel, _ = armature.skeleton_from_armature(obj)
    assert skel.names == ["<armature>", "a", "b"]
    assert list(skel.parents) == [-1, 0, 0]
    np.testing.assert_allclose(skel.offsets[2], (1, 0, 0))


def test_not_an_armature_and_empty_armature():
    factory_reset()
    mesh_obj = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube"))
    with pytest.raises(RigError, match="Cube.*not an armature"):
        armature.skeleton_from_armature(mesh_obj)
    with pytest.raises(RigError, match="No active object"):
        armature.check_armature(None)
    empty = bpy.data.objects.new("Empty", bpy.data.armatures.new("Empty"))
    with pytest.raises(RigError, match="no bones"):
        armature.skeleton_from_armature(empty)


def test_linked_armature_is_refused(tmp_path):
    factory_reset()
    make_armature("Linked", [("a", None, (0, 0, 0), (0, 0, 1))])
    lib_path = str(tmp_path / "lib.blend")
    bpy.ops.wm.save_as_mainfile(filepath=lib_path)
    factory_reset()
    with bpy.data.libraries.load(lib_path, link=True) as (src, dst):
        dst.objects = ["Linked"]
    obj = dst.objects[0]
    bpy.context.scene.collection.objects.link(obj)
    assert obj.library is not None
    with pytest.raises(RigError, match="linked from the library"):
        armature.skeleton_from_armature(obj)


def test_sample_rigs_match_blender_pose():
    for name in ("mixamo_tpose", "vrm_apose_rolls", "ue_mannequin"):
        bpy.ops.wm.open_mainfile(filepath=os.path.join(SAMPLE_RIGS, f"{name}.blend"))
        obj = bpy.data.objects[name]
        skel, _ = armature.skeleton_from_armature(obj)
        assert skel.n_joints == len(obj.data.bones)
        _assert_fk_matches_evaluated(obj, skel, np.random.default_rng(7))


def test_rigify_fk_proxy_matches_evaluated_controls():
    bpy.ops.wm.open_mainfile(filepath=os.path.join(SAMPLE_RIGS, "rigify_apose.blend"))
    rig = bpy.data.objects["rigify_apose"]
    assert armature.is_rigify_rig(rig)
    changed = armature.prepare_rigify_fk(rig)
    assert changed["upper_arm_parent.L[IK_FK]"] == 1.0
    skel, _ = armature.skeleton_from_armature(rig)
    assert skel.names[:2] == ["root", "torso"]
    for bone in ("upper_arm_fk.L", "forearm_fk.R", "thigh_fk.L", "foot_fk.R", "neck", "head"):
        assert bone in skel.names
    assert skel.names[skel.parents[skel.names.index("thigh_fk.L")]] == "spine_fk"
    _assert_fk_matches_evaluated(rig, skel, np.random.default_rng(11))
    # ... and the deforming bones follow the FK controls (IK is switched off).
    ev = np.array(rig.pose.bones["DEF-forearm.L"].matrix)
    ctrl = np.array(rig.pose.bones["forearm_fk.L"].matrix)
    np.testing.assert_allclose(ev[:3, 3], ctrl[:3, 3], atol=1e-4)
    np.testing.assert_allclose(ev[:3, 1], ctrl[:3, 1], atol=1e-4)  # same bone direction (Y)
