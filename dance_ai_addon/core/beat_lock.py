"""Beat lock: retime generated motion so its kinematic beats land on the music's beats.

A dancer's accents (the moments the body slows: a step lands, an arm reaches its extreme, see
:mod:`.beats`) sit on the beat. A network conditioned on the beat phase may still place them
loosely (ours does, see training/EXPERIMENTS.md), so the runtime retimes its output: every beat of
the requested grid (``bpm``, ``phase``) takes a kinematic beat within 0.4 beat of it, and a
smooth, monotone time map ``tau`` (output frame -> source frame) carries it there.

- The map is piecewise linear through the (source, target) anchors, so playback runs a little
  faster or slower between beats; each stretch is kept within ``1 / max_stretch .. max_stretch``
  (the anchors kept are the longest chain that allows it, :func:`beat_anchors`), and the
  playback rate is then Gaussian-smoothed (0.12 s) so the retiming adds no visible jolt.
- The first and last frames stay where they are, so the clip keeps its length and a looping
  clip still closes.
- ``strength`` < 1 moves each beat only part of the way.

Applying the map to engine features (:func:`warp_features`) interpolates every channel at
``tau`` and scales the per-frame root deltas (velocities, yaw rate) by the playback rate, so the
root still travels the same path.
"""

from __future__ import annotations

import numpy as np

from .beats import SPEED_SIGMA_S, local_minima, mean_joint_speed, smooth_gaussian

__all__ = [
    "MAX_STRETCH",
    "RATE_SIGMA_S",
    "music_beat_times",
    "beat_anchors",
    "beat_lock_map",
    "warp_channels",
    "warp_features",
]

#: Largest local speed-up (and 1 / the largest slow-down) the retiming may use between beats.
MAX_STRETCH = 1.35
#: Gaussian smoothing (seconds) of the playback rate, so speed changes between beats are gentle.
RATE_SIGMA_S = 0.12
#: A music beat pairs only with kinematic beats within this fraction of a beat period.
CAPTURE = 0.4
#: Feature channels holding per-frame deltas (root velocity x/z, yaw rate): scaled by the rate.
DELTA_CHANNELS = (1, 2, 3)


def music_beat_times(frames: int, fps: float, bpm: float, phase: float = 0.0) -> np.ndarray:
    """Frames (float) of the beats inside ``[0, frames - 1]``.

    ``phase`` is in beats at frame 0, as :func:`.generation.beat_features` reads it, so beat ``k``
    is at frame ``(k - phase) * period``.
    """
    period = 60.0 / float(bpm) * float(fps)
    k0 = np.ceil(float(phase) - 1e-9)
    k1 = np.floor(float(phase) + (frames - 1) / period + 1e-9)
    k = np.arange(k0, k1 + 1.0)
    return (k - float(phase)) * period


def beat_anchors(
    kinematic: np.ndarray,
    music: np.ndarray,
    period: float,
    frames: int,
    strength: float = 1.0,
    max_stretch: float = MAX_STRETCH,
) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) frame anchors of the time map, first and last frame included.

    Candidates pair each music beat with the kinematic beat just before and just after it,
    within :data:`CAPTURE` of a period. A dynamic programme over them (in music order) keeps the
    chain with the most anchors, nearer pairs preferred, in which time only runs forward and no
    stretch between consecutive anchors exceeds ``max_stretch``.
    """
    kin = np.unique(np.asarray(kinematic, dtype=np.float64))
    mus = np.asarray(music, dtype=np.float64)
    end = float(frames - 1)
    src = dst = score = np.zeros(0)
    if kin.size and mus.size:
        pos = np.searchsorted(kin, mus)
        near = np.concatenate([kin[np.maximum(pos - 1, 0)], kin[np.minimum(pos, kin.size - 1)]])
        beat = np.concatenate([mus, mus])
        reach = CAPTURE * period
        ok = np.abs(near - beat) <= reach
        pairs = np.unique(np.stack([beat[ok], near[ok]], axis=1), axis=0)  # by beat, then source
        beat, src = pairs[:, 0], pairs[:, 1]
        score = 1.0 - 0.5 * ((beat - src) / reach) ** 2
        dst = src + float(strength) * (beat - src)
    s_all = np.concatenate([[0.0], src, [end]])
    d_all = np.concatenate([[0.0], dst, [end]])
    w_all = np.concatenate([[0.0], score, [0.0]])
    best = np.full(s_all.size, -np.inf)
    best[0] = 0.0
    prev = np.zeros(s_all.size, dtype=np.int64)
    for i in range(1, s_all.size):  # one step per candidate (a few per second), not per frame
        ds, dd = s_all[i] - s_all[:i], d_all[i] - d_all[:i]
        valid = (ds > 0.0) & (dd > 0.0) & (dd <= max_stretch * ds) & (ds <= max_stretch * dd)
        reach_i = np.where(valid, best[:i], -np.inf)
        j = int(np.argmax(reach_i))
        if np.isfinite(reach_i[j]):
            best[i], prev[i] = reach_i[j] + w_all[i], j
    chain = [s_all.size - 1]
    while chain[-1] != 0:
        chain.append(int(prev[chain[-1]]))
    chain = chain[::-1]
    return s_all[chain], d_all[chain]


def beat_lock_map(
    positions: np.ndarray,
    fps: float,
    bpm: float,
    phase: float = 0.0,
    strength: float = 1.0,
    max_stretch: float = MAX_STRETCH,
) -> np.ndarray:
    """The time map ``tau (T,)``: the source frame (float) each output frame shows.

    ``positions (T, J, 3)`` are the motion's world joint positions (its kinematic beats come from
    them). Monotone, ``tau[0] = 0``, ``tau[-1] = T - 1``; the identity when ``strength`` is 0 or
    the clip is too short to have beats.
    """
    n = int(positions.shape[0])
    ident = np.arange(n, dtype=np.float64)
    if n < 4 or strength <= 0.0:
        return ident
    period = 60.0 / float(bpm) * float(fps)
    speed = smooth_gaussian(mean_joint_speed(positions, fps), SPEED_SIGMA_S * float(fps))
    mus = music_beat_times(n, fps, bpm, phase)
    src, dst = beat_anchors(local_minima(speed), mus, period, n, strength, max_stretch)
    if src.size <= 2:
        return ident
    # playback rate per output frame (piecewise constant between anchors), smoothed, integrated
    rate = smooth_gaussian(np.diff(np.interp(ident, dst, src)), RATE_SIGMA_S * float(fps))
    tau = np.concatenate([[0.0], np.cumsum(rate)])
    tau *= (n - 1) / tau[-1]
    return np.clip(tau, 0.0, n - 1.0)


def warp_channels(x: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``x (T, C)`` sampled at the fractional frames ``tau`` (linear interpolation)."""
    x = np.asarray(x, dtype=np.float64)
    lo = np.clip(np.floor(tau).astype(np.int64), 0, x.shape[0] - 1)
    hi = np.minimum(lo + 1, x.shape[0] - 1)
    w = (tau - lo)[:, None]
    return x[lo] * (1.0 - w) + x[hi] * w


def warp_features(features: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Engine features ``(T, F)`` retimed by ``tau``: every channel interpolated, the per-frame
    root deltas (:data:`DELTA_CHANNELS`) scaled by the playback rate ``d tau / dt``."""
    out = warp_channels(features, tau)
    rate = np.gradient(tau) if tau.size > 1 else np.ones_like(tau)
    cols = list(DELTA_CHANNELS)
    out[:, cols] *= rate[:, None]
    return out
