"""Kinematic beats, tempo estimation, beat phase and the beat alignment score."""

from __future__ import annotations

import numpy as np
import pytest

from dance_ai_addon.core.rotations import euler_to_quat
from dance_ai_addon.core.skeleton import forward_kinematics, smpl24_skeleton
from training.beats import (
    beat_alignment_score,
    beat_frames,
    beat_phase,
    estimate_tempo,
    estimate_tempo_and_offset,
    kinematic_beats,
)

FPS = 30.0


def swaying_dancer(bpm: float, seconds: float = 30.0, offset: float = 0.25, seed: int = 0):
    """SMPL-24 FK of a dancer who sways hips and arms to one side per beat (speed minima on beats).

    Beat k is at t = (k + offset) * 60 / bpm: each limb reaches an extreme there.
    """
    rng = np.random.default_rng(seed)
    sk = smpl24_skeleton()
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    f = bpm / 60.0
    # one full left-right cycle every two beats; extremes (zero velocity) on every beat
    s = np.cos(np.pi * (f * t - offset))
    eul = np.zeros((n, 24, 3))
    amp = rng.uniform(0.1, 0.4, size=24)
    eul[:, :, 2] = amp[None, :] * s[:, None] * 0.5
    eul[:, 16:22, 2] *= 2.0  # arms swing more
    rot = euler_to_quat(eul, "ZXY")
    root = np.zeros((n, 3))
    root[:, 0] = 0.15 * s
    root[:, 1] = 0.92
    pos, _ = forward_kinematics(sk, rot, root)
    pos += rng.normal(0.0, 0.001, pos.shape)
    return pos


@pytest.mark.parametrize("bpm", [72.0, 97.0, 118.0, 128.0, 150.0])
def test_tempo_of_synthetic_periodic_motion_within_2_bpm(bpm: float) -> None:
    pos = swaying_dancer(bpm)
    assert abs(estimate_tempo(pos, FPS) - bpm) < 2.0


def test_offset_puts_beat_phase_zero_on_the_beats() -> None:
    bpm, offset = 110.0, 0.3
    pos = swaying_dancer(bpm, offset=offset)
    est_bpm, est_off, strength = estimate_tempo_and_offset(pos, FPS)
    assert strength > 0.8
    d = (est_off - offset + 0.5) % 1.0 - 0.5  # circular difference in beats
    assert abs(d) < 0.08
    ph = beat_phase(len(pos), FPS, est_bpm, est_off)
    kin = kinematic_beats(pos, FPS)
    circ = (ph[kin] + 0.5) % 1.0 - 0.5
    assert np.median(np.abs(circ)) < 0.1


def test_beat_phase_range_and_grid() -> None:
    ph = beat_phase(900, FPS, 120.0, 0.0)
    assert ph.dtype == np.float32 and ph.shape == (900,)
    assert ph.min() >= 0.0 and ph.max() < 1.0
    # 120 BPM at 30 fps: a beat every 15 frames, phase 0 on them
    fr = beat_frames(900, FPS, 120.0, 0.0)
    assert np.array_equal(fr, np.arange(0, 900, 15))
    assert np.allclose(ph[fr], 0.0)


def test_beat_alignment_score_aligned_vs_shuffled() -> None:
    music = beat_frames(600, FPS, 120.0)
    assert beat_alignment_score(music, music, FPS) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    # beats shifted by half a period (7-8 frames) score low; random beats score in between
    off = beat_alignment_score(music + 7, music, FPS)
    random_beats = np.sort(rng.choice(600, size=len(music), replace=False))
    rand = beat_alignment_score(random_beats, music, FPS)
    assert off < 0.1
    assert off < rand < 0.9
    assert beat_alignment_score(np.array([], dtype=int), music, FPS) == 0.0


def test_kinematic_beats_of_synthetic_dancer_match_its_grid() -> None:
    pos = swaying_dancer(100.0, offset=0.0)
    kin = kinematic_beats(pos, FPS)
    grid = beat_frames(len(pos), FPS, 100.0, 0.0)
    assert beat_alignment_score(kin, grid, FPS) > 0.9
