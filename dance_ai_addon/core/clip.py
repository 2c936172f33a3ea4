"""MotionClip: a skeleton plus per-frame local rotations, root translation and a frame rate.

Resampling interpolates rotations with slerp (never Euler lerp, which takes wrong paths and
wraps at ±180°) and root positions linearly. Concatenation crossfades with slerp and moves the
second clip so it continues from where the first one ends, instead of snapping back to its own
start position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import DanceAIError
from .rotations import quat_normalize, quat_slerp
from .skeleton import Skeleton, forward_kinematics, mirror_indices

__all__ = ["MotionClip", "mirror_clip"]


@dataclass
class MotionClip:
    """Local rotations ``(T, J, 4)`` (wxyz), root positions ``(T, 3)``, frames per second."""

    skeleton: Skeleton
    rotations: np.ndarray
    root_positions: np.ndarray
    fps: float
    name: str = ""

    def __post_init__(self) -> None:
        label = f"Motion clip '{self.name}'" if self.name else "The motion clip"
        if not isinstance(self.skeleton, Skeleton):
            raise DanceAIError(f"{label} needs a Skeleton, got {type(self.skeleton).__name__}.")
        J = self.skeleton.n_joints
        try:
            rot = np.asarray(self.rotations, dtype=np.float64)
            root = np.asarray(self.root_positions, dtype=np.float64)
            fps = float(self.fps)
        except (TypeError, ValueError) as e:
            msg = f"{label} has non-numeric data ({e}); pass numeric arrays."
            raise DanceAIError(msg) from None
        if rot.ndim != 3 or rot.shape[1:] != (J, 4) or rot.shape[0] < 1:
            raise DanceAIError(
                f"{label} rotations must have shape (T >= 1, {J}, 4) for its {J}-joint skeleton, "
                f"got {rot.shape}."
            )
        T = rot.shape[0]
        if root.shape != (T, 3):
            raise DanceAIError(
                f"{label} root positions must have shape ({T}, 3) to match its rotations, "
                f"got {root.shape}."
            )
        if not (math.isfinite(fps) and fps > 0.0):
            raise DanceAIError(f"{label} has frame rate {fps}; it must be a positive number.")
        if not np.all(np.isfinite(rot)):
            t = int(np.nonzero(~np.all(np.isfinite(rot), axis=(1, 2)))[0][0])
            raise DanceAIError(f"{label} has NaN or Inf rotations at frame {t}; fix the source.")
        if not np.all(np.isfinite(root)):
            t = int(np.nonzero(~np.all(np.isfinite(root), axis=1))[0][0])
            raise DanceAIError(
                f"{label} has NaN or Inf root positions at frame {t}; fix the source."
            )
        norms = np.sqrt(np.sum(rot * rot, axis=-1))
        if np.any(norms < 1e-8):
            t = int(np.nonzero(np.any(norms < 1e-8, axis=1))[0][0])
            raise DanceAIError(f"{label} has a zero-length quaternion at frame {t}.")
        # renormalise only what is not already unit length, so exact data stays bit-identical
        off = np.abs(norms - 1.0) > 1e-12
        if np.any(off):
            rot = rot / np.where(off, norms, 1.0)[..., None]
        self.rotations = rot
        self.root_positions = root
        self.fps = fps
        self.name = str(self.name)

    # --- basic properties ------------------------------------------------------------------

    @property
    def n_frames(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def n_joints(self) -> int:
        return self.skeleton.n_joints

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame ((T - 1) / fps)."""
        return (self.n_frames - 1) / self.fps

    def copy(self) -> MotionClip:
        return MotionClip(
            self.skeleton.copy(),
            self.rotations.copy(),
            self.root_positions.copy(),
            self.fps,
            self.name,
        )

    def world(self) -> tuple[np.ndarray, np.ndarray]:
        """World joint positions ``(T, J, 3)`` and rotations ``(T, J, 4)`` by forward kinematics."""
        return forward_kinematics(self.skeleton, self.rotations, self.root_positions)

    # --- editing -----------------------------------------------------------------------------

    def resample(self, fps: float) -> MotionClip:
        """The clip at another frame rate: slerp for rotations, linear for the root.

        Frames are taken at ``k / fps`` seconds for every time not past the last frame (with a
        tolerance of 1e-6 frames), so both endpoints are kept exactly whenever the duration is a
        whole number of new frames.
        """
        new_fps = float(fps)
        if not (math.isfinite(new_fps) and new_fps > 0.0):
            raise DanceAIError(f"Cannot resample to {fps} fps; give a positive frame rate.")
        T = self.n_frames
        if T == 1 or new_fps == self.fps:
            out = self.copy()
            out.fps = new_fps
            return out
        span = (T - 1) * new_fps / self.fps
        n = int(math.floor(span + 1e-6)) + 1
        u = np.arange(n, dtype=np.float64) * (self.fps / new_fps)
        # snap positions within 1e-6 frames to the integer (keeps endpoints and shared frames exact)
        ur = np.round(u)
        u = np.where(np.abs(u - ur) < 1e-6, ur, u)
        u = np.clip(u, 0.0, T - 1)
        i0 = np.minimum(np.floor(u).astype(np.int64), T - 2)
        frac = u - i0
        rot = self.rotations
        q = quat_slerp(rot[i0], rot[i0 + 1], frac[:, None])
        exact0 = frac == 0.0
        exact1 = frac == 1.0
        q[exact0] = rot[i0[exact0]]
        q[exact1] = rot[i0[exact1] + 1]
        root = self.root_positions
        p = root[i0] + (root[i0 + 1] - root[i0]) * frac[:, None]
        p[exact1] = root[i0[exact1] + 1]
        return MotionClip(self.skeleton.copy(), q, p, new_fps, self.name)

    def trim(self, start: int, stop: int | None = None) -> MotionClip:
        """Frames ``[start, stop)`` (Python slice rules, negatives allowed)."""
        sl = slice(start, stop)
        idx = range(self.n_frames)[sl]
        if len(idx) == 0:
            raise DanceAIError(
                f"Trimming the {self.n_frames}-frame clip to [{start}, {stop}) leaves no frames; "
                "choose a non-empty frame range."
            )
        return MotionClip(
            self.skeleton.copy(),
            self.rotations[sl].copy(),
            self.root_positions[sl].copy(),
            self.fps,
            self.name,
        )

    def concat(self, other: MotionClip, crossfade_frames: int = 0) -> MotionClip:
        """This clip followed by ``other``, crossfading over ``crossfade_frames`` frames.

        ``other`` is resampled to this clip's fps if needed and shifted horizontally (X and Z;
        the height is kept) so that it continues from this clip's end: with a crossfade its first
        frame lands on the first crossfaded frame of this clip; without one, its first frame lands
        one step (this clip's last horizontal velocity) past this clip's last frame. The result
        has ``T1 + T2 - crossfade_frames`` frames; blend weights ramp as ``(i + 1) / (K + 1)``.
        """
        if not self.skeleton.same_topology(other.skeleton):
            raise DanceAIError(
                f"Cannot join clip '{other.name}' to '{self.name}': their skeletons differ; "
                "retarget them onto the same skeleton first."
            )
        if other.fps != self.fps:
            other = other.resample(self.fps)
        K = int(crossfade_frames)
        T1, T2 = self.n_frames, other.n_frames
        if K < 0 or K > min(T1, T2):
            raise DanceAIError(
                f"Crossfade of {crossfade_frames} frames is impossible for clips of {T1} and "
                f"{T2} frames; use 0 to {min(T1, T2)}."
            )
        root2 = other.root_positions.copy()
        if K > 0:
            anchor = self.root_positions[T1 - K]
        else:
            step = self.root_positions[-1] - self.root_positions[-2] if T1 > 1 else np.zeros(3)
            anchor = self.root_positions[-1] + step
        shift = anchor - root2[0]
        shift[1] = 0.0
        root2 += shift
        rot1 = self.rotations
        rot2 = other.rotations
        rot = np.empty((T1 + T2 - K, self.n_joints, 4), dtype=np.float64)
        pos = np.empty((T1 + T2 - K, 3), dtype=np.float64)
        rot[: T1 - K] = rot1[: T1 - K]
        pos[: T1 - K] = self.root_positions[: T1 - K]
        if K > 0:
            w = np.arange(1, K + 1, dtype=np.float64) / (K + 1)
            rot[T1 - K : T1] = quat_slerp(rot1[T1 - K :], rot2[:K], w[:, None])
            a = self.root_positions[T1 - K :]
            pos[T1 - K : T1] = a + (root2[:K] - a) * w[:, None]
        rot[T1:] = rot2[K:]
        pos[T1:] = root2[K:]
        return MotionClip(self.skeleton.copy(), rot, pos, self.fps, self.name)


