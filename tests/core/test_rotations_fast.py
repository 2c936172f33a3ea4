"""The chunked, buffer-reusing conversion paths agree with a plain reference implementation.

sixd_to_quat takes a w-branch fast path for rotations up to 120° and the full Shepperd
selection elsewhere (on a gathered subset, or on whole blocks when most rotations are large);
matrix_to_quat always selects the largest component. These tests cover every path, the block
boundaries, signs and 180° cases.
"""

from __future__ import annotations

import numpy as np
import pytest

from dance_ai_addon.core import rotations as R
from dance_ai_addon.core import smoothing as S
from dance_ai_addon.core.clip import MotionClip
from dance_ai_addon.core.skeleton import smpl24_skeleton


def ref_matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Textbook Shepperd: argmax over the four 1 + t_k, gather, normalise, w >= 0."""
    m = np.asarray(m, dtype=np.float64)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    t = np.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1
    )
    cand = np.stack(
        [
            np.stack([t[..., 0], m21 - m12, m02 - m20, m10 - m01], -1),
            np.stack([m21 - m12, t[..., 1], m10 + m01, m02 + m20], -1),
            np.stack([m02 - m20, m10 + m01, t[..., 2], m21 + m12], -1),
            np.stack([m10 - m01, m02 + m20, m21 + m12, t[..., 3]], -1),
        ],
        -2,
    )
    k = np.argmax(t, axis=-1)
    q = np.take_along_axis(cand, k[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def ref_sixd_to_quat(d: np.ndarray) -> np.ndarray:
    return ref_matrix_to_quat(R.sixd_to_matrix(d))


def sign_free_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.minimum(np.abs(a - b).max(-1), np.abs(a + b).max(-1))))


def rotations_mix(n: int, frac_large: float, seed: int) -> np.ndarray:
    """Unit quaternions: small rotations (< 90°) with a fraction of uniformly random ones."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    v *= (rng.uniform(0, np.pi / 2, n) / np.linalg.norm(v, axis=1))[:, None]
    q = R.axis_angle_to_quat(v)
    big = rng.random(n) < frac_large
    q[big] = R.quat_normalize(rng.normal(size=(int(big.sum()), 4)))
    return q


def half_turns() -> np.ndarray:
    """Exact and near 180° rotations about many axes, plus the 120° boundary (trace = 0)."""
    rng = np.random.default_rng(1)
    axes = np.concatenate([np.eye(3), -np.eye(3), rng.normal(size=(40, 3))])
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = [np.pi, np.pi - 1e-9, np.pi - 1e-6, 2 * np.pi / 3, 2 * np.pi / 3 + 1e-12, 0.0]
    return np.concatenate([R.axis_angle_to_quat(axes * a) for a in angles])


@pytest.mark.parametrize("frac_large", [0.0, 0.1, 0.5, 1.0])
def test_sixd_to_quat_matches_reference_on_every_path(frac_large):
    n = 2 * R._CHUNK + 37  # several blocks plus a ragged tail
    q = rotations_mix(n, frac_large, seed=int(frac_large * 10))
    d = R.quat_to_sixd(q)
    out = R.sixd_to_quat(d)
    ref = ref_sixd_to_quat(d)
    assert np.all(out[:, 0] >= 0.0)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(out, ref, atol=1e-14)  # w > 0 here: the signs agree exactly
    assert np.max(R.quat_angle(out, q)) < 1e-12


def test_sixd_to_quat_near_half_turns_and_signs():
    q = half_turns()
    d = R.quat_to_sixd(q)
    for qq, dd in ((q, d), (-q, R.quat_to_sixd(-q))):  # the input's sign must not matter
        out = R.sixd_to_quat(dd)
        assert np.all(out[:, 0] >= 0.0)
        assert sign_free_diff(out, qq) < 1e-12
        assert sign_free_diff(out, ref_sixd_to_quat(dd)) < 1e-14
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-14)


def test_sixd_to_quat_half_turns_among_small_rotations():
    # a few large rotations in a block of small ones take the gathered-subset path
    q = np.concatenate([rotations_mix(3000, 0.0, seed=9), half_turns(), -half_turns()])
    d = R.quat_to_sixd(q)
    out = R.sixd_to_quat(d)
    assert np.all(out[:, 0] >= 0.0)
    assert sign_free_diff(out, q) < 1e-12
    assert sign_free_diff(out, ref_sixd_to_quat(d)) < 1e-14


def test_sixd_to_quat_unnormalised_and_strided_input():
    q = rotations_mix(5000, 0.3, seed=3)
    d = R.quat_to_sixd(q)
    rng = np.random.default_rng(4)
    noisy = d * rng.uniform(0.5, 2.0, (d.shape[0], 1)) + rng.normal(0, 1e-3, d.shape)
    np.testing.assert_allclose(R.sixd_to_quat(noisy), ref_sixd_to_quat(noisy), atol=1e-14)
    # a transposed (non-contiguous) view gives the same answer as a contiguous copy
    cm = np.ascontiguousarray(d.T)
    np.testing.assert_array_equal(R.sixd_to_quat(cm.T), R.sixd_to_quat(d))
    # leading axes and a block boundary inside them
    d3 = R.quat_to_sixd(rotations_mix(3 * 4000, 0.2, seed=5)).reshape(3, 4000, 6)
    np.testing.assert_allclose(R.sixd_to_quat(d3), ref_sixd_to_quat(d3), atol=1e-14)


