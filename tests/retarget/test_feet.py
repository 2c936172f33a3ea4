"""Foot contacts and foot-skate cleanup on a real CMU salsa take."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dance_ai_addon.core.bvh import load_bvh_clip
from dance_ai_addon.core.retarget import RetargetOptions, detect_mapping, pose_world, retarget
from dance_ai_addon.core.retarget.feet import contact_weights, detect_contacts, two_bone_ik
from dance_ai_addon.core.retarget.quality import foot_contact_stats

from .synth_rigs import make_target

DATA = Path(__file__).resolve().parents[1] / "data"
FEET = ("L_Ankle", "R_Ankle", "L_Foot", "R_Foot")


def _run(cleanup: bool):
    clip = load_bvh_clip(DATA / "cmu_60_01_sl60.bvh").trim(0, 1200)
    sm = detect_mapping(clip.skeleton.names, clip.skeleton.parents)
    tgt, _ = make_target("mixamo", 45.0, seed=4)
    tm = detect_mapping(tgt.names, tgt.parents)
    res = retarget(clip, sm, tgt, tm, RetargetOptions(foot_cleanup=cleanup))
    wp, _ = pose_world(tgt, res.clip.rotations, None, tgt.index(res.root_bone), res.root_location)
    fj = [tgt.index(tm.bones[n]) for n in FEET]
    return res, wp[:, fj], clip.fps


def test_cleanup_pins_feet_on_salsa():
    res, feet, fps = _run(True)
    c = np.stack([res.contacts[n] for n in FEET], axis=1)
    assert 0.2 < c.mean() < 0.95  # salsa: feet are down most, not all, of the time
    st = foot_contact_stats(feet, c, fps, up_axis=2)
    _, feet0, _ = _run(False)
    st0 = foot_contact_stats(feet0, c, fps, up_axis=2)
    assert st["min_height_cm"] >= -1.0
    assert st["mean_speed_cm_s"] < 0.25 * st0["mean_speed_cm_s"]
    assert st["max_speed_cm_s"] <= 2.0, (st, st0)


def test_detect_contacts_and_weights():
    T, fps = 120, 60.0
    t = np.arange(T) / fps
    pos = np.zeros((T, 2, 3))
    pos[:, 0, 0] = np.where(t < 1.0, 0.0, (t - 1.0) * 2.0)  # left stands 1 s then walks off
    pos[:, 0, 1] = np.where(t < 1.0, 0.0, 0.3)
    pos[:, 1, 1] = 0.5 + 0.0 * t  # right in the air
    pos[:, 1, 1] -= 0.5 * (np.abs(t - 1.0) < 0.3)  # ... lands for 0.6 s
    c = detect_contacts(pos, fps, "Y")
    assert c[:55, 0].all() and not c[65:, 0].any()
    assert c[45:75, 1].all() and not c[:30, 1].any()
    w = contact_weights(c[:, 0], 6)
    assert w[0] == 1.0 and w[-1] == 0.0 and np.all(np.diff(w) <= 1e-12)


def test_two_bone_ik_reaches_and_keeps_lengths():
    rng = np.random.default_rng(0)
    T = 50
    hip = rng.normal(size=(T, 3))
    knee = hip + np.array([0.05, -0.4, 0.1])
    ankle = knee + np.array([0.0, -0.4, -0.1])
    target = hip + 0.9 * (ankle - hip) + rng.normal(scale=0.03, size=(T, 3))
    dq1, dq2, nk, na = two_bone_ik(hip, knee, ankle, target)
    assert np.allclose(na, target, atol=1e-6)
    assert np.allclose(np.linalg.norm(nk - hip, axis=1), np.linalg.norm(knee - hip, axis=1))
    assert np.allclose(np.linalg.norm(na - nk, axis=1), np.linalg.norm(ankle - knee, axis=1))
