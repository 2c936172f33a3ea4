"""Kinematic beats: the moments a dancing body momentarily slows down.

AIST++ and Bailando define a motion's beats as the local minima of its (smoothed) mean joint
speed: a step lands, an arm reaches its extreme. The runtime's beat lock
(:mod:`.beat_lock`) moves these onto the music's beat grid; the training code estimates each
mocap take's tempo from them and scores beat alignment with them, so both read beats the same way.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SPEED_SIGMA_S",
    "mean_joint_speed",
    "smooth_gaussian",
    "local_minima",
    "kinematic_beats",
    "beat_frames",
]

# Gaussian smoothing of the speed curve before taking minima: Bailando uses sigma = 5 frames at
# 60 fps (~83 ms); expressed in seconds so any frame rate gives the same smoothing.
SPEED_SIGMA_S = 5.0 / 60.0


def mean_joint_speed(positions: np.ndarray, fps: float) -> np.ndarray:
    """Mean joint speed per frame (T,) in m/s from world positions (T, J, 3)."""
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 3:
        raise ValueError(f"positions must be (T, J, 3), got {p.shape}")
    if p.shape[0] < 2:
        return np.zeros(p.shape[0])
    v = np.gradient(p, axis=0) * float(fps)
    return np.linalg.norm(v, axis=-1).mean(axis=-1)


def smooth_gaussian(x: np.ndarray, sigma: float, axis: int = 0) -> np.ndarray:
    """Gaussian smoothing along ``axis`` with edge-normalised weights (no scipy needed)."""
    x = np.asarray(x, dtype=np.float64)
    if sigma <= 0 or x.shape[axis] < 2:
        return x.copy()
    radius = int(np.ceil(3.0 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    xm = np.moveaxis(x, axis, -1)
    n = xm.shape[-1]
    flat = xm.reshape(-1, n)
    norm = np.convolve(np.ones(n), k, mode="full")[radius : radius + n]
    out = np.stack([np.convolve(r, k, mode="full")[radius : radius + n] for r in flat]) / norm
    return np.moveaxis(out.reshape(xm.shape), -1, axis)


def local_minima(s: np.ndarray) -> np.ndarray:
    """Indices of strict-left / non-strict-right local minima of a 1-D curve (no endpoints)."""
    if s.size < 3:
        return np.zeros(0, dtype=np.int64)
    m = (s[1:-1] < s[:-2]) & (s[1:-1] <= s[2:])
    return np.nonzero(m)[0].astype(np.int64) + 1


def kinematic_beats(
    positions: np.ndarray, fps: float, sigma_s: float = SPEED_SIGMA_S
) -> np.ndarray:
    """Frame indices of the kinematic beats: local minima of the smoothed mean joint speed."""
    s = smooth_gaussian(mean_joint_speed(positions, fps), sigma_s * float(fps))
    return local_minima(s)


def beat_frames(n_frames: int, fps: float, bpm: float, offset: float = 0.0) -> np.ndarray:
    """Frame indices (rounded) of the beat grid ``t = (k + offset) * 60 / bpm`` inside the clip."""
    period = 60.0 / float(bpm) * float(fps)
    first = (float(offset) % 1.0) * period
    k = np.arange(0, int(np.ceil((n_frames - first) / period)) + 1)
    fr = np.round(first + k * period).astype(np.int64)
    return fr[(fr >= 0) & (fr < n_frames)]
