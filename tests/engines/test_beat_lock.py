"""Beat lock: the retiming that puts a motion's kinematic beats on the requested beat grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dance_ai_addon.core import beat_lock as bl
from dance_ai_addon.core.beats import kinematic_beats
from dance_ai_addon.core.engines import load_engine
from dance_ai_addon.core.generation import beat_features, generate
from dance_ai_addon.core.style import style_vector

DEFAULT = Path(__file__).resolve().parents[2] / "dance_ai_addon" / "engines" / "default.onnx"


def _offbeat(kin: np.ndarray, music: np.ndarray) -> np.ndarray:
    """Distance (frames) from each music beat to its nearest kinematic beat."""
    return np.abs(music[:, None] - np.asarray(kin, dtype=np.float64)[None, :]).min(axis=1)


def _pulsing(frames: int, every: float) -> np.ndarray:
    """(T, 2, 3) positions: a still joint and one swinging so it stops every ``every`` frames."""
    t = np.arange(frames, dtype=np.float64)
    pos = np.zeros((frames, 2, 3))
    pos[:, 1, 0] = 0.3 * np.cos(np.pi * t / every)
    return pos


def test_music_beats_sit_where_the_engine_beat_input_has_phase_zero():
    beats = bl.music_beat_times(300, 30.0, 120.0, phase=0.2)  # 15 frames a beat
    np.testing.assert_allclose(beats, np.arange(12.0, 300.0, 15.0))
    feats = beat_features(300, 30.0, 120.0, phase=0.2)
    on = beats.astype(int)
    np.testing.assert_allclose(feats[on], [[0.0, 1.0]] * len(on), atol=1e-5)  # sin 0, cos 1


def test_retiming_moves_the_motion_beats_onto_the_grid():
    pos = _pulsing(300, every=18.0)  # the motion stops every 18 frames
    music = bl.music_beat_times(300, 30.0, 90.0, phase=-0.25)  # a beat every 20, from frame 5
    before = _offbeat(kinematic_beats(pos, 30.0), music)
    tau = bl.beat_lock_map(pos, 30.0, 90.0, phase=-0.25)
    warped = bl.warp_channels(pos.reshape(300, -1), tau).reshape(pos.shape)
    after = _offbeat(kinematic_beats(warped, 30.0), music)
    # the motion has one beat more than the music over the clip: the retiming skips one motion
    # beat where the drift adds up, and cannot reach the first beats from the pinned first frame
    assert np.median(before) > 3.0 and np.mean(before <= 2.0) < 0.4
    assert np.median(after) <= 1.0 and np.mean(after <= 2.0) >= 0.7
    # a monotone map that keeps the clip's ends and length and stays within the stretch limit
    assert tau[0] == 0.0 and tau[-1] == pytest.approx(299.0) and np.all(np.diff(tau) >= 0.0)
    rate = np.diff(tau)
    assert rate.max() <= bl.MAX_STRETCH + 1e-6 and rate.min() >= 1.0 / bl.MAX_STRETCH - 1e-6


def test_strength_zero_or_a_short_clip_leaves_the_timing_alone():
    pos = _pulsing(120, every=18.0)
    np.testing.assert_array_equal(bl.beat_lock_map(pos, 30.0, 90.0, strength=0.0), np.arange(120))
    np.testing.assert_array_equal(bl.beat_lock_map(pos[:3], 30.0, 90.0), np.arange(3))
    half = bl.beat_lock_map(pos, 30.0, 90.0, phase=-0.25, strength=0.5)
    full = bl.beat_lock_map(pos, 30.0, 90.0, phase=-0.25)
    assert 0.0 < np.abs(half - np.arange(120)).max() < np.abs(full - np.arange(120)).max()


def test_anchors_never_reverse_time_or_overstretch():
    music = np.array([20.0, 40.0, 60.0, 80.0])
    # 38 is the nearest motion beat for both 40 and (within reach) nothing else; 41 -> 60 would
    # need a 19/3 stretch and must be dropped
    kin = np.array([22.0, 38.0, 41.0, 79.0])
    src, dst = bl.beat_anchors(kin, music, period=20.0, frames=100)
    assert src[0] == 0.0 and src[-1] == 99.0 and dst[-1] == 99.0
    assert np.all(np.diff(src) > 0) and np.all(np.diff(dst) > 0)
    ratio = np.diff(dst) / np.diff(src)
    assert ratio.max() <= bl.MAX_STRETCH and ratio.min() >= 1.0 / bl.MAX_STRETCH
    assert 41.0 not in src[1:-1] or 60.0 not in dst[1:-1]
    assert {22.0, 79.0} <= set(src.tolist())


def test_warped_features_keep_the_root_path():
    feats = np.zeros((200, 148))
    feats[:, 1] = 0.01  # 1 cm per frame sideways
    feats[:, 3] = 0.002  # a slow turn
    tau = bl.beat_lock_map(_pulsing(200, 17.0), 30.0, 100.0, phase=0.3)
    assert np.abs(np.diff(tau) - 1.0).max() > 0.05  # the map really retimes
    out = bl.warp_features(feats, tau)
    assert out[:, 1].sum() == pytest.approx(feats[:, 1].sum(), rel=0.02)
    assert out[:, 3].sum() == pytest.approx(feats[:, 3].sum(), rel=0.02)
    assert out.shape == feats.shape


def test_default_engine_dances_on_the_beat_with_beat_lock():
    eng = load_engine(DEFAULT, backend="cpu", threads=1)
    try:
        meta = eng.metadata
        assert meta.beat_input
        off, on = [], []
        music = bl.music_beat_times(600, meta.fps, 110.0)
        # every style at six seeds: one clip's gain ranges from 0.03 to 0.4 (it depends on how
        # far off the beat the network happened to dance), so two clips prove little
        for name in ("salsa", "modern", "groove"):
            style = style_vector(meta, {name: 1.0})
            for seed in range(40, 46):
                for lock, acc in ((0.0, off), (1.0, on)):
                    r = generate(eng, frames=600, style=style, seed=seed, bpm=110.0, beat_lock=lock)
                    assert r.clip.n_frames == 600
                    kin = kinematic_beats(r.clip.world()[0], meta.fps)
                    acc.append(np.mean(_offbeat(kin, music) <= 2.0))
        # share of beats with a motion beat within 2 frames (67 ms)
        assert np.mean(on) > np.mean(off) + 0.1, (np.mean(off), np.mean(on))
    finally:
        eng.close()
