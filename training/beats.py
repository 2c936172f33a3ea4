"""Kinematic beats, tempo and beat phase of motion without its music.

The mocap comes without audio, so the beat conditioning is derived from the motion itself, the way
AIST++ and Bailando define "kinematic beats": the local minima of the (smoothed) mean joint speed,
the moments where the body momentarily stops (a step lands, an arm hits its extreme).

Tempo: each kinematic beat time ``t_k`` is a point on a circle for a candidate beat frequency
``f`` (phase ``f * t_k mod 1``). A dancer moving on a regular grid puts all beats near one phase,
so the resultant length ``R(f) = |sum_k w_k exp(2 pi i f t_k)| / sum_k w_k`` (a Rayleigh
statistic, weighted by how deep each minimum is) peaks at the beat frequency and its multiples
while sub-multiples cancel. With a few dozen beats per take R is noisy, so it is multiplied by the
Fourier magnitude of the inverted, detrended speed envelope (smooth, but fooled by slow swells);
the product keeps tempi both agree on. It is evaluated on a 0.1 BPM grid in a plausible dance
range (60-180 BPM); the octave ambiguity (peaks at f and 2f) is resolved by preferring the slower
tempo when its score is at least 85 % of the best, and the peak is refined by a parabola. Clips
danced to the same music (both partners of a salsa couple take) share one tempo: the geometric
mean of their curves. The phase offset is the circular mean of the beat phases at that tempo, so
``beat_phase`` is 0 on the regular grid that best matches the dancer's own beats.
"""

from __future__ import annotations

import numpy as np

from dance_ai_addon.core.beats import (
    SPEED_SIGMA_S,
    beat_frames,
    kinematic_beats,
    local_minima,
    mean_joint_speed,
    smooth_gaussian,
)

__all__ = [
    "mean_joint_speed",
    "smooth_gaussian",
    "kinematic_beats",
    "tempo_scores",
    "estimate_tempo",
    "estimate_tempo_and_offset",
    "estimate_shared_tempo",
    "tempo_curve",
    "envelope_scores",
    "beat_phase",
    "beat_frames",
    "beat_alignment_score",
]

# Plausible dance tempi (beats per minute) searched by the tempo estimator.
BPM_MIN = 60.0
BPM_MAX = 180.0


def _beat_weights(speed: np.ndarray, beats: np.ndarray, fps: float) -> np.ndarray:
    """Depth of each minimum below the highest speed within +-0.25 s (a cheap prominence)."""
    if beats.size == 0:
        return np.zeros(0)
    r = max(1, int(round(0.25 * fps)))
    n = speed.size
    idx = beats[:, None] + np.arange(-r, r + 1)[None, :]
    idx = np.clip(idx, 0, n - 1)
    depth = speed[idx].max(axis=1) - speed[beats]
    return np.maximum(depth, 0.0) + 1e-9


