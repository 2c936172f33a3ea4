"""The shipped sample rigs: small, the right names and rest poses, skinned, rebuildable."""

from __future__ import annotations

import importlib.util
import math
import os

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from dance_ai_addon.blender import armature  # noqa: E402
from dance_ai_addon.core.retarget import detect_mapping  # noqa: E402
from dance_ai_addon.core.skeleton import rest_pose_world  # noqa: E402

pytestmark = pytest.mark.bpy

HERE = os.path.dirname(os.path.abspath(__file__))
RIGS = os.path.abspath(os.path.join(HERE, "..", "..", "sample_rigs"))

# name -> (preset detected, left upper arm, A-pose?)
EXPECTED = {
    "mixamo_tpose": ("mixamo", "mixamorig:LeftArm", False),
    "rigify_apose": ("rigify", "DEF-upper_arm.L", True),
    "vrm_apose_rolls": ("vrm", "J_Bip_L_UpperArm", True),
    "ue_mannequin": ("ue", "upperarm_l", False),
}


def _arm_angle_deg(obj, bone: str) -> float:
    b = obj.data.bones[bone]
    d = np.array(b.tail_local - b.head_local)
    return math.degrees(math.atan2(-d[2], abs(d[0])))  # below horizontal


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_rig(name):
    path = os.path.join(RIGS, f"{name}.blend")
    assert os.path.getsize(path) < 2_000_000
    bpy.ops.wm.open_mainfile(filepath=path)
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert [o.name for o in arms] == [name]
    obj = arms[0]
    preset, upper_arm, a_pose = EXPECTED[name]
    angle = _arm_angle_deg(obj, upper_arm)
    if a_pose:
        assert 25.0 <= angle <= 50.0, angle
    else:
        assert abs(angle) <= 3.0, angle

    skel, _ = armature.skeleton_from_armature(obj)
    mapping = detect_mapping(skel.names, skel.parents, rest_pose_world(skel)[0])
    assert mapping.preset == preset
    assert not mapping.missing_required

    # A skinned body: moving the upper arm moves the body's vertices.
    body = next(o for o in bpy.data.objects if o.type == "MESH" and o.parent == obj)
    assert any(m.type == "ARMATURE" and m.object == obj for m in body.modifiers)
    assert upper_arm in body.vertex_groups
    drive = "upper_arm_fk.L" if name == "rigify_apose" else upper_arm
    if name == "rigify_apose":
        armature.prepare_rigify_fk(obj)

    def verts():
        dg = bpy.context.evaluated_depsgraph_get()
        mesh = body.evaluated_get(dg).to_mesh()
        co = np.empty(len(mesh.vertices) * 3)
        mesh.vertices.foreach_get("co", co)
        body.evaluated_get(dg).to_mesh_clear()
        return co.reshape(-1, 3)

    bpy.context.view_layer.update()
    before = verts()
    pb = obj.pose.bones[drive]
    pb.rotation_mode = "QUATERNION"
    pb.rotation_quaternion = (math.cos(0.4), 0.0, 0.0, math.sin(0.4))
    bpy.context.view_layer.update()
    moved = np.linalg.norm(verts() - before, axis=1)
    assert moved.max() > 0.05 and (moved < 1e-6).sum() > len(moved) // 2


def test_build_script_is_deterministic(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "build_sample_rigs", os.path.join(RIGS, "build_sample_rigs.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    paths = mod.build_all(str(tmp_path))
    assert sorted(os.path.basename(p) for p in paths) == sorted(f"{n}.blend" for n in EXPECTED)
    for name in EXPECTED:
        heads = {}
        for folder in (RIGS, str(tmp_path)):
            bpy.ops.wm.open_mainfile(filepath=os.path.join(folder, f"{name}.blend"))
            bones = bpy.data.objects[name].data.bones
            heads[folder] = {
                b.name: (
                    tuple(b.head_local),
                    tuple(b.tail_local),
                    tuple(map(tuple, b.matrix_local)),
                )
                for b in bones
            }
        a, b = heads.values()
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(np.array(a[k][2]), np.array(b[k][2]), atol=1e-6, err_msg=k)
