"""Differentiable SMPL-24 forward kinematics on ``root_heading_v1`` features (torch).

Mirrors ``core.engines.features.decode_features`` + ``core.skeleton.forward_kinematics`` so the
training losses can be written on joint positions in meters (pose, foot contact, floor) while the
network still predicts features. Matrices act on column vectors, 6D = first two matrix columns,
exactly as ``core.rotations``. The SMPL-24 rest rotations are identity, so
``world_rot[j] = world_rot[parent] @ R(local[j])``.
"""

from __future__ import annotations

import numpy as np
import torch

from dance_ai_addon.core.skeleton import Skeleton

__all__ = ["SkeletonFK", "sixd_to_matrix", "integrate_root"]


def sixd_to_matrix(d: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` from 6D vectors ``(..., 6)`` by Gram-Schmidt."""
    a1, a2 = d[..., 0:3], d[..., 3:6]
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    a2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = a2 / a2.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def integrate_root(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root (x, z) ``(..., T, 2)`` and yaw ``(..., T)`` from the root channels, start at origin.

    Same convention as ``features.integrate_root``: ``xz[t+1] = xz[t] + R_y(yaw[t]) v[t]``.
    """
    rate = feats[..., 3]
    yaw = torch.cumsum(rate, dim=-1) - rate  # exclusive cumsum: yaw[0] = 0
    c, s = torch.cos(yaw), torch.sin(yaw)
    vx, vz = feats[..., 1], feats[..., 2]
    dx = c * vx + s * vz
    dz = -s * vx + c * vz
    x = torch.cumsum(dx, dim=-1) - dx
    z = torch.cumsum(dz, dim=-1) - dz
    return torch.stack([x, z], dim=-1), yaw


class SkeletonFK(torch.nn.Module):
    """FK of ``root_heading_v1`` features to joint positions.

    ``local_positions`` gives positions in each frame's own heading frame (pelvis at (0, h, 0)):
    the pose, independent of where the dancer travels. ``world_positions`` adds the root
    trajectory integrated from the start of the sequence (for foot sliding and travel).
    """

    def __init__(self, skeleton: Skeleton):
        super().__init__()
        self.parents = [int(p) for p in skeleton.parents]
        self.register_buffer(
            "offsets", torch.as_tensor(np.asarray(skeleton.offsets), dtype=torch.float32)
        )
        rest = np.asarray(skeleton.rest_rotations, dtype=np.float64)
        if not np.allclose(np.abs(rest[:, 0]), 1.0, atol=1e-6):
            raise ValueError("SkeletonFK expects identity rest rotations (SMPL-24 convention)")
        # Joints grouped by depth: one batched step per level instead of one per joint. The
        # world arrays are built level by level ("built order"); ``slot[j]`` is where joint j
        # lands in it, so parents are looked up by slot and the result is permuted back.
        levels = skeleton.levels()
        built = np.concatenate(levels)
        slot = np.empty_like(built)
        slot[built] = np.arange(built.size)
        self.levels = [torch.as_tensor(lvl, dtype=torch.long) for lvl in levels[1:]]
        self.level_parents = [
            torch.as_tensor(slot[skeleton.parents[lvl]], dtype=torch.long) for lvl in levels[1:]
        ]
        self.register_buffer("slot", torch.as_tensor(slot, dtype=torch.long), persistent=False)

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    def local_positions(self, feats: torch.Tensor) -> torch.Tensor:
        """Joint positions ``(..., T, J, 3)`` in each frame's heading frame."""
        n_j = self.num_joints
        rot = sixd_to_matrix(feats[..., 4 : 4 + 6 * n_j].reshape(*feats.shape[:-1], n_j, 6))
        zeros = torch.zeros_like(feats[..., 0])
        root = torch.stack([zeros, feats[..., 0], zeros], dim=-1)
        world_rot = rot[..., :1, :, :]
        world_pos = root.unsqueeze(-2)
        for lvl, par in zip(self.levels, self.level_parents):
            pr = world_rot.index_select(-3, par)
            pp = world_pos.index_select(-2, par)
            off = self.offsets.index_select(0, lvl)
            new_rot = pr @ rot.index_select(-3, lvl)
            new_pos = pp + (pr @ off.unsqueeze(-1)).squeeze(-1)
            world_rot = torch.cat([world_rot, new_rot], dim=-3)
            world_pos = torch.cat([world_pos, new_pos], dim=-2)
        return world_pos.index_select(-2, self.slot)

    def world_positions(self, feats: torch.Tensor) -> torch.Tensor:
        """Joint positions ``(..., T, J, 3)`` with the root trajectory integrated from frame 0."""
        local = self.local_positions(feats)
        xz, yaw = integrate_root(feats)
        c, s = torch.cos(yaw).unsqueeze(-1), torch.sin(yaw).unsqueeze(-1)
        lx, ly, lz = local[..., 0], local[..., 1], local[..., 2]
        wx = c * lx + s * lz + xz[..., 0:1]
        wz = -s * lx + c * lz + xz[..., 1:2]
        return torch.stack([wx, ly, wz], dim=-1)
