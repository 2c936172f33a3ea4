"""Continuous style descriptors computable from any clip's world joint positions.

They condition the engine next to the style axes, so a user can ask for "more energy" or "more
travel" with a slider, and the metrics check that the generated motion follows the slider. Each is
measured per frame as a centred rolling window (default 2 s; shrinking at the clip edges) over
SMPL-24 world positions (Y up, meters):

- ``energy``: mean joint speed (m/s) after removing the pelvis's horizontal travel, so it measures
  limb and body activity rather than walking speed;
- ``expansiveness``: mean distance of the wrists and ankles from the pelvis (m);
- ``bounce``: standard deviation of the pelvis height inside the window (m);
- ``travel``: horizontal pelvis speed (m/s);
- ``turning``: absolute yaw rate of the hips' heading (rad/s).

The raw values are normalised to 0..1 with fixed ranges (the 2nd and 98th percentiles over the
training frames), stored next to the dataset and in the engine metadata, so slider 0..1 maps to the
range seen in training.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DESCRIPTOR_NAMES",
    "DEFAULT_WINDOW_S",
    "frame_descriptors",
    "clip_descriptors",
    "rolling_mean",
    "fit_descriptor_ranges",
    "normalise_descriptors",
    "denormalise_descriptors",
]

DESCRIPTOR_NAMES: list[str] = ["energy", "expansiveness", "bounce", "travel", "turning"]
DEFAULT_WINDOW_S = 2.0

# SMPL-24 indices used here
PELVIS, L_HIP, R_HIP = 0, 1, 2
EXTREMITIES = np.array([20, 21, 7, 8])  # L_Wrist, R_Wrist, L_Ankle, R_Ankle


def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Centred rolling mean along axis 0 over ``window`` frames (odd), shrinking at the edges."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    half = max(0, int(window) // 2)
    c = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)], axis=0)
    idx = np.arange(n)
    lo = np.clip(idx - half, 0, n)
    hi = np.clip(idx + half + 1, 0, n)
    cnt = (hi - lo).reshape((n,) + (1,) * (x.ndim - 1))
    return (c[hi] - c[lo]) / cnt


def _heading(positions: np.ndarray) -> np.ndarray:
    """Yaw (T,) of the body's forward direction: the hip axis (left - right) turned by -90 deg."""
    hip = positions[:, L_HIP] - positions[:, R_HIP]
    # forward = (left - right) x up for a left-on-+X, forward-+Z body: (hx, 0, hz) -> (-hz, 0, hx);
    # yaw = atan2(forward_x, forward_z) as in core.engines.features.heading_yaw
    return np.arctan2(-hip[:, 2], hip[:, 0])


def _instant(positions: np.ndarray, fps: float) -> np.ndarray:
    """Per-frame instantaneous quantities (T, 5): energy, expansiveness, height, travel, turning."""
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim != 3 or p.shape[1] < 22 or p.shape[2] != 3:
        raise ValueError(f"positions must be SMPL-24 (T, 24, 3), got {p.shape}")
    n = p.shape[0]
    out = np.zeros((n, 5))
    pelvis = p[:, PELVIS]
    rel = p.copy()
    rel[..., 0] -= pelvis[:, None, 0]
    rel[..., 2] -= pelvis[:, None, 2]
    out[:, 1] = np.linalg.norm(p[:, EXTREMITIES] - pelvis[:, None], axis=-1).mean(axis=1)
    out[:, 2] = pelvis[:, 1]
    if n >= 2:
        v = np.gradient(rel, axis=0) * fps
        out[:, 0] = np.linalg.norm(v, axis=-1).mean(axis=1)
        vp = np.gradient(pelvis[:, [0, 2]], axis=0) * fps
        out[:, 3] = np.linalg.norm(vp, axis=-1)
        yaw = np.unwrap(_heading(p))
        out[:, 4] = np.abs(np.gradient(yaw)) * fps
    return out


def frame_descriptors(
    positions: np.ndarray, fps: float, window_s: float = DEFAULT_WINDOW_S
) -> np.ndarray:
    """Raw descriptors per frame (T, 5) in ``DESCRIPTOR_NAMES`` order (SI units, see module doc)."""
    fps = float(fps)
    inst = _instant(positions, fps)
    w = max(1, int(round(window_s * fps)) | 1)
    m = rolling_mean(inst, w)
    h2 = rolling_mean(inst[:, 2:3] ** 2, w)[:, 0]
    m[:, 2] = np.sqrt(np.maximum(h2 - m[:, 2] ** 2, 0.0))
    return m


def clip_descriptors(
    positions: np.ndarray, fps: float, window_s: float = DEFAULT_WINDOW_S
) -> np.ndarray:
    """Raw descriptors of a whole clip (5,): the mean of the per-frame windowed values."""
    return frame_descriptors(positions, fps, window_s).mean(axis=0)


def fit_descriptor_ranges(raw: np.ndarray, lo_pct: float = 2.0, hi_pct: float = 98.0) -> np.ndarray:
    """Normalisation ranges (D, 2): low and high percentiles of raw per-frame values (N, D)."""
    raw = np.asarray(raw, dtype=np.float64)
    lo = np.percentile(raw, lo_pct, axis=0)
    hi = np.percentile(raw, hi_pct, axis=0)
    hi = np.where(hi - lo < 1e-6, lo + 1e-6, hi)
    return np.stack([lo, hi], axis=1)


def normalise_descriptors(raw: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Map raw descriptors (..., D) to 0..1 with ``ranges`` (D, 2), clipped."""
    r = np.asarray(ranges, dtype=np.float64)
    return np.clip((np.asarray(raw, dtype=np.float64) - r[:, 0]) / (r[:, 1] - r[:, 0]), 0.0, 1.0)


def denormalise_descriptors(norm: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalise_descriptors` (inside the range)."""
    r = np.asarray(ranges, dtype=np.float64)
    return r[:, 0] + np.asarray(norm, dtype=np.float64) * (r[:, 1] - r[:, 0])
