"""Transfer accuracy on real BVH takes onto Blender-like targets (T/A pose, random rolls)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from dance_ai_addon.core.bvh import load_bvh_clip
from dance_ai_addon.core.errors import RigError
from dance_ai_addon.core.retarget import (
    RetargetOptions,
    detect_mapping,
    pose_world,
    retarget,
    to_canonical,
)
from dance_ai_addon.core.retarget.quality import (
    limb_direction_errors,
    y_up_to_z_up,
)
from dance_ai_addon.core.retarget.transfer import _AXIS_Q, _J, _detect_up
from dance_ai_addon.core.rotations import quat_apply
from dance_ai_addon.core.skeleton import rest_pose_world

from .synth_rigs import make_target

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = [
    "cmu_60_01_sl60.bvh",
    "animateddrawings_fair1_dab30.bvh",
    "cmu_131_03_3dsmax120.bvh",
    "animateddrawings_jesse_dance_rokoko100.bvh",
    "cmu_05_03_ccbase60.bvh",
]


@lru_cache(maxsize=None)
def _load(fname: str, frames: int = 600):
    clip = load_bvh_clip(DATA / fname)
    if clip.n_frames > frames:
        clip = clip.trim(0, frames)
    sk = clip.skeleton
    return clip, detect_mapping(sk.names, sk.parents)


def _source_world_yup(clip, mapping):
    pos, _ = clip.world()
    idx = {j: clip.skeleton.names.index(b) for j, b in mapping.bones.items()}
    up = _detect_up(pos, idx)
    if up != "Y":
        pos = quat_apply(_AXIS_Q[up], pos)
    return pos, idx


@pytest.mark.parametrize("fname", FILES)
def test_to_canonical_reproduces_limb_directions(fname):
    clip, m = _load(fname)
    canon = to_canonical(clip, m)
    assert canon.skeleton.names[0] == "Pelvis" and canon.n_frames == clip.n_frames
    sp, sidx = _source_world_yup(clip, m)
    cp, _ = canon.world()
    errs = limb_direction_errors(sp, sidx, cp, _J)
    assert len(errs) >= 9
    assert max(errs.values()) <= 3.0, errs
    # canonical feet near the floor after the floor offset (Y up, meters)
    feet = cp[:, [_J["L_Ankle"], _J["R_Ankle"], _J["L_Foot"], _J["R_Foot"]], 1]
    low = np.percentile(feet.min(axis=1), 5)
    assert 0.0 <= low <= 0.12
    # a human-sized pelvis height (meters)
    assert 0.6 < np.median(cp[:, 0, 1]) < 1.3


def test_to_canonical_rejects_missing_legs():
    clip, m = _load("cmu_60_01_sl60.bvh")
    bad = detect_mapping([n.replace("Shin", "Xx") for n in clip.skeleton.names], None)
    with pytest.raises(RigError, match="L_Knee"):
        to_canonical(clip, bad)


TARGETS = [
    dict(style="mixamo", arm_angle_deg=0.0, seed=0),
    dict(style="ue", arm_angle_deg=45.0, leg_scale=1.15, arm_scale=0.9, seed=1, units=100.0),
    dict(style="mixamo", arm_angle_deg=45.0, leg_scale=0.85, torso_scale=1.2, seed=2),
    dict(style="ue", arm_angle_deg=0.0, seed=3, drop=("Spine2", "L_Foot", "R_Foot")),
]


@pytest.mark.parametrize(
    "fname", ["cmu_60_01_sl60.bvh", "cmu_05_03_ccbase60.bvh", "animateddrawings_fair1_dab30.bvh"]
)
@pytest.mark.parametrize("tcfg", TARGETS, ids=lambda c: f"{c['style']}-{c['arm_angle_deg']:.0f}")
def test_retarget_limb_directions(fname, tcfg):
    clip, sm = _load(fname, 300)
    tgt, _ = make_target(**tcfg)
    tm = detect_mapping(tgt.names, tgt.parents, rest_pose_world(tgt)[0])
    res = retarget(clip, sm, tgt, tm, RetargetOptions(foot_cleanup=False))
    rb = tgt.index(res.root_bone)
    wp, _ = pose_world(tgt, res.clip.rotations, None, rb, res.root_location)
    sp, sidx = _source_world_yup(clip, sm)
    tidx = {j: tgt.names.index(b) for j, b in tm.bones.items()}
    errs = limb_direction_errors(y_up_to_z_up(sp), sidx, wp, tidx)
    assert {"L_upper_arm", "R_forearm", "L_thigh", "R_shin", "neck"} <= set(errs)
    assert max(errs.values()) <= 3.0, errs
    # unmapped (twist) bones keep identity
    tw = [i for i, n in enumerate(tgt.names) if n.endswith("_twist")]
    assert np.allclose(np.abs(res.clip.rotations[:, tw, 0]), 1.0)
    # root location reproduces the reported root head; floor: feet rest on Z = 0
    assert np.allclose(wp[:, rb], res.clip.root_positions, atol=1e-6 * tcfg.get("units", 1.0))
    u = tcfg.get("units", 1.0)
    fj = [tidx[n] for n in ("L_Ankle", "R_Ankle", "L_Foot", "R_Foot") if n in tidx]
    low = np.percentile(wp[:, fj, 2].min(axis=1), 5) / u
    assert -0.01 <= low <= 0.12


def test_in_place_removes_travel_keeps_bounce():
    clip, sm = _load("cmu_60_01_sl60.bvh", 600)
    tgt, _ = make_target("mixamo")
    tm = detect_mapping(tgt.names, tgt.parents)
    a = retarget(clip, sm, tgt, tm, RetargetOptions(foot_cleanup=False))
    b = retarget(clip, sm, tgt, tm, RetargetOptions(foot_cleanup=False, in_place=True))
    travel = lambda p: np.ptp(p[:, 0]) + np.ptp(p[:, 1])  # noqa: E731  (Z up: x, y horizontal)
    assert travel(b.clip.root_positions) < 0.5 * travel(a.clip.root_positions)
    assert np.allclose(np.std(b.clip.root_positions[:, 2]), np.std(a.clip.root_positions[:, 2]))


def test_world_matrix_and_smoothing_options():
    clip, sm = _load("cmu_60_01_sl60.bvh", 300)
    tgt, _ = make_target("mixamo", seed=5)
    tm = detect_mapping(tgt.names, tgt.parents)
    # an armature object scaled by 0.01 and turned 90 degrees about Z: world directions still match
    c, s = 0.0, 1.0
    M = np.diag([0.01, 0.01, 0.01, 1.0])
    M[:3, :3] = 0.01 * np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    M[:3, 3] = (1.0, 2.0, 0.0)
    res = retarget(clip, sm, tgt, tm, RetargetOptions(foot_cleanup=False, target_world_matrix=M))
    wp, _ = pose_world(tgt, res.clip.rotations, None, tgt.index(res.root_bone), res.root_location)
    wp_world = wp @ M[:3, :3].T + M[:3, 3]
    sp, sidx = _source_world_yup(clip, sm)
    tidx = {j: tgt.names.index(b) for j, b in tm.bones.items()}
    errs = limb_direction_errors(y_up_to_z_up(sp), sidx, wp_world, tidx)
    assert max(errs.values()) <= 3.0, errs
    fj = [tidx[n] for n in ("L_Foot", "R_Foot")]
    assert abs(np.percentile(wp_world[:, fj, 2].min(axis=1), 5)) < 0.05
    sm_res = retarget(clip, sm, tgt, tm, RetargetOptions(foot_cleanup=False, smooth_strength=0.8))
    jerk = lambda q: np.abs(np.diff(q, 3, axis=0)).mean()  # noqa: E731
    assert jerk(sm_res.clip.rotations) < jerk(
        retarget(clip, sm, tgt, tm, RetargetOptions(foot_cleanup=False)).clip.rotations
    )


def test_canonical_source_round_trip():
    """A canonical clip (source_mapping None) drives a target like its source does."""
    clip, sm = _load("cmu_05_03_ccbase60.bvh", 200)
    canon = to_canonical(clip, sm)
    tgt, _ = make_target("ue", 45.0, seed=7)
    tm = detect_mapping(tgt.names, tgt.parents)
    res = retarget(canon, None, tgt, tm, RetargetOptions(foot_cleanup=False, source_up="Y"))
    wp, _ = pose_world(tgt, res.clip.rotations, None, tgt.index(res.root_bone), res.root_location)
    cp, _ = canon.world()
    tidx = {j: tgt.names.index(b) for j, b in tm.bones.items()}
    errs = limb_direction_errors(y_up_to_z_up(cp), _J, wp, tidx)
    assert max(errs.values()) <= 3.0, errs