@pytest.mark.parametrize("frac_large", [0.0, 0.1, 1.0])
def test_matrix_to_quat_matches_reference(frac_large):
    q = np.concatenate([rotations_mix(R._CHUNK + 5, frac_large, seed=7), half_turns()])
    m = R.quat_to_matrix(q)
    out = R.matrix_to_quat(m)
    assert np.all(out[:, 0] >= 0.0)
    assert sign_free_diff(out, ref_matrix_to_quat(m)) < 1e-14
    assert sign_free_diff(out, q) < 1e-12
    # a slightly non-orthonormal matrix still gives a unit quaternion
    scaled = m * 1.001
    np.testing.assert_allclose(np.linalg.norm(R.matrix_to_quat(scaled), axis=1), 1.0, atol=1e-14)
    assert sign_free_diff(R.matrix_to_quat(scaled), ref_matrix_to_quat(scaled)) < 1e-14


def test_quat_to_sixd_scaled_and_zero_quaternions():
    q = rotations_mix(R._CHUNK + 11, 0.5, seed=8)
    ref = np.concatenate([R.quat_to_matrix(q)[..., :, 0], R.quat_to_matrix(q)[..., :, 1]], -1)
    np.testing.assert_allclose(R.quat_to_sixd(q), ref, atol=1e-15)
    np.testing.assert_allclose(R.quat_to_sixd(3.0 * q), ref, atol=1e-15)
    z = q.copy()
    z[[0, R._CHUNK, R._CHUNK + 10]] = 0.0  # zero quaternions, in two blocks, map to identity
    out = R.quat_to_sixd(z)
    np.testing.assert_array_equal(out[[0, R._CHUNK, R._CHUNK + 10]], [[1, 0, 0, 0, 1, 0]] * 3)
    np.testing.assert_allclose(out[1 : R._CHUNK], ref[1 : R._CHUNK], atol=1e-15)


def reference_smooth_clip(clip: MotionClip, strength: float) -> MotionClip:
    """The straightforward pipeline smooth_clip replaces: 6D of every joint, solve, back."""
    lam = S.strength_to_lambda(strength, clip.fps)
    T, J = clip.n_frames, clip.n_joints
    x = np.concatenate([R.quat_to_sixd(clip.rotations).reshape(T, 6 * J), clip.root_positions], 1)
    sm = S.jerk_smooth(x, lam)
    q = ref_sixd_to_quat(sm[:, : 6 * J].reshape(T, J, 6))
    q[np.sum(q * clip.rotations, axis=-1) < 0] *= -1.0
    return MotionClip(clip.skeleton.copy(), q, sm[:, 6 * J :], clip.fps, clip.name)


def dance_clip(T: int, seed: int, still: tuple[int, ...] = ()) -> MotionClip:
    sk = smpl24_skeleton()
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None, None] / 30.0
    rv = rng.uniform(0.2, 1.5, (24, 3)) * np.sin(2 * np.pi * rng.uniform(0.2, 2, (24, 3)) * t)
    rv += rng.normal(0, 0.03, rv.shape)
    q = R.axis_angle_to_quat(rv)
    q[:, 5] *= -1.0  # a joint stored in the other hemisphere
    q[::7, 8] *= -1.0  # and one that flips sign every 7th frame
    q[:, list(still)] = R.axis_angle_to_quat([0.3, -0.2, 0.1]) if still else q[:, list(still)]
    q[:, 23] = (1.0, 0.0, 0.0, 0.0)  # never moves
    root = np.stack([np.sin(t[:, 0, 0]), np.full(T, 0.9), 0.3 * t[:, 0, 0]], -1)
    return MotionClip(sk, q, root, 30.0, "dance")


@pytest.mark.parametrize("T,strength", [(50, 0.3), (R._CHUNK + 300, 0.7)])
def test_smooth_clip_matches_reference_pipeline(T, strength):
    clip = dance_clip(T, seed=T, still=(20, 21))
    out = S.smooth_clip(clip, strength)
    ref = reference_smooth_clip(clip, strength)
    np.testing.assert_allclose(out.rotations, ref.rotations, atol=1e-12)
    np.testing.assert_allclose(out.root_positions, ref.root_positions, atol=1e-12)
    # same sign hemisphere as the input, frame by frame, including the flipping joint
    assert np.all(np.sum(out.rotations * clip.rotations, axis=-1) >= 0.0)
    # joints that never move come back bit-identical (the constant channels skip the solve)
    np.testing.assert_array_equal(out.rotations[:, 23], clip.rotations[:, 23])
    np.testing.assert_allclose(out.rotations[:, 20], clip.rotations[:, 20], atol=1e-15)
    # the constant root height stays exactly constant; the moving channels did change
    np.testing.assert_array_equal(out.root_positions[:, 1], clip.root_positions[:, 1])
    assert np.max(R.quat_angle(out.rotations[:, 1], clip.rotations[:, 1])) > 1e-3


def test_smooth_clip_all_constant_clip_is_unchanged():
    sk = smpl24_skeleton()
    q = np.broadcast_to(R.axis_angle_to_quat([0.1, 0.2, -0.4]), (40, 24, 4)).copy()
    clip = MotionClip(sk, q, np.tile([0.0, 0.9, 0.0], (40, 1)), 30.0)
    out = S.smooth_clip(clip, 1.0)
    np.testing.assert_allclose(out.rotations, q, atol=1e-15)
    np.testing.assert_array_equal(out.root_positions, clip.root_positions)
