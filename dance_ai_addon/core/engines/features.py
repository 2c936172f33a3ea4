"""Feature layout ``root_heading_v1``: MotionClip <-> (T, F) engine features.

Per frame: ``[root_height, vel_x, vel_z, yaw_rate]`` then one 6D rotation per joint
(:func:`core.rotations.matrix_to_sixd`, first two matrix columns). The heading is the yaw of the
pelvis's world forward axis (+Z) projected on the XZ plane. Velocities are forward differences
``P[t+1] - P[t]`` expressed in frame ``t``'s heading frame (meters/frame); ``yaw_rate[t]`` is
``yaw[t+1] - yaw[t]`` wrapped to (-pi, pi] (radians/frame); the last frame repeats the one before.
Joint 0's rotation is its world rotation with the heading removed; the other joints keep their
local rotations. So the features do not depend on where the dancer stands or which way she faces,
and :func:`decode_features` is the exact inverse of :func:`encode_clip` given the start position
and heading.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..clip import MotionClip
from ..rotations import (
    quat_apply,
    quat_conj,
    quat_continuity,
    quat_mul,
    quat_to_sixd,
    sixd_to_quat,
)
from ..skeleton import Skeleton, forward_kinematics

__all__ = [
    "ROOT_SIZE",
    "feature_size",
    "heading_yaw",
    "yaw_quat",
    "encode_clip",
    "decode_features",
    "integrate_root",
    "rest_features",
    "default_root_height",
]

ROOT_SIZE = 4


def feature_size(num_joints: int) -> int:
    """F for ``root_heading_v1``: 4 root channels + 6 per joint."""
    return ROOT_SIZE + 6 * int(num_joints)


def yaw_quat(yaw: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) rotating by ``yaw`` radians about +Y."""
    yaw = np.asarray(yaw, dtype=np.float64)
    q = np.zeros(yaw.shape + (4,))
    q[..., 0] = np.cos(0.5 * yaw)
    q[..., 2] = np.sin(0.5 * yaw)
    return q


def heading_yaw(world_root: np.ndarray) -> np.ndarray:
    """Yaw (radians) of the +Z axis of world rotations (..., 4) projected on XZ."""
    fwd = quat_apply(world_root, np.broadcast_to([0.0, 0.0, 1.0], world_root.shape[:-1] + (3,)))
    return np.arctan2(fwd[..., 0], fwd[..., 2])


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def _rotate_y(x: np.ndarray, z: np.ndarray, yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate horizontal vectors (x, z) by ``yaw`` about +Y (v' = R_y(yaw) v)."""
    c, s = np.cos(yaw), np.sin(yaw)
    return c * x + s * z, -s * x + c * z


def encode_clip(clip: MotionClip) -> np.ndarray:
    """Features (T, F) float64 of a clip (Y up, meters), layout ``root_heading_v1``."""
    rot = np.asarray(clip.rotations, dtype=np.float64)
    pos = np.asarray(clip.root_positions, dtype=np.float64)
    n_frames, n_joints = rot.shape[:2]
    rest0 = np.asarray(clip.skeleton.rest_rotations, dtype=np.float64)[0]
    world0 = quat_mul(np.broadcast_to(rest0, (n_frames, 4)), rot[:, 0])
    yaw = heading_yaw(world0)
    local = rot.copy()
    local[:, 0] = quat_mul(quat_conj(yaw_quat(yaw)), world0)

    feats = np.empty((n_frames, feature_size(n_joints)))
    feats[:, 0] = pos[:, 1]
    if n_frames >= 2:
        d = pos[1:] - pos[:-1]
        vx, vz = _rotate_y(d[:, 0], d[:, 2], -yaw[:-1])
        rate = _wrap(yaw[1:] - yaw[:-1])
        feats[:-1, 1], feats[:-1, 2], feats[:-1, 3] = vx, vz, rate
        feats[-1, 1:4] = feats[-2, 1:4]
    else:
        feats[:, 1:4] = 0.0
    feats[:, ROOT_SIZE:] = quat_to_sixd(local).reshape(n_frames, 6 * n_joints)
    return feats


def integrate_root(
    features: np.ndarray,
    start_position: Sequence[float] = (0.0, 0.0),
    start_yaw: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate root velocities and yaw rates: (xz (T+1, 2), yaw (T+1,)).

    Entry ``T`` is where frame ``T`` would be, one step past the end (used for loop closure).
    """
    f = np.asarray(features, dtype=np.float64)
    n = f.shape[0]
    yaw = np.empty(n + 1)
    yaw[0] = start_yaw
    np.cumsum(f[:, 3], out=yaw[1:])
    yaw[1:] += start_yaw
    dx, dz = _rotate_y(f[:, 1], f[:, 2], yaw[:-1])
    xz = np.empty((n + 1, 2))
    xz[0] = start_position
    xz[1:, 0] = start_position[0] + np.cumsum(dx)
    xz[1:, 1] = start_position[1] + np.cumsum(dz)
    return xz, yaw


def decode_features(
    features: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    start_position: Sequence[float] = (0.0, 0.0),
    start_yaw: float = 0.0,
    name: str = "generated",
) -> MotionClip:
    """A MotionClip from ``root_heading_v1`` features; the inverse of :func:`encode_clip`.

    ``start_position`` is the root's (x, z) at frame 0 and ``start_yaw`` its heading.
    """
    f = np.asarray(features, dtype=np.float64)
    n_joints = len(skeleton.names)
    if f.ndim != 2 or f.shape[1] != feature_size(n_joints):
        raise ValueError(f"features must be (T, {feature_size(n_joints)}), got {f.shape}")
    n = f.shape[0]
    xz, yaw = integrate_root(f, start_position, start_yaw)
    local = sixd_to_quat(f[:, ROOT_SIZE:].reshape(n, n_joints, 6))
    rest0 = np.asarray(skeleton.rest_rotations, dtype=np.float64)[0]
    world0 = quat_mul(yaw_quat(yaw[:-1]), local[:, 0])
    local[:, 0] = quat_mul(np.broadcast_to(quat_conj(rest0), (n, 4)), world0)
    # Keep each joint's quaternion on one hemisphere over time (no sign flips between frames).
    local = quat_continuity(local, axis=0)
    pos = np.empty((n, 3))
    pos[:, 0] = xz[:-1, 0]
    pos[:, 1] = f[:, 0]
    pos[:, 2] = xz[:-1, 1]
    return MotionClip(skeleton, local, pos, float(fps), name)


def default_root_height(skeleton: Skeleton) -> float:
    """Root height that puts the lowest joint of the rest pose on the ground (y = 0)."""
    ident = np.zeros((1, len(skeleton.names), 4))
    ident[..., 0] = 1.0
    world_pos, _ = forward_kinematics(skeleton, ident, np.zeros((1, 3)))
    return float(max(0.0, -np.min(world_pos[..., 1])))


def rest_features(skeleton: Skeleton, frames: int, height: float | None = None) -> np.ndarray:
    """``frames`` copies of the rest pose standing still at ``height`` (default: feet on ground)."""
    n_joints = len(skeleton.names)
    if height is None:
        height = default_root_height(skeleton)
    rot = np.zeros((1, n_joints, 4))
    rot[..., 0] = 1.0
    pos = np.array([[0.0, height, 0.0]])
    one = encode_clip(MotionClip(skeleton, rot, pos, 30.0, "rest"))
    return np.repeat(one, int(frames), axis=0)
