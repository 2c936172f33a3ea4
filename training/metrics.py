"""Quality metrics for generated dance vs real mocap, on canonical SMPL-24 world positions.

Every function takes world joint positions ``(T, 24, 3)`` (Y up, meters; the canonical floor is
y = 0, the height of the lowest joint of the rest pose, see ``core.engines.features``) and a frame
rate (30 fps everywhere in the report). They are the acceptance numbers of issue 6:

- stability: :func:`nan_check`, :func:`angular_speed_per_minute` (bone-direction angular speed);
- contact quality: :func:`foot_skating`, :func:`floor_penetration`;
- smoothness: :func:`mean_squared_jerk`;
- variety and realism: :func:`kinetic_features`, :func:`geometric_features`, :func:`diversity`,
  :func:`frechet_distance` / :func:`fid_k` (AIST++ / Bailando "FID_k"; features normalised with
  the real set's mean and std, as Bailando does);
- control: :class:`StyleClassifier`, :func:`descriptor_correlation`, :func:`clip_beat_alignment`.

Kinetic features follow AIST++ (per joint: mean horizontal kinetic energy, mean vertical kinetic
energy, mean acceleration magnitude = energy expenditure proxy); geometric features are our own
compact pose statistics (inter-joint distances, joint angles, trunk tilt; mean and std over the
window), invariant to where the dancer stands and which way she faces.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from dance_ai_addon.core.retarget.transfer import CANONICAL_CLEARANCE
from dance_ai_addon.core.skeleton import SMPL24_PARENTS

from .beats import beat_alignment_score, beat_frames, estimate_tempo_and_offset, kinematic_beats

__all__ = [
    "FOOT_JOINTS",
    "nan_check",
    "bone_angular_speed",
    "angular_speed_per_minute",
    "foot_contacts",
    "foot_skating",
    "floor_penetration",
    "mean_squared_jerk",
    "kinetic_features",
    "geometric_features",
    "window_features",
    "segment",
    "diversity",
    "frechet_distance",
    "fid_k",
    "StyleClassifier",
    "descriptor_correlation",
    "clip_beat_alignment",
    "real_beat_alignment",
]

# SMPL-24 indices
PELVIS, L_HIP, R_HIP, SPINE1 = 0, 1, 2, 3
L_KNEE, R_KNEE, L_ANKLE, R_ANKLE, L_FOOT, R_FOOT = 4, 5, 7, 8, 10, 11
NECK, HEAD, L_SHOULDER, R_SHOULDER = 12, 15, 16, 17
L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 18, 19, 20, 21
FOOT_JOINTS = np.array([L_ANKLE, R_ANKLE, L_FOOT, R_FOOT])
# Height of each foot joint above the sole when standing (m), the retargeter's convention: the
# canonical floor y = 0 is the ground the soles touch.
_FOOT_CLEARANCE = np.array(
    [CANONICAL_CLEARANCE["Ankle"]] * 2 + [CANONICAL_CLEARANCE["Foot"]] * 2, dtype=np.float64
)


def _check(positions: np.ndarray) -> np.ndarray:
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim != 3 or p.shape[1] != 24 or p.shape[2] != 3:
        raise ValueError(f"positions must be SMPL-24 world positions (T, 24, 3), got {p.shape}")
    return p


def nan_check(positions: np.ndarray) -> dict:
    """Finite check: {'finite': bool, 'bad_frames': int, 'max_abs_m': float}."""
    p = np.asarray(positions, dtype=np.float64)
    bad = ~np.all(np.isfinite(p.reshape(p.shape[0], -1)), axis=1)
    fin = p[~bad]
    return {
        "finite": bool(not bad.any()),
        "bad_frames": int(bad.sum()),
        "max_abs_m": float(np.abs(fin).max()) if fin.size else float("nan"),
    }


def bone_angular_speed(positions: np.ndarray, fps: float) -> np.ndarray:
    """Mean angular speed of the 23 bone directions per frame step (T-1,), rad/s."""
    p = _check(positions)
    bones = p[:, 1:] - p[:, SMPL24_PARENTS[1:]]
    u = bones / np.maximum(np.linalg.norm(bones, axis=-1, keepdims=True), 1e-9)
    cos = np.clip(np.sum(u[1:] * u[:-1], axis=-1), -1.0, 1.0)
    # atan2 form is accurate for small angles where arccos loses precision
    sin = np.linalg.norm(np.cross(u[:-1], u[1:]), axis=-1)
    return np.arctan2(sin, cos).mean(axis=1) * float(fps)


def angular_speed_per_minute(positions: np.ndarray, fps: float) -> np.ndarray:
    """Mean bone angular speed (rad/s) in each whole minute of a clip (at least one chunk).

    A stable generator keeps this flat over minutes; an explosion or a freeze shows as a minute far
    from the real data's mean (the report compares each minute's ratio to [0.5, 1.5]).
    A trailing part of at least half a minute counts as a minute of its own: ``N`` minutes of
    frames give ``N * per - 1`` frame steps, and dropping the short last chunk would leave the
    last minute of a long run unmeasured.
    """
    w = bone_angular_speed(positions, fps)
    per = int(round(60.0 * float(fps)))
    if w.size < per:
        return np.array([float(w.mean())]) if w.size else np.array([0.0])
    n = w.size // per
    out = list(w[: n * per].reshape(n, per).mean(axis=1))
    if w.size - n * per >= per // 2:
        out.append(float(w[n * per :].mean()))
    return np.asarray(out)


def foot_contacts(
    positions: np.ndarray,
    fps: float,
    height_margin: float = 0.05,
    max_speed: float = 1.0,
) -> np.ndarray:
    """Contact mask (T, 4) for ankles and toes: near the clip's floor and slower than max_speed.

    A foot joint's sole height is its height minus its standing clearance. The floor is estimated
    per clip (5th percentile of the lowest sole height, the retargeter's own rule) so a clip that
    floats a little still has contacts; a foot joint is in contact when its sole is less than
    ``height_margin`` (m) above that floor and its 3-D speed is below ``max_speed`` (m/s).
    """
    p = _check(positions)
    feet = p[:, FOOT_JOINTS]
    sole = feet[..., 1] - _FOOT_CLEARANCE
    h = sole - np.percentile(sole.min(axis=1), 5.0)
    if len(p) < 2:
        return h < height_margin
    v = np.linalg.norm(np.gradient(feet, axis=0) * float(fps), axis=-1)
    return (h < height_margin) & (v < max_speed)


def foot_skating(positions: np.ndarray, fps: float) -> dict:
    """Horizontal foot speed while in contact: {'mean_cm_s', 'contact_ratio'}.

    ``mean_cm_s`` is the mean horizontal speed (cm/s) of the foot joints over their contact frames
    (0 for perfect plants); ``contact_ratio`` the fraction of foot-joint frames in contact.
    """
    p = _check(positions)
    feet = p[:, FOOT_JOINTS][..., [0, 2]]
    if len(p) < 2:
        return {"mean_cm_s": 0.0, "contact_ratio": 0.0}
    vh = np.linalg.norm(np.gradient(feet, axis=0), axis=-1) * float(fps)
    c = foot_contacts(p, fps)
    if not c.any():
        return {"mean_cm_s": 0.0, "contact_ratio": 0.0}
    return {"mean_cm_s": float(vh[c].mean() * 100.0), "contact_ratio": float(c.mean())}


def floor_penetration(positions: np.ndarray) -> dict:
    """Depth below the canonical floor y = 0: {'max_cm', 'p99_cm'} (>= 0).

    Foot joints count with their standing clearance (a toe joint 5 cm above the sole at y = 0.03
    means the sole is 2 cm under the floor); other joints count as they are.
    """
    p = _check(positions)
    low = -p[..., 1]
    low[:, FOOT_JOINTS] += _FOOT_CLEARANCE
    depth = np.maximum(low.max(axis=1), 0.0) * 100.0
    return {"max_cm": float(depth.max()), "p99_cm": float(np.percentile(depth, 99.0))}


def mean_squared_jerk(positions: np.ndarray, fps: float) -> float:
    """Mean squared jerk of joint positions (m^2/s^6), third finite differences."""
    p = _check(positions)
    if len(p) < 4:
        return 0.0
    j = np.diff(p, n=3, axis=0) * float(fps) ** 3
    return float(np.mean(np.sum(j**2, axis=-1)))


# --- per-clip / per-window features ------------------------------------------------------------


def kinetic_features(positions: np.ndarray, fps: float) -> np.ndarray:
    """AIST++-style kinetic features (72,): per joint mean horizontal KE, vertical KE, |accel|."""
    p = _check(positions)
    fps = float(fps)
    if len(p) < 3:
        return np.zeros(72)
    v = np.gradient(p, axis=0) * fps
    a = np.gradient(v, axis=0) * fps
    ke_h = 0.5 * np.mean(v[..., 0] ** 2 + v[..., 2] ** 2, axis=0)
    ke_v = 0.5 * np.mean(v[..., 1] ** 2, axis=0)
    acc = np.mean(np.linalg.norm(a, axis=-1), axis=0)
    return np.stack([ke_h, ke_v, acc], axis=1).ravel()


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    u, w = a - b, c - b
    cos = np.sum(u * w, axis=-1) / np.maximum(
        np.linalg.norm(u, axis=-1) * np.linalg.norm(w, axis=-1), 1e-9
    )
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _pose_signals(p: np.ndarray) -> np.ndarray:
    """Per-frame heading- and position-invariant pose signals (T, 16)."""

    def d(i: int, j: int) -> np.ndarray:
        return np.linalg.norm(p[:, i] - p[:, j], axis=-1)

    floor = p[..., 1].min(axis=1)
    trunk = p[:, NECK] - p[:, PELVIS]
    tilt = np.arccos(np.clip(trunk[:, 1] / np.maximum(np.linalg.norm(trunk, axis=-1), 1e-9), -1, 1))
    sig = [
        d(L_WRIST, R_WRIST),
        d(L_WRIST, HEAD),
        d(R_WRIST, HEAD),
        d(L_WRIST, PELVIS),
        d(R_WRIST, PELVIS),
        d(L_ANKLE, R_ANKLE),
        p[:, L_WRIST, 1] - p[:, PELVIS, 1],
        p[:, R_WRIST, 1] - p[:, PELVIS, 1],
        p[:, L_ANKLE, 1] - floor,
        p[:, R_ANKLE, 1] - floor,
        p[:, PELVIS, 1] - floor,
        _angle(p[:, L_SHOULDER], p[:, L_ELBOW], p[:, L_WRIST]),
        _angle(p[:, R_SHOULDER], p[:, R_ELBOW], p[:, R_WRIST]),
        _angle(p[:, L_HIP], p[:, L_KNEE], p[:, L_ANKLE]),
        _angle(p[:, R_HIP], p[:, R_KNEE], p[:, R_ANKLE]),
        tilt,
    ]
    return np.stack(sig, axis=1)


def geometric_features(positions: np.ndarray) -> np.ndarray:
    """Geometric pose features (32,): mean and std over time of 16 invariant pose signals."""
    s = _pose_signals(_check(positions))
    return np.concatenate([s.mean(axis=0), s.std(axis=0)])


def window_features(positions: np.ndarray, fps: float) -> np.ndarray:
    """Kinetic + geometric features of one window (104,) (the classifier's input)."""
    return np.concatenate([kinetic_features(positions, fps), geometric_features(positions)])


def segment(n_frames: int, length: int, hop: int | None = None) -> list[tuple[int, int]]:
    """(start, stop) windows of ``length`` frames every ``hop`` (default: non-overlapping)."""
    hop = length if hop is None else hop
    if n_frames < length:
        return [(0, n_frames)] if n_frames >= max(8, length // 2) else []
    return [(s, s + length) for s in range(0, n_frames - length + 1, hop)]


# --- set-level metrics -------------------------------------------------------------------------


def _standardise(ref: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mu = ref.mean(axis=0)
    sd = ref.std(axis=0) + 1e-8
    return [(x - mu) / sd for x in (ref,) + others]


def _mean_pairwise(x: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Mean Euclidean distance over pairs (optionally only pairs from different groups)."""
    n = len(x)
    if n < 2:
        return float("nan")
    d = np.linalg.norm(x[:, None] - x[None, :], axis=-1)
    iu = np.triu_indices(n, 1)
    mask = np.ones(len(iu[0]), dtype=bool)
    if groups is not None:
        g = np.asarray(groups)
        mask = g[iu[0]] != g[iu[1]]
    vals = d[iu][mask]
    return float(vals.mean()) if vals.size else float("nan")


def diversity(
    features: np.ndarray,
    reference: np.ndarray,
    groups: Sequence | None = None,
) -> float:
    """Mean pairwise distance of features (N, D), standardised with ``reference``'s stats.

    ``groups`` (e.g. seed or take ids) restricts the pairs to different groups, so two windows of
    one real take do not count as "different dances". Compare generated vs real by calling it on
    both with the same ``reference`` (the real features).
    """
    ref = np.asarray(reference, dtype=np.float64)
    (_, x) = _standardise(ref, np.asarray(features, dtype=np.float64))
    return _mean_pairwise(x, None if groups is None else np.asarray(groups))


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, D) and b (M, D)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    d = a.shape[1]
    s1 = np.cov(a, rowvar=False) + eps * np.eye(d) if len(a) > 1 else eps * np.eye(d)
    s2 = np.cov(b, rowvar=False) + eps * np.eye(d) if len(b) > 1 else eps * np.eye(d)
    # tr sqrt(S1 S2) = sum sqrt(eig(sqrt(S1) S2 sqrt(S1))), all symmetric PSD
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.maximum(w, 0.0))) @ v.T
    m = r1 @ s2 @ r1
    tr_sqrt = np.sum(np.sqrt(np.maximum(np.linalg.eigvalsh(0.5 * (m + m.T)), 0.0)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)


def fid_k(generated: np.ndarray, real: np.ndarray) -> float:
    """FID_k: Fréchet distance of kinetic features, both sets standardised with the real stats."""
    r, g = _standardise(np.asarray(real, float), np.asarray(generated, float))
    return frechet_distance(g, r)


class StyleClassifier:
    """Multinomial logistic regression (numpy, L2, class-balanced) on window features.

    Trained on windows of real TRAIN takes; a clip is labelled by the mean log-probability of its
    windows. Deliberately simple: it measures whether generated motion carries the requested style
    in kinetic and geometric statistics a linear model can see.
    """

    def __init__(self, l2: float = 1e-2, iters: int = 800, lr: float = 0.5) -> None:
        self.l2, self.iters, self.lr = float(l2), int(iters), float(lr)
        self.mu: np.ndarray | None = None
        self.sd: np.ndarray | None = None
        self.w: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.n_classes = 0

    def fit(self, x: np.ndarray, y: np.ndarray, n_classes: int | None = None) -> StyleClassifier:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        k = int(n_classes if n_classes is not None else y.max() + 1)
        self.n_classes = k
        self.mu, self.sd = x.mean(axis=0), x.std(axis=0) + 1e-8
        z = (x - self.mu) / self.sd
        n, d = z.shape
        onehot = np.eye(k)[y]
        counts = np.maximum(np.bincount(y, minlength=k), 1)
        sw = (n / (k * counts))[y]  # balanced sample weights
        sw = sw / sw.sum()
        w = np.zeros((d, k))
        b = np.zeros(k)
        # plain gradient descent with Nesterov momentum on a convex loss
        vw, vb = np.zeros_like(w), np.zeros_like(b)
        for _ in range(self.iters):
            lw, lb = w + 0.9 * vw, b + 0.9 * vb
            logits = z @ lw + lb
            logits -= logits.max(axis=1, keepdims=True)
            pr = np.exp(logits)
            pr /= pr.sum(axis=1, keepdims=True)
            g = (pr - onehot) * sw[:, None]
            gw = z.T @ g + self.l2 * lw
            gb = g.sum(axis=0)
            vw = 0.9 * vw - self.lr * gw
            vb = 0.9 * vb - self.lr * gb
            w, b = w + vw, b + vb
        self.w, self.b = w, b
        return self

    def log_proba(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.mu) / self.sd
        logits = z @ self.w + self.b
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class per window (N,)."""
        return np.argmax(self.log_proba(x), axis=1)

    def predict_clip(self, x: np.ndarray) -> int:
        """One class for a clip from its windows' features (N, D)."""
        return int(np.argmax(self.log_proba(x).mean(axis=0)))


def descriptor_correlation(slider: Sequence[float], measured: Sequence[float]) -> float:
    """Pearson correlation of slider settings and the descriptor measured on the output."""
    a = np.asarray(slider, dtype=np.float64)
    b = np.asarray(measured, dtype=np.float64)
    if a.size < 2 or a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def clip_beat_alignment(
    positions: np.ndarray, fps: float, bpm: float, offset: float = 0.0
) -> float:
    """BAS of a clip's kinematic beats against the beat grid (bpm, offset) it should follow."""
    p = _check(positions)
    kin = kinematic_beats(p, fps)
    return beat_alignment_score(kin, beat_frames(len(p), fps, bpm, offset), fps)


def real_beat_alignment(positions: np.ndarray, fps: float) -> tuple[float, float]:
    """(BAS, bpm) of a real clip against the grid of its own estimated tempo and phase."""
    bpm, offset, _ = estimate_tempo_and_offset(positions, fps)
    return clip_beat_alignment(positions, fps, bpm, offset), bpm