def tempo_scores(
    beat_times: np.ndarray,
    bpms: np.ndarray,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Phase coherence ``R`` (len(bpms),) and circular-mean phase (in beats) of beat times (s)."""
    t = np.asarray(beat_times, dtype=np.float64)
    f = np.asarray(bpms, dtype=np.float64) / 60.0
    if t.size == 0:
        return np.zeros(f.shape), np.zeros(f.shape)
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=np.float64)
    z = (np.exp(2j * np.pi * f[:, None] * t[None, :]) * w[None, :]).sum(axis=1) / w.sum()
    phase = (np.angle(z) / (2.0 * np.pi)) % 1.0
    return np.abs(z), phase


def _speed_envelope(positions: np.ndarray, fps: float) -> np.ndarray:
    return smooth_gaussian(mean_joint_speed(positions, fps), SPEED_SIGMA_S * float(fps))


def envelope_scores(speed: np.ndarray, fps: float, bpms: np.ndarray) -> np.ndarray:
    """Fourier magnitude of the (inverted, locally detrended) speed envelope at each BPM."""
    w = max(3, int(round(fps)) | 1)  # 1 s rolling mean removes slow changes of overall energy
    c = np.concatenate([[0.0], np.cumsum(speed)])
    n = speed.size
    idx = np.arange(n)
    lo, hi = np.clip(idx - w // 2, 0, n), np.clip(idx + w // 2 + 1, 0, n)
    x = -(speed - (c[hi] - c[lo]) / (hi - lo))
    x = x / (x.std() + 1e-12)
    t = idx / float(fps)
    f = np.asarray(bpms, dtype=np.float64) / 60.0
    return np.abs(np.exp(2j * np.pi * f[:, None] * t[None, :]) @ x) / n


def tempo_curve(positions: np.ndarray, fps: float, bpms: np.ndarray) -> np.ndarray:
    """Tempo evidence per BPM: beat phase coherence times the normalised envelope spectrum.

    The coherence ``R`` alone is sharp but noisy with few beats; the envelope spectrum is smooth
    but also rewards slow energy swells. Their product keeps tempi both agree on.
    """
    fps = float(fps)
    speed = _speed_envelope(positions, fps)
    beats = local_minima(speed)
    if beats.size < 3:
        return np.zeros(np.shape(bpms))
    r, _ = tempo_scores(beats / fps, bpms, _beat_weights(speed, beats, fps))
    e = envelope_scores(speed, fps, bpms)
    return r * e / (e.max() + 1e-12)


def estimate_shared_tempo(
    clips: list[np.ndarray],
    fps: float,
    bpm_range: tuple[float, float] = (BPM_MIN, BPM_MAX),
    octave_tolerance: float = 0.85,
) -> tuple[float, list[float], list[float]]:
    """One tempo for clips danced to the same music (e.g. both partners of a couple take).

    Returns (bpm, offsets, strengths), one offset and strength per clip (see
    :func:`estimate_tempo_and_offset`). The tempo maximises the geometric mean of the clips'
    :func:`tempo_curve`; the octave is resolved towards the slower tempo when it scores at least
    ``octave_tolerance`` of the best.
    """
    fps = float(fps)
    lo, hi = float(bpm_range[0]), float(bpm_range[1])
    step = 0.1
    grid = np.arange(lo - 2 * step, hi + 2.5 * step, step)
    curves = [tempo_curve(p, fps, grid) for p in clips]
    score = np.exp(np.mean([np.log(c + 1e-12) for c in curves], axis=0))
    inside = (grid >= lo) & (grid <= hi)
    best = int(np.argmax(np.where(inside, score, -np.inf)))
    if score[best] <= 1e-9:
        return 0.5 * (lo + hi), [0.0] * len(clips), [0.0] * len(clips)
    top = best
    for div in (2.0, 3.0):  # octave handling: prefer the slowest nearly-as-good sub-multiple
        cand = grid[top] / div
        if cand < lo:
            break
        j = int(np.argmin(np.abs(grid - cand)))
        a, b = max(0, j - 5), min(grid.size, j + 6)
        k = a + int(np.argmax(score[a:b]))
        if score[k] >= octave_tolerance * score[top]:
            best = k
    bpm = grid[best]
    if 0 < best < grid.size - 1:  # parabolic refinement between grid points
        y0, y1, y2 = score[best - 1], score[best], score[best + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            bpm = grid[best] + step * 0.5 * (y0 - y2) / den
    bpm = float(np.clip(bpm, lo, hi))
    offsets, strengths = [], []
    for p in clips:
        speed = _speed_envelope(p, fps)
        beats = local_minima(speed)
        if beats.size == 0:
            offsets.append(0.0)
            strengths.append(0.0)
            continue
        r, ph = tempo_scores(beats / fps, np.array([bpm]), _beat_weights(speed, beats, fps))
        offsets.append(float(ph[0]))
        strengths.append(float(r[0]))
    return bpm, offsets, strengths


def estimate_tempo_and_offset(
    positions: np.ndarray,
    fps: float,
    bpm_range: tuple[float, float] = (BPM_MIN, BPM_MAX),
) -> tuple[float, float, float]:
    """(bpm, offset, strength) of a clip from its kinematic beats.

    ``offset`` (in beats, [0, 1)) places the grid on the dancer's beats: the grid beats fall at
    ``t = (k + offset) * 60 / bpm``, where ``beat_phase`` = ``frac(t * bpm / 60 - offset)`` is 0.
    ``strength`` is the phase coherence R in [0, 1] of the beats at that tempo (1 = regular).
    """
    bpm, offsets, strengths = estimate_shared_tempo([positions], fps, bpm_range)
    return bpm, offsets[0], strengths[0]


def estimate_tempo(
    positions: np.ndarray, fps: float, bpm_range: tuple[float, float] = (BPM_MIN, BPM_MAX)
) -> float:
    """Tempo (BPM) of a clip estimated from its kinematic beats (see the module docstring)."""
    return estimate_tempo_and_offset(positions, fps, bpm_range)[0]


def beat_phase(n_frames: int, fps: float, bpm: float, offset: float = 0.0) -> np.ndarray:
    """Beat phase per frame (n_frames,) float32 in [0, 1): ``frac(t*bpm/60 - offset)``."""
    t = np.arange(int(n_frames), dtype=np.float64) / float(fps)
    ph = (t * float(bpm) / 60.0 - float(offset)) % 1.0
    ph = ph.astype(np.float32)
    ph[ph >= 1.0] = 0.0  # float32 rounding of values just below 1
    return ph


def beat_alignment_score(
    kinematic_beat_frames: np.ndarray,
    music_beat_frames: np.ndarray,
    fps: float = 30.0,
    sigma: float = 3.0,
) -> float:
    """Beat alignment score (Bailando's BAS): mean over music beats of exp(-d^2 / 2 sigma^2).

    ``d`` is the distance from each music beat to its nearest kinematic beat. ``sigma`` is in
    frames at 30 fps (3 frames = 100 ms), scaled to ``fps`` so the score means the same at any
    frame rate. 1 = every music beat has a kinematic beat on it; 0 when there are none.
    """
    kin = np.asarray(kinematic_beat_frames, dtype=np.float64).ravel()
    mus = np.asarray(music_beat_frames, dtype=np.float64).ravel()
    if mus.size == 0 or kin.size == 0:
        return 0.0
    sig = float(sigma) * float(fps) / 30.0
    kin = np.sort(kin)
    pos = np.searchsorted(kin, mus)
    left = kin[np.clip(pos - 1, 0, kin.size - 1)]
    right = kin[np.clip(pos, 0, kin.size - 1)]
    d = np.minimum(np.abs(mus - left), np.abs(mus - right))
    return float(np.mean(np.exp(-(d**2) / (2.0 * sig**2))))
