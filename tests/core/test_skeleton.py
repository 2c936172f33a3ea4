"""Skeleton validation, forward kinematics, SMPL-24 and mirror pairs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dance_ai_addon.core import rotations as R
from dance_ai_addon.core.errors import DanceAIError, RigError
from dance_ai_addon.core.skeleton import (
    SMPL24_NAMES,
    SMPL24_PARENTS,
    Skeleton,
    forward_kinematics,
    local_rotations,
    mirror_indices,
    rest_pose_world,
    smpl24_mirror_indices,
    smpl24_skeleton,
)


def chain_skeleton():
    # root -> a (1 up) -> b (1 along x) ; root -> c (1 along -x)
    return Skeleton(
        ["root", "a", "b", "c"],
        np.array([-1, 0, 1, 0]),
        np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [-1, 0, 0]], dtype=float),
    )


def fk_reference(sk, rot, root):
    """Straightforward per-joint matrix FK, written independently of forward_kinematics."""
    T, J = rot.shape[:2]
    wm = np.zeros((T, J, 3, 3))
    wp = np.zeros((T, J, 3))
    for t in range(T):
        for j in range(J):
            local = R.quat_to_matrix(sk.rest_rotations[j]) @ R.quat_to_matrix(rot[t, j])
            p = sk.parents[j]
            if p < 0:
                wm[t, j] = local
                wp[t, j] = root[t]
            else:
                wm[t, j] = wm[t, p] @ local
                wp[t, j] = wp[t, p] + wm[t, p] @ sk.offsets[j]
    return wp, wm


def test_validation_errors():
    with pytest.raises(RigError, match="before its child"):
        Skeleton(["a", "b"], np.array([-1, 1]), np.zeros((2, 3)))
    with pytest.raises(RigError, match="root"):
        Skeleton(["a", "b"], np.array([0, -1]), np.zeros((2, 3)))
    with pytest.raises(RigError, match="second root"):
        Skeleton(["a", "b"], np.array([-1, -1]), np.zeros((2, 3)))
    with pytest.raises(RigError, match="'a' is used twice"):
        Skeleton(["a", "a"], np.array([-1, 0]), np.zeros((2, 3)))
    with pytest.raises(RigError, match="offsets"):
        Skeleton(["a", "b"], np.array([-1, 0]), np.zeros((3, 3)))
    with pytest.raises(RigError, match="NaN"):
        Skeleton(["a", "b"], np.array([-1, 0]), np.array([[0, 0, 0], [np.nan, 0, 0]]))
    assert issubclass(RigError, DanceAIError)


def test_basic_api():
    sk = chain_skeleton()
    assert sk.n_joints == 4
    assert sk.index("b") == 2
    with pytest.raises(RigError, match="'nope'"):
        sk.index("nope")
    assert sk.children(0) == [1, 3]
    assert sk.children(2) == []
    np.testing.assert_array_equal(sk.rest_rotations, R.quat_identity(4))
    c = sk.copy()
    c.offsets[1, 1] = 5
    assert sk.offsets[1, 1] == 1


def test_fk_simple_chain():
    sk = chain_skeleton()
    rot = R.quat_identity((2, 4))
    rot[1, 1] = R.axis_angle_to_quat([0, 0, np.pi / 2])  # joint a turns 90° about Z
    root = np.array([[0, 0, 0], [10, 0, 0]], dtype=float)
    pos, wrot = forward_kinematics(sk, rot, root)
    np.testing.assert_allclose(pos[0], [[0, 0, 0], [0, 1, 0], [1, 1, 0], [-1, 0, 0]], atol=1e-15)
    # b's offset (1,0,0) is rotated into +Y by a's rotation
    np.testing.assert_allclose(pos[1], [[10, 0, 0], [10, 1, 0], [10, 2, 0], [9, 0, 0]], atol=1e-15)
    assert R.quat_angle(wrot[1, 2], rot[1, 1]) < 1e-12


def test_fk_matches_reference_with_rest_rotations():
    rng = np.random.default_rng(0)
    sk = smpl24_skeleton()
    sk = Skeleton(sk.names, sk.parents, sk.offsets, R.quat_normalize(rng.standard_normal((24, 4))))
    rot = R.quat_normalize(rng.standard_normal((5, 24, 4)))
    root = rng.standard_normal((5, 3))
    pos, wrot = forward_kinematics(sk, rot, root)
    rp, rm = fk_reference(sk, rot, root)
    np.testing.assert_allclose(pos, rp, atol=1e-12)
    np.testing.assert_allclose(R.quat_to_matrix(wrot), rm, atol=1e-12)
    # extra leading batch axis
    pos2, _ = forward_kinematics(sk, np.stack([rot, rot]), np.stack([root, root]))
    np.testing.assert_allclose(pos2[1], pos, atol=1e-15)
    with pytest.raises(RigError):
        forward_kinematics(sk, rot[:, :10], root)
    with pytest.raises(RigError):
        forward_kinematics(sk, rot, root[:3])


@pytest.mark.parametrize("rest", ["identity", "random"])
def test_local_rotations_invert_fk(rest):
    rng = np.random.default_rng(1)
    sk = smpl24_skeleton()
    if rest == "random":
        rr = R.quat_normalize(rng.standard_normal((24, 4)))
        sk = Skeleton(sk.names, sk.parents, sk.offsets, rr)
    rot = R.quat_normalize(rng.standard_normal((7, 24, 4)))
    _, world = forward_kinematics(sk, rot, np.zeros((7, 3)))
    back = local_rotations(sk, world)
    # same rotations up to the quaternion sign
    assert np.all(np.abs(np.sum(back * rot, axis=-1)) > 1.0 - 1e-12)


def test_smpl24_layout():
    sk = smpl24_skeleton()
    assert sk.names == SMPL24_NAMES and len(SMPL24_NAMES) == 24
    np.testing.assert_array_equal(sk.parents, SMPL24_PARENTS)
    pos, rot = rest_pose_world(sk)
    np.testing.assert_allclose(rot, R.quat_identity(24))
    np.testing.assert_array_equal(pos[0], [0, 0, 0])
    i = sk.index
    # subject's left on +X, T-pose arms out along x, Y up, feet below, toes forward (+Z)
    assert pos[i("L_Shoulder"), 0] > 0.1 and pos[i("R_Shoulder"), 0] < -0.1
    assert pos[i("L_Hand"), 0] > 0.6 and abs(pos[i("L_Hand"), 1] - pos[i("L_Shoulder"), 1]) < 0.05
    assert pos[i("Head"), 1] > 0.5 and pos[i("L_Ankle"), 1] < -0.8
    assert pos[i("L_Foot"), 2] > pos[i("L_Ankle"), 2] + 0.08
    assert 0.35 < np.linalg.norm(sk.offsets[i("L_Knee")]) < 0.42
    # exactly left-right symmetric
    perm = smpl24_mirror_indices()
    np.testing.assert_allclose(pos[perm] * [-1, 1, 1], pos, atol=1e-15)
    assert SMPL24_NAMES[perm[i("L_Elbow")]] == "R_Elbow" and perm[i("Spine2")] == i("Spine2")


def test_mirror_indices_from_names():
    names = [
        "hip", "lShldr", "rShldr", "lhand", "rhand", "lowerback", "CC_Base_L_Thigh",
        "CC_Base_R_Thigh", "upper_arm.L", "upper_arm.R", "thigh_l", "thigh_r", "LeftArm",
        "RightArm", "mixamorig:LeftArm", "mixamorig:RightArm", "LHipJoint", "RHipJoint",
        "DEF-shoulder.L.001", "DEF-shoulder.R.001", "Head", "lonely_l",
    ]  # fmt: skip
    perm = mirror_indices(names)
    pairs = {names[a]: names[b] for a, b in enumerate(perm)}
    assert pairs["lShldr"] == "rShldr" and pairs["rhand"] == "lhand"
    assert pairs["CC_Base_L_Thigh"] == "CC_Base_R_Thigh"
    assert pairs["upper_arm.L"] == "upper_arm.R" and pairs["thigh_r"] == "thigh_l"
    assert pairs["LeftArm"] == "RightArm" and pairs["mixamorig:RightArm"] == "mixamorig:LeftArm"
    assert pairs["LHipJoint"] == "RHipJoint"
    assert pairs["DEF-shoulder.L.001"] == "DEF-shoulder.R.001"
    for central in ("hip", "lowerback", "Head", "lonely_l"):
        assert pairs[central] == central
    np.testing.assert_array_equal(perm[perm], np.arange(len(names)))


def test_core_imports_no_bpy():
    code = (
        "import sys, importlib, pkgutil\n"
        "import dance_ai_addon.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'dance_ai_addon.core.'):\n"
        "    if m.name.count('.') == 2:\n"
        "        importlib.import_module(m.name)\n"
        "for mod in ('errors', 'rotations', 'skeleton', 'clip', 'bvh', 'smoothing'):\n"
        "    importlib.import_module('dance_ai_addon.core.' + mod)\n"
        "bad = [k for k in sys.modules if k == 'bpy' or k.startswith(('bpy.', 'mathutils'))]\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_fk_across_frame_blocks():
    # more frames than one FK block (2000): block boundaries must not show
    rng = np.random.default_rng(7)
    sk = smpl24_skeleton()
    rot = R.quat_normalize(rng.standard_normal((4500, 24, 4)))
    root = rng.standard_normal((4500, 3))
    pos, wrot = forward_kinematics(sk, rot, root)
    pick = np.array([0, 1999, 2000, 2001, 3999, 4000, 4499])
    rp, rm = fk_reference(sk, rot[pick], root[pick])
    np.testing.assert_allclose(pos[pick], rp, atol=1e-12)
    np.testing.assert_allclose(R.quat_to_matrix(wrot[pick]), rm, atol=1e-12)
