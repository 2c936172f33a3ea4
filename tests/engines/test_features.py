"""Feature layout root_heading_v1: encode/decode is an exact inverse on real mocap; invariance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dance_ai_addon.core.bvh import load_bvh_clip
from dance_ai_addon.core.clip import MotionClip
from dance_ai_addon.core.engines.features import (
    decode_features,
    default_root_height,
    encode_clip,
    feature_size,
    heading_yaw,
    rest_features,
    yaw_quat,
)
from dance_ai_addon.core.rotations import quat_apply, quat_mul
from dance_ai_addon.core.skeleton import forward_kinematics, smpl24_skeleton

DATA = Path(__file__).resolve().parents[1] / "data"
SALSA = DATA / "cmu_60_01_sl60.bvh"  # CMU subject 60 salsa, meters, Y up


@pytest.fixture(scope="module")
def salsa() -> MotionClip:
    return load_bvh_clip(SALSA).trim(0, 600)


def _start(clip: MotionClip) -> tuple[tuple[float, float], float]:
    world0 = quat_mul(clip.skeleton.rest_rotations[0], clip.rotations[0, 0])
    return (clip.root_positions[0, 0], clip.root_positions[0, 2]), float(heading_yaw(world0))


def test_encode_decode_reproduces_world_positions_of_real_mocap(salsa):
    feats = encode_clip(salsa)
    assert feats.shape == (salsa.n_frames, feature_size(salsa.n_joints))
    start, yaw0 = _start(salsa)
    back = decode_features(feats, salsa.skeleton, salsa.fps, start, yaw0)
    want, _ = salsa.world()
    got, _ = back.world()
    assert np.abs(got - want).max() < 1e-4
    # the dancer really moves and turns in this take, so the root channels are exercised
    assert np.ptp(salsa.root_positions[:, 0]) > 0.1
    assert np.abs(feats[:, 3]).sum() > 0.5


def test_features_do_not_depend_on_position_or_facing(salsa):
    feats = encode_clip(salsa)
    turn = yaw_quat(np.array(1.3))
    pos = quat_apply(np.broadcast_to(turn, (salsa.n_frames, 4)), salsa.root_positions)
    pos += np.array([4.0, 0.0, -7.0])
    rot = salsa.rotations.copy()
    rot[:, 0] = quat_mul(np.broadcast_to(turn, (salsa.n_frames, 4)), rot[:, 0])
    moved = MotionClip(salsa.skeleton, rot, pos, salsa.fps)
    assert np.abs(encode_clip(moved) - feats).max() < 1e-9
    # decoding from the origin facing +Z gives the same motion, just re-anchored
    start, yaw0 = _start(moved)
    again = decode_features(feats, salsa.skeleton, salsa.fps, start, yaw0)
    assert np.abs(again.world()[0] - moved.world()[0]).max() < 1e-4


def test_heading_is_yaw_of_pelvis_forward_axis():
    skel = smpl24_skeleton()
    rot = np.zeros((3, 24, 4))
    rot[..., 0] = 1.0
    rot[:, 0] = yaw_quat(np.array([0.0, 0.5, 1.0]))  # turning left 0.5 rad per frame
    pos = np.array([[0.0, 0.9, 0.0], [0.0, 0.9, 0.1], [0.1, 0.9, 0.1]])
    f = encode_clip(MotionClip(skel, rot, pos, 30.0))
    np.testing.assert_allclose(f[:, 0], 0.9)
    np.testing.assert_allclose(f[:2, 3], [0.5, 0.5], atol=1e-12)
    # frame 0 faces +Z and steps 0.1 m forward: local velocity (0, 0.1)
    np.testing.assert_allclose(f[0, 1:3], [0.0, 0.1], atol=1e-12)
    # the pelvis 6D is heading-free: identity for every frame
    np.testing.assert_allclose(f[:, 4:10], np.tile([1, 0, 0, 0, 1, 0], (3, 1)), atol=1e-12)


def test_rest_features_stand_on_the_ground():
    skel = smpl24_skeleton()
    h = default_root_height(skel)
    assert 0.8 < h < 1.1
    f = rest_features(skel, 5)
    clip = decode_features(f, skel, 30.0)
    pos, _ = forward_kinematics(skel, clip.rotations, clip.root_positions)
    assert abs(pos[..., 1].min()) < 1e-9
    assert np.all(f[:, 1:4] == 0.0)
