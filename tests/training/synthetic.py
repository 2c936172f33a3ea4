"""A small synthetic dataset in the ``build/dataset.npz`` layout, for training-code tests.

The motion is procedural (per-style sinusoidal joint swings at a style tempo, plus a slow walk and
turn), encoded with the runtime's own ``encode_clip``, so every array has the real layout and the
real feature semantics; it only has to be learnable, not beautiful.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dance_ai_addon.core.clip import MotionClip
from dance_ai_addon.core.engines.features import default_root_height, encode_clip
from dance_ai_addon.core.rotations import axis_angle_to_quat
from dance_ai_addon.core.skeleton import forward_kinematics, smpl24_skeleton

STYLES = ["salsa", "modern", "groove"]
DESCRIPTORS = ["energy", "expansiveness", "bounce"]


def synthetic_dataset(path: Path, seconds: float = 8.0, takes_per_style: int = 3) -> Path:
    """Write a dataset.npz with ``takes_per_style`` takes of each style (last one held out)."""
    skel = smpl24_skeleton()
    rng = np.random.default_rng(0)
    fps = 30.0
    n = int(seconds * fps)
    t = np.arange(n) / fps
    feats, pos_all, take_id, phase, desc = [], [], [], [], []
    names, styles, splits, bpms = [], [], [], []
    h0 = default_root_height(skel)
    for s, style in enumerate(STYLES):
        bpm = 90.0 + 20.0 * s
        for k in range(takes_per_style):
            f = bpm / 60.0
            amp = 0.3 + 0.2 * s + 0.05 * k
            axis = rng.normal(size=(24, 3))
            axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
            ph = rng.uniform(0, 2 * np.pi, size=24)
            ang = amp * np.sin(2 * np.pi * f * t[:, None] * (1 + (np.arange(24) % 2)) + ph)
            rot = axis_angle_to_quat(ang[..., None] * axis[None] * 0.5)
            yaw = 0.2 * t
            rot[:, 0] = axis_angle_to_quat(np.stack([0 * yaw, yaw, 0 * yaw], -1))
            root = np.stack(
                [0.3 * np.sin(0.5 * t), h0 + 0.03 * np.sin(2 * np.pi * f * t), 0.2 * t], -1
            )
            clip = MotionClip(skel, rot, root, fps, f"{style}_{k}")
            feats.append(encode_clip(clip).astype(np.float32))
            pos_all.append(forward_kinematics(skel, rot, root)[0].astype(np.float32))
            tid = len(names)
            take_id.append(np.full(n, tid))
            phase.append(((t * f) % 1.0).astype(np.float32))
            desc.append(np.clip(np.full((n, 3), [amp, 0.5 + 0.1 * s, 0.3 * k]), 0, 1))
            names.append(f"synthetic_{style}_{k:02d}")
            styles.append(s)
            splits.append("heldout" if k == takes_per_style - 1 else "train")
            bpms.append(bpm)
    np.savez(
        path,
        features=np.concatenate(feats),
        positions=np.concatenate(pos_all),
        take_id=np.concatenate(take_id),
        beat_phase=np.concatenate(phase),
        descriptors=np.concatenate(desc).astype(np.float32),
        take_names=np.array(names),
        take_style=np.array(styles),
        take_split=np.array(splits),
        take_mirrored=np.zeros(len(names), dtype=bool),
        take_bpm=np.array(bpms),
        style_names=np.array(STYLES),
        descriptor_names=np.array(DESCRIPTORS),
        descriptor_ranges=np.tile([0.0, 1.0], (len(DESCRIPTORS), 1)),
        take_start=np.arange(len(names)) * n,
        take_length=np.full(len(names), n),
        fps=np.float64(fps),
    )
    return path
