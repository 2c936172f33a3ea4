"""MotionClip validation, resampling, trimming, concatenation and mirroring."""

from __future__ import annotations

import numpy as np
import pytest

from dance_ai_addon.core import rotations as R
from dance_ai_addon.core.clip import MotionClip, mirror_clip
from dance_ai_addon.core.errors import DanceAIError
from dance_ai_addon.core.skeleton import smpl24_mirror_indices, smpl24_skeleton


def smooth_clip(T=31, fps=30.0, seed=0):
    """A clip whose joints rotate at constant angular velocity about fixed axes."""
    rng = np.random.default_rng(seed)
    sk = smpl24_skeleton()
    axes = rng.standard_normal((24, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    speed = rng.uniform(-2, 2, 24)  # rad/s
    t = np.arange(T) / fps
    rot = R.axis_angle_to_quat(axes[None] * (speed[None] * t[:, None])[..., None])
    root = np.stack([0.5 * t, 0.9 + 0.0 * t, -0.2 * t], axis=-1)
    return MotionClip(sk, rot, root, fps, "test"), axes, speed


def test_validation():
    clip, _, _ = smooth_clip()
    sk = clip.skeleton
    with pytest.raises(DanceAIError, match="rotations must have shape"):
        MotionClip(sk, np.zeros((5, 23, 4)), np.zeros((5, 3)), 30)
    with pytest.raises(DanceAIError, match="root positions"):
        MotionClip(sk, R.quat_identity((5, 24)), np.zeros((4, 3)), 30)
    bad = R.quat_identity((5, 24))
    bad[3, 2, 1] = np.nan
    with pytest.raises(DanceAIError, match="frame 3"):
        MotionClip(sk, bad, np.zeros((5, 3)), 30)
    root = np.zeros((5, 3))
    root[1, 0] = np.inf
    with pytest.raises(DanceAIError, match="frame 1"):
        MotionClip(sk, R.quat_identity((5, 24)), root, 30)
    with pytest.raises(DanceAIError, match="frame rate"):
        MotionClip(sk, R.quat_identity((5, 24)), np.zeros((5, 3)), 0)
    with pytest.raises(DanceAIError, match="zero-length"):
        MotionClip(sk, np.zeros((5, 24, 4)), np.zeros((5, 3)), 30)
    assert clip.n_frames == 31 and clip.duration == pytest.approx(1.0)
    c = clip.copy()
    c.rotations[0, 0] = [0, 1, 0, 0]
    assert clip.rotations[0, 0, 0] == 1.0


def test_resample_slerp_exact():
    clip, axes, speed = smooth_clip(T=31, fps=30.0)
    up = clip.resample(120.0)
    assert up.n_frames == 121 and up.fps == 120.0
    # every 4th frame is an original frame, bit for bit
    np.testing.assert_array_equal(up.rotations[::4], clip.rotations)
    np.testing.assert_array_equal(up.root_positions[-1], clip.root_positions[-1])
    # in-between frames lie on the constant-velocity path (slerp, not Euler lerp)
    t = np.arange(121) / 120.0
    expect = R.axis_angle_to_quat(axes[None] * (speed[None] * t[:, None])[..., None])
    assert np.max(R.quat_angle(up.rotations, expect)) < 1e-9
    np.testing.assert_allclose(up.root_positions[:, 0], 0.5 * t, atol=1e-12)
    down = up.resample(30.0)
    assert down.n_frames == 31
    assert np.max(R.quat_angle(down.rotations, clip.rotations)) < 1e-12
    # non-integer ratio: 30 -> 24 fps keeps time k/24 and ends at or before the last frame
    c24 = clip.resample(24)
    assert c24.n_frames == 25
    t24 = np.arange(25) / 24.0
    e24 = R.axis_angle_to_quat(axes[None] * (speed[None] * t24[:, None])[..., None])
    assert np.max(R.quat_angle(c24.rotations, e24)) < 1e-9
    with pytest.raises(DanceAIError):
        clip.resample(-1)


def test_resample_handles_sign_flips():
    clip, _, _ = smooth_clip(T=11)
    flipped = clip.copy()
    flipped.rotations[1::2] *= -1
    a = clip.resample(60).rotations
    b = flipped.resample(60).rotations
    assert np.max(R.quat_angle(a, b)) < 1e-9


def test_trim():
    clip, _, _ = smooth_clip(T=20)
    t = clip.trim(5, 12)
    assert t.n_frames == 7
    np.testing.assert_array_equal(t.rotations, clip.rotations[5:12])
    assert clip.trim(-3).n_frames == 3
    with pytest.raises(DanceAIError, match="no frames"):
        clip.trim(10, 10)


def test_concat_plain_and_crossfade():
    a, _, _ = smooth_clip(T=20, seed=1)
    b, _, _ = smooth_clip(T=15, seed=2)
    b.root_positions += [5.0, 0.3, -7.0]
    c = a.concat(b)
    assert c.n_frames == 35
    np.testing.assert_array_equal(c.rotations[:20], a.rotations)
    np.testing.assert_array_equal(c.rotations[20:], b.rotations)
    # horizontal continuation: one step of a's last velocity, height from b kept
    step = a.root_positions[-1] - a.root_positions[-2]
    np.testing.assert_allclose(c.root_positions[20, [0, 2]], (a.root_positions[-1] + step)[[0, 2]])
    np.testing.assert_allclose(c.root_positions[20, 1], b.root_positions[0, 1])
    np.testing.assert_allclose(
        np.diff(c.root_positions[20:], axis=0), np.diff(b.root_positions, axis=0)
    )

    k = 5
    x = a.concat(b, crossfade_frames=k)
    assert x.n_frames == 30
    np.testing.assert_array_equal(x.rotations[:15], a.rotations[:15])
    np.testing.assert_array_equal(x.rotations[20:], b.rotations[5:])
    w = np.arange(1, k + 1) / (k + 1)
    expect = R.quat_slerp(a.rotations[15:], b.rotations[:5], w[:, None])
    assert np.max(R.quat_angle(x.rotations[15:20], expect)) < 1e-12
    # the fade moves monotonically from a towards b
    d_a = R.quat_angle(x.rotations[15:20], a.rotations[15:20]).mean(axis=1)
    assert np.all(np.diff(d_a) > 0)
    with pytest.raises(DanceAIError, match="Crossfade"):
        a.concat(b, crossfade_frames=16)


def test_concat_resamples_other_fps():
    a, _, _ = smooth_clip(T=31, fps=30)
    b, _, _ = smooth_clip(T=61, fps=60, seed=3)
    c = a.concat(b)
    assert c.fps == 30 and c.n_frames == 31 + 31


def test_mirror_clip_fk_is_mirror_image():
    clip, _, _ = smooth_clip(T=10)
    m = mirror_clip(clip)
    perm = smpl24_mirror_indices()
    p, r = clip.world()
    mp, mr = m.world()
    np.testing.assert_allclose(mp, p[:, perm] * [-1, 1, 1], atol=1e-12)
    np.testing.assert_allclose(
        R.quat_to_matrix(mr),
        np.diag([-1, 1, 1]) @ R.quat_to_matrix(r[:, perm]) @ np.diag([-1, 1, 1]),
        atol=1e-12,
    )
    # mirroring twice is the identity
    mm = mirror_clip(m)
    np.testing.assert_allclose(mm.rotations, clip.rotations, atol=1e-15)
    np.testing.assert_allclose(mm.root_positions, clip.root_positions, atol=1e-15)
