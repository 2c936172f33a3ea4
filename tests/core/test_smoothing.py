"""Jerk smoothing: exactness of the banded solve, filter properties and clip smoothing.

Tolerances: the banded solve matches a dense solve to 1e-9 relative for lam up to 1e4 (1e-6 at
1e7, where the system's condition number is ~6e8); polynomials of degree <= 2 pass to 1e-8
(relative to the signal's size); a unit step overshoots (and undershoots) by less than 8% of the
step: the filter's impulse response has small negative lobes, like any sharp low-pass; measured
4.4-5.7% at 30-120 fps and every strength.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dance_ai_addon.core import rotations as R
from dance_ai_addon.core.bvh import load_bvh_clip
from dance_ai_addon.core.clip import MotionClip
from dance_ai_addon.core.errors import DanceAIError
from dance_ai_addon.core.smoothing import (
    jerk_smooth,
    jerk_smooth_channels_first,
    mean_squared_jerk,
    smooth_clip,
    strength_to_lambda,
    third_difference_bands,
)

SALSA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "cmu_60_01_sl60.bvh")


def dense_solution(y, lam):
    T = y.shape[0]
    D = np.diff(np.eye(T), n=3, axis=0)
    return np.linalg.solve(np.eye(T) + lam * D.T @ D, y)


def test_bands_match_dense_matrix():
    for T in (4, 5, 9, 40):
        D = np.diff(np.eye(T), n=3, axis=0)
        A = np.eye(T) + 2.5 * D.T @ D
        bands = third_difference_bands(T, 2.5)
        for k in range(4):
            np.testing.assert_allclose(bands[k, k:], np.diag(A, -k), atol=1e-12)
        assert np.all(np.abs(np.tril(A, -4)) == 0)


@pytest.mark.parametrize("T", [4, 5, 31, 32, 33, 95, 96, 97, 250, 1500])
@pytest.mark.parametrize("lam", [1e-3, 1.0, 1e2, 1e4])
def test_matches_dense_solve(T, lam):
    rng = np.random.default_rng(T)
    y = rng.standard_normal((T, 7)) + np.linspace(0, 5, T)[:, None]
    ref = dense_solution(y, lam)
    np.testing.assert_allclose(jerk_smooth(y, lam), ref, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_allclose(
        jerk_smooth_channels_first(y.T.copy(), lam).T, ref, atol=1e-9 * np.abs(ref).max()
    )


def test_matches_dense_solve_stiff():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((600, 3))
    ref = dense_solution(y, 1e7)
    np.testing.assert_allclose(jerk_smooth(y, 1e7), ref, atol=1e-6 * np.abs(ref).max())


@settings(max_examples=40, deadline=None)
@given(
    T=st.integers(4, 400),
    lam=st.floats(1e-3, 1e5),
    coef=st.lists(st.floats(-10, 10), min_size=3, max_size=3),
)
def test_constant_acceleration_passes_unchanged(T, lam, coef):
    t = np.arange(T) / 30.0
    y = (coef[0] + coef[1] * t + coef[2] * t * t)[:, None] * np.array([1.0, -2.0, 0.5])
    out = jerk_smooth(y, lam)
    scale = max(1.0, np.abs(y).max())
    np.testing.assert_allclose(out, y, atol=1e-8 * scale)


def test_endpoints_not_dragged_to_zero():
    y = np.full((200, 2), 1000.0)
    y[:, 1] = np.linspace(50, 80, 200)
    out = jerk_smooth(y + np.random.default_rng(1).normal(0, 1, y.shape), 1e4)
    assert abs(out[0, 0] - 1000) < 5 and abs(out[-1, 0] - 1000) < 5
    assert abs(out[0, 1] - 50) < 5 and abs(out[-1, 1] - 80) < 5


def test_step_overshoot_bounded_and_msj_monotonic():
    fps = 30.0
    y = np.zeros((300, 1))
    y[150:] = 1.0
    msj = [mean_squared_jerk(y, fps)]
    for s in (0.1, 0.3, 0.5, 0.7, 0.9, 1.0):
        out = jerk_smooth(y, strength_to_lambda(s, fps))
        assert out.max() < 1.08 and out.min() > -0.08, (s, out.min(), out.max())
        msj.append(mean_squared_jerk(out, fps))
        # the step is still there: far from the edge the signal settles
        assert abs(out[10, 0]) < 0.05 and abs(out[-10, 0] - 1.0) < 0.05
    assert all(a > b for a, b in zip(msj, msj[1:])), msj


def test_strength_mapping():
    assert strength_to_lambda(0.0, 30) == 0.0
    lam30 = [strength_to_lambda(s, 30) for s in np.linspace(0.05, 1, 20)]
    assert all(a < b for a, b in zip(lam30, lam30[1:]))
    # same strength, same cutoff in Hz: gain at a 2 Hz sine matches at 30 and 60 fps
    for s in (0.2, 0.5, 0.8):
        gains = []
        for fps in (30.0, 60.0):
            t = np.arange(int(20 * fps)) / fps
            x = np.sin(2 * np.pi * 2.0 * t)[:, None]
            out = jerk_smooth(x, strength_to_lambda(s, fps))
            mid = slice(len(t) // 4, 3 * len(t) // 4)
            gains.append(np.std(out[mid]) / np.std(x[mid]))
        assert abs(gains[0] - gains[1]) < 0.02, (s, gains)
    with pytest.raises(DanceAIError):
        strength_to_lambda(1.5, 30)
    with pytest.raises(DanceAIError):
        strength_to_lambda(0.5, 0)


def test_zero_strength_and_short_input():
    y = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_array_equal(jerk_smooth(y, 10.0), y)
    z = np.random.default_rng(1).standard_normal((50, 4))
    np.testing.assert_array_equal(jerk_smooth(z, 0.0), z)
    assert jerk_smooth(z[:, 0], 5.0).shape == (50,)
    with pytest.raises(DanceAIError):
        jerk_smooth(z, -1.0)


def noisy_clip():
    clip = load_bvh_clip(SALSA).trim(0, 600)
    rng = np.random.default_rng(2)
    noise = R.axis_angle_to_quat(rng.normal(0, 0.05, clip.rotations.shape[:2] + (3,)))
    rot = R.quat_mul(clip.rotations, noise)
    root = clip.root_positions + rng.normal(0, 0.01, clip.root_positions.shape)
    return MotionClip(clip.skeleton, rot, root, clip.fps, "noisy")


def test_smooth_clip_reduces_jerk_monotonically():
    clip = noisy_clip()

    def jerk(c):
        pos, _ = c.world()
        return mean_squared_jerk(pos, c.fps)

    values = [jerk(clip)]
    for s in (0.1, 0.3, 0.6, 1.0):
        sm = smooth_clip(clip, s)
        np.testing.assert_allclose(np.linalg.norm(sm.rotations, axis=-1), 1.0, atol=1e-12)
        values.append(jerk(sm))
    assert all(a > b for a, b in zip(values, values[1:])), values
    # a mild setting removes most of the jitter but keeps the dance
    sm = smooth_clip(clip, 0.3)
    ref = load_bvh_clip(SALSA).trim(0, 600)
    err_noisy = np.mean(R.quat_angle(clip.rotations, ref.rotations))
    err_sm = np.mean(R.quat_angle(sm.rotations, ref.rotations))
    assert err_sm < 0.7 * err_noisy


def test_smooth_clip_strength_zero_is_identical_copy():
    clip = noisy_clip()
    out = smooth_clip(clip, 0.0)
    assert out is not clip
    np.testing.assert_array_equal(out.rotations, clip.rotations)
    np.testing.assert_array_equal(out.root_positions, clip.root_positions)
    out.rotations[0, 0] = [0, 1, 0, 0]
    assert clip.rotations[0, 0, 0] != 0 or clip.rotations[0, 0, 1] != 1


def test_smooth_clip_ignores_quaternion_signs():
    clip = noisy_clip()
    flipped = clip.copy()
    rng = np.random.default_rng(3)
    flips = np.where(rng.random(flipped.rotations.shape[:2]) < 0.5, -1.0, 1.0)
    flipped.rotations = flipped.rotations * flips[..., None]
    a = smooth_clip(clip, 0.5)
    b = smooth_clip(flipped, 0.5)
    assert np.max(R.quat_angle(a.rotations, b.rotations)) < 1e-9
    # output keeps the input's hemisphere frame by frame
    assert np.all(np.sum(b.rotations * flipped.rotations, axis=-1) > 0)
    np.testing.assert_allclose(a.root_positions, b.root_positions, atol=1e-12)


def test_smooth_clip_handles_full_turns():
    """A root spinning 3 full turns stays a smooth spin (6D has no wrap-around)."""
    clip = noisy_clip()
    T = clip.n_frames
    ang = np.linspace(0, 6 * np.pi, T)
    spin = R.axis_angle_to_quat(np.stack([0 * ang, ang, 0 * ang], axis=-1))
    rot = clip.rotations.copy()
    rot[:, 0] = spin
    c = MotionClip(clip.skeleton, rot, clip.root_positions, clip.fps)
    sm = smooth_clip(c, 0.5)
    assert np.max(R.quat_angle(sm.rotations[:, 0], spin)) < 1e-3
