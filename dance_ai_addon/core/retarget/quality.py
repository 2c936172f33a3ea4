"""Accuracy metrics of a retarget: limb directions and foot contacts (used by tests and bench)."""

from __future__ import annotations

import numpy as np

__all__ = ["SEGMENTS", "limb_direction_errors", "foot_contact_stats", "y_up_to_z_up"]

# Limb segments judged by the accuracy criteria: name -> (from joint, to joint), canonical names.
SEGMENTS: dict[str, tuple[str, str]] = {
    "L_upper_arm": ("L_Shoulder", "L_Elbow"),
    "R_upper_arm": ("R_Shoulder", "R_Elbow"),
    "L_forearm": ("L_Elbow", "L_Wrist"),
    "R_forearm": ("R_Elbow", "R_Wrist"),
    "L_thigh": ("L_Hip", "L_Knee"),
    "R_thigh": ("R_Hip", "R_Knee"),
    "L_shin": ("L_Knee", "L_Ankle"),
    "R_shin": ("R_Knee", "R_Ankle"),
    "spine": ("Spine1", "Spine2"),
    "chest": ("Spine3", "Neck"),
    "neck": ("Neck", "Head"),
}


def y_up_to_z_up(p: np.ndarray) -> np.ndarray:
    """(x, y, z) Y-up -> (x, -z, y) Z-up (Blender)."""
    p = np.asarray(p, dtype=np.float64)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def limb_direction_errors(
    src_world_pos: np.ndarray,
    src_indices: dict[str, int],
    tgt_world_pos: np.ndarray,
    tgt_indices: dict[str, int],
    segments: dict[str, tuple[str, str]] | None = None,
) -> dict[str, float]:
    """Mean angle (degrees, over frames) between each segment's world direction in the source
    and in the target. Both position arrays (T, J, 3) must be in the same world frame. Segments
    whose joints are not in both index maps are skipped."""
    segs = SEGMENTS if segments is None else segments
    out: dict[str, float] = {}
    for name, (a, b) in segs.items():
        if not all(k in src_indices and k in tgt_indices for k in (a, b)):
            continue
        u = src_world_pos[:, src_indices[b]] - src_world_pos[:, src_indices[a]]
        v = tgt_world_pos[:, tgt_indices[b]] - tgt_world_pos[:, tgt_indices[a]]
        nu = np.linalg.norm(u, axis=-1)
        nv = np.linalg.norm(v, axis=-1)
        ok = (nu > 1e-9) & (nv > 1e-9)
        if not ok.any():
            continue
        c = np.sum(u[ok] * v[ok], axis=-1) / (nu[ok] * nv[ok])
        out[name] = float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))).mean())
    return out


def foot_contact_stats(
    world_pos: np.ndarray,
    contacts: np.ndarray,
    fps: float,
    up_axis: int = 2,
    units_per_meter: float = 1.0,
) -> dict[str, float]:
    """Foot height and horizontal speed during contacts.

    ``world_pos`` (T, K, 3) foot joints, ``contacts`` (T, K) bool. Returns min height (cm) and
    max / mean horizontal speed (cm/s) over contact frames (speed between consecutive contact
    frames of the same joint)."""
    pos = np.asarray(world_pos, dtype=np.float64) / units_per_meter
    c = np.asarray(contacts, dtype=bool)
    hor = [a for a in range(3) if a != up_axis]
    if not c.any():
        return {
            "min_height_cm": float("nan"),
            "max_speed_cm_s": 0.0,
            "mean_speed_cm_s": 0.0,
            "contact_frames": 0,
        }
    h = pos[..., up_axis][c]
    both = c[1:] & c[:-1]
    v = np.linalg.norm(np.diff(pos[..., hor], axis=0), axis=-1) * fps
    sp = v[both] * 100.0
    return {
        "min_height_cm": float(h.min() * 100.0),
        "max_speed_cm_s": float(sp.max()) if sp.size else 0.0,
        "mean_speed_cm_s": float(sp.mean()) if sp.size else 0.0,
        "contact_frames": int(c.sum()),
    }
