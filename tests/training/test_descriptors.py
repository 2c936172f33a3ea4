"""Continuous descriptors respond monotonically to the manipulation they name."""

from __future__ import annotations

import numpy as np

from dance_ai_addon.core.rotations import euler_to_quat, quat_apply, quat_mul
from dance_ai_addon.core.skeleton import forward_kinematics, smpl24_skeleton
from training.descriptors import (
    DESCRIPTOR_NAMES,
    clip_descriptors,
    fit_descriptor_ranges,
    frame_descriptors,
    normalise_descriptors,
)

FPS = 30.0
E, X, B, TR, TU = range(5)


def dancer(
    speed: float = 1.0,
    arm_raise: float = 0.0,
    bounce: float = 0.0,
    travel: float = 0.0,
    turn: float = 0.0,
    seconds: float = 8.0,
) -> np.ndarray:
    """SMPL-24 world positions of a swaying dancer with the given manipulations.

    speed: time scale of the sway; arm_raise: shoulder elevation from the T-pose (rad, < 0
    lowers); bounce: pelvis up-down amplitude (m); travel: forward speed (m/s); turn: yaw rate
    (rad/s).
    """
    sk = smpl24_skeleton()
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    s = np.sin(2 * np.pi * 0.8 * speed * t)
    eul = np.zeros((n, 24, 3))
    eul[:, [3, 6, 9], 2] = 0.1 * s[:, None]
    eul[:, [18, 19], 1] = 0.6 * s[:, None]
    eul[:, 16, 2] = arm_raise
    eul[:, 17, 2] = -arm_raise
    rot = euler_to_quat(eul, "XYZ")  # angles indexed by axis x, y, z
    yaw = turn * t
    q_yaw = np.stack([np.cos(yaw / 2), 0 * yaw, np.sin(yaw / 2), 0 * yaw], axis=1)
    rot[:, 0] = quat_mul(q_yaw, rot[:, 0])
    root = np.zeros((n, 3))
    root[:, 1] = 0.92 + bounce * np.sin(2 * np.pi * 2.0 * t)
    root[:, 2] = travel * t
    pos, _ = forward_kinematics(sk, rot, root)
    return pos


def test_names_and_shapes() -> None:
    pos = dancer()
    d = frame_descriptors(pos, FPS)
    assert d.shape == (len(pos), len(DESCRIPTOR_NAMES)) == (240, 5)
    assert np.isfinite(d).all()
    assert clip_descriptors(pos, FPS).shape == (5,)


def test_energy_rises_with_motion_speed() -> None:
    e = [clip_descriptors(dancer(speed=s), FPS)[E] for s in (0.5, 1.0, 2.0)]
    assert e[0] < e[1] < e[2]


def test_expansiveness_rises_with_raised_arms() -> None:
    x = [clip_descriptors(dancer(arm_raise=a), FPS)[X] for a in (-1.2, 0.0, 1.0)]
    assert x[0] < x[1] < x[2]


def test_bounce_travel_turning_follow_their_manipulation() -> None:
    base = clip_descriptors(dancer(), FPS)
    b = clip_descriptors(dancer(bounce=0.05), FPS)
    tr = clip_descriptors(dancer(travel=0.8), FPS)
    tu = clip_descriptors(dancer(turn=1.5), FPS)
    assert b[B] > base[B] + 0.02
    assert abs(tr[TR] - 0.8) < 0.05 and base[TR] < 0.05
    assert abs(tu[TU] - 1.5) < 0.1 and base[TU] < 0.05
    # travel does not count as limb energy (energy is measured relative to the travelling pelvis)
    assert abs(tr[E] - base[E]) < 0.05 * base[E]


def test_descriptors_do_not_depend_on_position_or_heading() -> None:
    pos = dancer(speed=1.3, arm_raise=0.4)
    yaw = 1.1
    q = np.array([np.cos(yaw / 2), 0.0, np.sin(yaw / 2), 0.0])
    moved = quat_apply(q, pos) + np.array([3.0, 0.0, -2.0])
    assert np.allclose(frame_descriptors(pos, FPS), frame_descriptors(moved, FPS), atol=1e-9)


def test_normalisation_ranges() -> None:
    raw = np.concatenate([frame_descriptors(dancer(speed=s), FPS) for s in (0.5, 1.0, 2.0)])
    ranges = fit_descriptor_ranges(raw)
    assert ranges.shape == (5, 2) and np.all(ranges[:, 1] > ranges[:, 0])
    n = normalise_descriptors(raw, ranges)
    assert n.min() >= 0.0 and n.max() <= 1.0
    assert n[:, E].min() == 0.0 and n[:, E].max() == 1.0
