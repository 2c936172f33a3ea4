"""Quality metrics on real mocap converted with our retargeter (tests/data BVH takes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.beats import smooth_gaussian
from training.metrics import (
    StyleClassifier,
    angular_speed_per_minute,
    clip_beat_alignment,
    descriptor_correlation,
    diversity,
    fid_k,
    floor_penetration,
    foot_contacts,
    foot_skating,
    kinetic_features,
    mean_squared_jerk,
    nan_check,
    real_beat_alignment,
    segment,
    window_features,
)
from training.prepare_data import canonical_take

DATA = Path(__file__).resolve().parents[1] / "data"
FPS = 30.0
TRAIN = {
    "salsa": "cmu_60_01_sl60.bvh",
    "modern": "cmu_05_12_ccbase60.bvh",
    "groove": "animateddrawings_fair1_dab30.bvh",
}
HELD = {
    "salsa": "cmu_61_10_sl60.bvh",
    "modern": "cmu_05_03_ccbase60.bvh",
    "groove": "cmu_131_03_3dsmax120.bvh",
}


_CACHE: dict[str, np.ndarray] = {}


def positions(name: str) -> np.ndarray:
    if name not in _CACHE:
        clip = canonical_take(DATA / name, FPS)
        _CACHE[name] = clip.world()[0]
    return _CACHE[name]


@pytest.fixture(scope="module")
def salsa() -> np.ndarray:
    return positions(TRAIN["salsa"])


def test_real_take_is_finite_with_small_foot_skating(salsa: np.ndarray) -> None:
    assert nan_check(salsa)["finite"]
    sk = foot_skating(salsa, FPS)
    assert np.isfinite(sk["mean_cm_s"])
    assert 0.0 < sk["mean_cm_s"] < 40.0  # planted feet move little; swing feet move m/s
    assert sk["contact_ratio"] > 0.2
    pen = floor_penetration(salsa)
    assert pen["p99_cm"] < 3.0


def test_sliding_feet_raise_foot_skating(salsa: np.ndarray) -> None:
    slid = salsa.copy()
    # the whole body glides sideways at 0.5 m/s: every contact now skates
    slid[..., 0] += 0.5 * np.arange(len(salsa))[:, None] / FPS
    assert foot_skating(slid, FPS)["mean_cm_s"] > foot_skating(salsa, FPS)["mean_cm_s"] + 30.0
    assert foot_contacts(slid, FPS).shape == (len(salsa), 4)


def test_floor_penetration_sees_a_sunken_clip(salsa: np.ndarray) -> None:
    sunk = salsa.copy()
    sunk[..., 1] -= 0.10
    assert floor_penetration(sunk)["max_cm"] >= floor_penetration(salsa)["max_cm"] + 9.9


def test_nan_check_finds_bad_frames(salsa: np.ndarray) -> None:
    bad = salsa.copy()
    bad[10, 3, 1] = np.nan
    r = nan_check(bad)
    assert not r["finite"] and r["bad_frames"] == 1


def test_jerk_of_smoothed_clip_is_lower(salsa: np.ndarray) -> None:
    smooth = smooth_gaussian(salsa, 2.0, axis=0)
    assert mean_squared_jerk(smooth, FPS) < 0.5 * mean_squared_jerk(salsa, FPS)


def test_angular_speed_doubles_when_played_twice_as_fast(salsa: np.ndarray) -> None:
    slow = angular_speed_per_minute(salsa, FPS)
    fast = angular_speed_per_minute(salsa[::2], FPS)
    assert slow.shape == (1,) and fast.shape == (1,)
    assert 1.6 < fast[0] / slow[0] < 2.2


def _windows(p: np.ndarray, length: int = 90, hop: int = 15) -> np.ndarray:
    return np.stack([window_features(p[a:b], FPS) for a, b in segment(len(p), length, hop)])


def test_style_classifier_beats_chance_on_held_out_real_takes() -> None:
    # salsa vs groove, each trained on one take and tested on another dancer's take
    train = [TRAIN["salsa"], HELD["groove"]]  # 60_01, 131_03 (MJ-style hops)
    held = [HELD["salsa"], TRAIN["groove"]]  # 61_10 (the other subject), the dab
    xs, ys = [], []
    for k, name in enumerate(train):
        w = _windows(positions(name))
        xs.append(w)
        ys.append(np.full(len(w), k))
    clf = StyleClassifier().fit(np.concatenate(xs), np.concatenate(ys), 2)
    recalls, clips = [], []
    for k, name in enumerate(held):
        w = _windows(positions(name))
        recalls.append(float((clf.predict(w) == k).mean()))
        clips.append(clf.predict_clip(w))
    assert np.mean(recalls) > 0.6  # balanced accuracy; chance is 0.5
    assert clips == [0, 1]


def test_diversity_and_fid_separate_real_from_frozen(salsa: np.ndarray) -> None:
    real = [positions(TRAIN[s]) for s in TRAIN] + [positions(HELD[s]) for s in HELD]
    feats = np.stack([kinetic_features(p[:100], FPS) for p in real])
    frozen_pose = np.repeat(salsa[:1], 100, axis=0)
    jitter = np.random.default_rng(0).normal(0, 1e-3, (len(real),) + frozen_pose.shape)
    frozen = np.stack([kinetic_features(frozen_pose + j, FPS) for j in jitter])
    assert diversity(frozen, feats) < 0.1 * diversity(feats, feats)
    assert fid_k(feats, feats) == pytest.approx(0.0, abs=1e-3)
    assert fid_k(frozen, feats) > 10.0


def test_descriptor_correlation() -> None:
    s = np.linspace(0, 1, 9)
    assert descriptor_correlation(s, 2 * s + 1) == pytest.approx(1.0)
    assert descriptor_correlation(s, -s) == pytest.approx(-1.0)
    assert descriptor_correlation(s, np.ones(9)) == 0.0


def test_beat_alignment_of_real_take_vs_its_own_tempo(salsa: np.ndarray) -> None:
    bas, bpm = real_beat_alignment(salsa, FPS)
    assert 60.0 <= bpm <= 180.0
    assert 0.2 < bas <= 1.0
    # half a beat off its own grid scores lower
    from training.beats import estimate_tempo_and_offset

    b, off, _ = estimate_tempo_and_offset(salsa, FPS)
    assert clip_beat_alignment(salsa, FPS, b, off + 0.5) < bas


def test_every_minute_of_a_long_run_is_measured() -> None:
    """N minutes of frames give N - 1 whole minutes of frame steps plus a nearly whole last one:
    the last minute of a run (where a runaway shows first) must be counted too."""
    rng = np.random.default_rng(0)
    minute = int(60 * FPS)
    body = rng.normal(0.0, 0.3, (24, 3))  # a rigid pose spinning about +Y, 3x faster at the end
    rate = np.where(np.arange(3 * minute) < 2 * minute, 1.0, 3.0) / FPS
    yaw = np.cumsum(rate)
    c, s_ = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    pos = np.stack(
        [
            c * body[:, 0] + s_ * body[:, 2],
            np.broadcast_to(body[:, 1], (len(c), 24)),
            c * body[:, 2] - s_ * body[:, 0],
        ],
        axis=-1,
    )
    per = angular_speed_per_minute(pos, FPS)
    assert per.shape == (3,)
    assert per[2] > 2.0 * per[0]  # the fast last minute is there
    assert angular_speed_per_minute(pos[: 2 * minute + minute // 6], FPS).shape == (2,)