def mirror_clip(clip: MotionClip, perm: np.ndarray | None = None) -> MotionClip:
    """Mirror a Y-up clip across the YZ plane (x -> -x), swapping left and right joints.

    Rotations map as ``R -> M R M`` with ``M = diag(-1, 1, 1)``, i.e. ``(w, x, y, z) ->
    (w, x, -y, -z)``; offsets and rest rotations are mirrored the same way so FK of the result is
    exactly the mirror image of FK of the input. ``perm`` defaults to the L/R pairs found in the
    joint names (:func:`~dance_ai_addon.core.skeleton.mirror_indices`).
    """
    sk = clip.skeleton
    if perm is None:
        perm = mirror_indices(sk.names)
    perm = np.asarray(perm, dtype=np.int64)
    n = sk.n_joints
    if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
        raise DanceAIError(f"The mirror permutation must reorder the {n} joints, got {perm}.")
    p = sk.parents
    mapped = np.where(p[perm] >= 0, perm[np.maximum(p[perm], 0)], -1)
    if not np.array_equal(mapped, p):
        j = int(np.nonzero(mapped != p)[0][0])
        raise DanceAIError(
            f"Cannot mirror: joint '{sk.names[j]}' and its mirror partner "
            f"'{sk.names[perm[j]]}' have non-matching parents; the hierarchy is not symmetric."
        )
    sign_q = np.array([1.0, 1.0, -1.0, -1.0])
    sign_v = np.array([-1.0, 1.0, 1.0])
    skel = Skeleton(
        list(sk.names),
        p.copy(),
        sk.offsets[perm] * sign_v,
        quat_normalize(sk.rest_rotations[perm] * sign_q),
    )
    rot = clip.rotations[:, perm] * sign_q
    root = clip.root_positions * sign_v
    return MotionClip(skel, rot, root, clip.fps, clip.name)
