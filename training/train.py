"""Train the default dance engine and export it: ``python -m training.train``.

One command, fixed seed, CPU: reads ``build/dataset.npz`` (running ``training.prepare_data`` first
when it is missing), trains the conditional VAE of :mod:`training.model` on the training takes
with short autoregressive rollouts, logs losses per epoch to ``training/logs/train_log.csv``,
saves the weights (``build/default_weights.npz``, plain arrays, no pickle) and exports
``dance_ai_addon/engines/default.onnx`` with the engine-contract metadata and its model card.

Rollouts follow the runtime's window loop (``core.generation``): window ``k + 1`` starts
``W - overlap`` frames after window ``k`` and its history is the ``H`` frames just before that
start. With a probability that ramps up during training (scheduled sampling) those history
frames are the model's own prediction instead of the data, so long generation sees the kind of
history it was trained on and neither drifts nor freezes.

The default recipe is the shipped one (``SHIPPED_RECIPE``, v31: temporal latent, absolute root
velocities, style dropout with classifier-free guidance 3.0 baked into the graph, the grown groove
set sampled half-way toward equal style shares, per-style seed histories in the metadata, variety
0.8 and per-style noise scales recommended).
``--recipe vN`` trains one of the recorded experiments instead; ``RECIPES`` says what each changed
and how it scored on the quality report (``python -m training.evaluate``).

An "epoch" in the log is a fixed block of ``--epoch-steps`` optimiser steps (the data are sampled
as random windows, not swept in order); the sampling order is fixed by the seed.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dance_ai_addon.core.retarget.transfer import CANONICAL_CLEARANCE
from dance_ai_addon.core.skeleton import smpl24_skeleton
from training.fk_torch import SkeletonFK
from training.model import DanceCVAE, ModelConfig, build_model

__all__ = [
    "TrainConfig",
    "RECIPES",
    "Corruption",
    "TrainingData",
    "load_training_data",
    "train",
    "recipe_config",
    "main",
]

REPO = Path(__file__).resolve().parents[1]
FOOT_JOINTS = (7, 8, 10, 11)  # L_Ankle, R_Ankle, L_Foot, R_Foot
# Standing height of those joints above the sole (the retargeter's floor convention, y = 0).
FOOT_CLEARANCE = tuple(CANONICAL_CLEARANCE[n] for n in ("Ankle", "Ankle", "Foot", "Foot"))
# A foot joint is "in contact" in the data when it moves slower than this (m/frame at 30 fps,
# = 0.9 m/s) and its sole is within CONTACT_MARGIN of its floor, like training.metrics defines it.
CONTACT_SPEED = 0.03
CONTACT_MARGIN = 0.05


@dataclass
class TrainConfig:
    """Hyper-parameters of the shipped run (the defaults are what produced default.onnx)."""

    seed: int = 1234
    steps: int = 2000
    epoch_steps: int = 100
    batch: int = 64
    rollout: int = 3
    overlap: int = 4
    lr: float = 1e-3
    lr_min: float = 2e-5
    beta: float = 5e-4
    beta_warmup: float = 0.1  # fraction of the run over which beta ramps from 0
    free_bits: float = 0.02
    w_pos: float = 200.0
    w_foot: float = 1000.0
    w_floor: float = 500.0
    w_jerk: float = 0.2
    w_vel: float = 2.0
    # window-mean joint speed, log-ratio to the data's (recipe v7+): under uncertainty the feature
    # losses are lowest for the average move, which is slow; this term is lowest at the data's
    # speed whatever the direction, so the decoder stops trading energy for safety
    w_speed: float = 0.0
    # beat sync (recipe v17): a window decoded from a PRIOR sample must carry the target's
    # beat-locked speed modulation (speed-weighted mean of the beat's sin/cos). The posterior z
    # already holds the window's timing, so without it the decoder learns to ignore the beat input
    # and generated motion ignores the tempo it is asked for
    w_beat: float = 0.0
    # energy follow (recipe v24+): a window decoded from a PRIOR sample must move as much as the
    # target window (log of the mean joint speed over 4-frame steps, pelvis travel removed, like
    # the energy descriptor). The posterior z already says how much the window moves, so without
    # it the decoder can ignore the energy input: the energy slider followed at r = 0.70 only
    w_energy: float = 0.0
    # measure that energy on the upper body only (v26+): v24/v25 met it by sliding the feet
    energy_upper_body: bool = False
    w_root: float = 2.0  # extra weight of the 4 root channels in the feature loss
    own_start: float = 0.15  # scheduled sampling ramp: fraction of run where it starts ...
    own_end: float = 0.6  # ... and where it reaches own_max
    own_max: float = 0.6
    style_temper: float = 0.5  # sample style s with probability ~ frames_s ** style_temper
    threads: int = 1  # see train(): steadier than 2 on a shared 2-core machine
    # history corruption (recipe v3, off in the shipped v2 recipe): the decoder sees a noisy,
    # sometimes time-shifted history so it cannot just continue its input
    hist_noise: float = 0.0  # Gaussian sigma in normalised feature units ...
    hist_noise_p: float = 0.0  # ... applied to this fraction of the windows
    hist_shift_p: float = 0.0  # fraction of (non-first) windows whose history is 1-2 frames early
    style_drop: float = 0.0  # style replaced by the all-zero "unconditional" style (for CFG)
    guidance: float = 1.0  # classifier-free guidance scale baked into the exported graph
    # descriptor guidance (v22+, needs the model's style_flags): this further fraction of windows
    # loses its descriptors (values and presence flag) but keeps its style category, and the
    # graph guides the descriptors with their own scale (None: the same as ``guidance``)
    desc_drop: float = 0.0
    guidance_desc: float | None = None
    # the exported graph clamps its history to the training range (recipes v15+; see
    # ExportWrapper): it stops v15's hands drifting away, but slows v11's long modern runs
    # (stability floor 0.46 -> 0.40), so v11 exported without it
    clamp_history: bool = False
    # neutral starts (recipe v4): generation always begins from the metadata's initial_history,
    # a stance training never showed before a real window; this fraction of rollouts starts there
    # so the first window must take its style from the style input, not from the history
    start_p: float = 0.0
    # own predictions fed back as history are clamped to +-own_clamp std (0 = off, as in v2): one
    # wild window otherwise feeds the next and the batch loss spikes to 1e20 (seen in v7 and v9)
    own_clamp: float = 0.0
    # recommended.variety written at export (recipe v29+): how far each clip's character drifts
    # through the style's real takes (core.generation.character_drift). Not used in training; a
    # network that runs away from an unusual seed take (v11) cannot afford it
    variety: float = 0.0


#: The recipe ``make train`` (``python -m training.train``) reproduces the shipped engine with.
SHIPPED_RECIPE = "v31"

# Parts the recipes share: the temporal latent with real seed histories (v9+), style dropout for
# guidance with the own-history clamp (v11+), the grown groove set with the clamped graph (v15+).
_TEMPORAL = {"model": {"temporal": True}, "seed_motion": True}
_GUIDED = {**_TEMPORAL, "style_drop": 0.15, "own_clamp": 8.0}
_GROWN = {**_GUIDED, "guidance": 2.5, "scene_takes": True, "clamp_history": True}
# v29+: absolute root velocities on the grown set, exported at guidance 3.0 with variety 0.8
# (and, from engine 1.2, per-style noise scales, which export calibrates for any recipe)
_ABSOLUTE = {
    **_GROWN,
    "model": {"temporal": True, "root_absolute": True},
    "variety": 0.8,
    "guidance": 3.0,
}
_DESC = {
    **_GUIDED,
    "model": {"temporal": True, "style_flags": True},
    "desc_drop": 0.15,
    "guidance_desc": 4.0,
}

RECIPES: dict[str, dict] = {
    "v2": {},
    "v3": {
        "free_bits": 0.05,
        "hist_noise": 0.15,
        "hist_noise_p": 0.75,
        "hist_shift_p": 0.1,
        "style_drop": 0.1,
        "guidance": 2.0,
        "seed_motion": True,
    },
    # v4 scored 7/14 (style 0.67, diversity 0.22, FID_k 85 vs v2's 127, but foot skating
    # 32 cm/s and beat alignment 0.42 fail): see training/logs/train_log_v4.csv
    "v4": {"start_p": 0.3},
    # v5: a 20x stronger KL weight so the conditional prior learns the latents the decoder reads
    "v5": {"start_p": 0.3, "beta": 0.01, "free_bits": 0.05},
    # v6: the VQ network (training.model_vq): a codebook of moves with a categorical prior, and
    # per-style real seed histories in the export so a clip starts dancing in its style
    "v6": {"model": {"kind": "vq", "codes": 512}, "seed_motion": True},
    # v7/v8: v2 plus the joint-speed loss, and per-style real seed histories in the export
    "v7": {"w_speed": 1.0, "seed_motion": True},
    "v8": {"w_speed": 3.0, "seed_motion": True},
    # v9/v10: the temporal latent (see ModelConfig.temporal); v10 also samples the three styles
    # equally often and pulls the posterior closer to the prior
    "v9": _TEMPORAL,
    "v10": {**_TEMPORAL, "style_temper": 0.0, "beta": 2e-3},
    # v11 (shipped until v29): v9 + style dropout, so classifier-free guidance can push the style
    # inputs past what the history already implies, and the own-history clamp. Guidance only acts at
    # export: the same weights exported at 1.0 / 1.5 / 2.0 / 2.5 / 3.0 passed 5 / 5 / 8 / 9 / 9
    # bars (build/v11/q*), so 2.5 ships. v12: v11 + the joint-speed loss (jittery: jerk 2.2e6)
    "v11": {**_GUIDED, "guidance": 2.5},
    "v12": {**_GUIDED, "guidance": 1.5, "w_speed": 1.0},
    # v13: v11 trained 50 % longer with guidance 2; v14: v13 sampling the three styles equally
    # often. Both 7/14: better FID_k (59 / 56 vs 71) but weaker sliders (energy 0.41 / 0.47),
    # groove still read as salsa. See training/EXPERIMENTS.md
    "v13": {**_GUIDED, "guidance": 2.0, "steps": 3000},
    "v14": {**_GUIDED, "guidance": 2.0, "steps": 3000, "style_temper": 0.0},
    # v15: v11 on the groove set grown by CMU 55_01 (FBX) and the YMCA loop (GLB), read through
    # Blender's importers (training.scene_takes). v16: v15 with a 24-frame (0.8 s) history, so a
    # clip remembers its seed motion for longer instead of drifting to the salsa-heavy average
    "v15": {**_GROWN, "clamp_history": False},
    "v16": {**_GROWN, "clamp_history": False, "model": {"temporal": True, "history": 24}},
    # v17: v15 + the beat-sync term (TrainConfig.w_beat). Its output slows down on the beat like
    # real dance (BAS 0.5-0.6) but jitters and runs away (foot skating 45-54 cm/s, 10-23x speed)
    "v17": {**_GROWN, "clamp_history": False, "w_beat": 50.0},
    # v19: v15 with 5-window rollouts instead of 3, so own-history feedback covers 3.4 s instead
    # of 2.1 s: v15 and a no-whirl control both ran away into spins in 5-minute salsa runs
    "v19": {**_GROWN, "rollout": 5},
    # v20: v15 feeding back its own predictions as history in 90 % of later windows (not 60 %)
    "v20": {**_GROWN, "own_max": 0.9},
    # v21: v11 (BVH takes only) with v19's 5-window rollouts
    "v21": {**_GUIDED, "guidance": 2.5, "rollout": 5},
    # v22: v11 + descriptor guidance: presence flags on the style input, 15 % of windows lose
    # their descriptors alone, and the graph pushes the descriptor sliders with their own scale,
    # since the energy slider followed at r = 0.70 only. v23: the same on v19 (grown groove set,
    # 5-window rollouts: stable long runs, but sliders weaker than v11's)
    "v22": {**_DESC, "guidance": 2.5},
    "v23": {**_GROWN, **_DESC, "rollout": 5},
    # v24/v25: v11 + the energy-follow term (TrainConfig.w_energy) at two weights: the energy
    # slider follows (0.95) but the feet slide (50-67 cm/s) and long runs reach 7-10x real speed.
    # v22/v23 (above) did not sharpen the sliders and ran away in long runs. See EXPERIMENTS.md
    "v24": {**_GUIDED, "guidance": 2.5, "w_energy": 2.0},
    "v25": {**_GUIDED, "guidance": 2.5, "w_energy": 8.0},
    # v26/v27: the energy-follow term on the upper body only, at much smaller weights: energy
    # 0.97 / 0.95 and v26 passes both stability bars and the style classifier, but travel and
    # turning stop following (0.32 / 0.22, 0.68 / 0.66): 8 and 7 bars. See EXPERIMENTS.md
    "v26": {**_GUIDED, "guidance": 2.5, "w_energy": 0.5, "energy_upper_body": True},
    "v27": {**_GUIDED, "guidance": 2.5, "w_energy": 0.15, "energy_upper_body": True},
    # v28: v11 with absolute root velocities (ModelConfig.root_absolute): every long-run runaway
    # so far was a spin, and the residual decoder integrates the root's velocity channels.
    # v29 (shipped 1.1): the same on the grown groove set (v15's data, which helped groove but spun
    # away), exported with variety 0.8: stable from any seed take, so each seed may dance with
    # its take's character (diversity 0.29 -> 0.57 of real). Guidance 2.5 / 3.0 / 3.5 passed
    # 12 / 13 / 12 bars (turning 0.79 / 0.81 / 0.76), so 3.0 ships
    "v28": {**_GUIDED, "guidance": 2.5, "model": {"temporal": True, "root_absolute": True}},
    "v29": _ABSOLUTE,
    # v30: v29 sampling the three styles equally often (groove is 2 of its 6 clips read right)
    "v30": {**_ABSOLUTE, "style_temper": 0.0},
    # v31/v32: half-way balancing (style_temper 0.25 / 0.35): does a smaller tilt toward groove
    # keep what v30 lost? v31: 13 bars (style 0.89) but groove's first minutes at 0.48x real
    # speed; exported with a noise scale of its own for groove (4.0, export's
    # calibrate_style_noise_scales), v31 passes all 14 and ships (1.2). v32: 11 bars
    "v31": {**_ABSOLUTE, "style_temper": 0.25},
    "v32": {**_ABSOLUTE, "style_temper": 0.35},
}


# ------------------------------------------------------------------------------------- data


@dataclass
class TrainingData:
    """The dataset arrays the trainer needs, plus derived statistics."""

    features: np.ndarray  # (N, F) float32 raw
    take_id: np.ndarray  # (N,)
    beat: np.ndarray  # (N, 2) float32 sin/cos of the beat phase
    descriptors: np.ndarray  # (N, D) float32 0..1
    frame_style: np.ndarray  # (N,) int
    frame_split: np.ndarray  # (N,) bool: True for training takes
    style_names: list[str]
    descriptor_names: list[str]
    take_names: list[str]
    take_style: np.ndarray
    take_split: np.ndarray
    take_bpm: np.ndarray
    mean: np.ndarray  # (F,) float32
    std: np.ndarray  # (F,) float32
    descriptor_ranges: np.ndarray  # (D, 2) raw value at slider 0 and at slider 1

    @property
    def style_size(self) -> int:
        return len(self.style_names) + len(self.descriptor_names)

    def style_vectors(self, frames: np.ndarray) -> np.ndarray:
        """Style vectors (..., S): one-hot of the take's style + descriptors at ``frames``."""
        onehot = np.eye(len(self.style_names), dtype=np.float32)[self.frame_style[frames]]
        return np.concatenate([onehot, self.descriptors[frames]], axis=-1)


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean/std; std floored so near-constant channels do not blow up."""
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    floor = np.full_like(std, 0.02)
    floor[1:4] = 1e-3  # root velocities / yaw rate are small numbers per frame
    floor[0] = 0.01
    return mean.astype(np.float32), np.maximum(std, floor).astype(np.float32)


def load_training_data(path: Path) -> TrainingData:
    """Read ``dataset.npz`` (no pickle) and derive per-frame arrays and normalisation."""
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    feats = d["features"].astype(np.float32)
    take_id = d["take_id"].astype(np.int64)
    phase = d["beat_phase"].astype(np.float64)
    ang = 2.0 * np.pi * phase
    beat = np.stack([np.sin(ang), np.cos(ang)], axis=-1).astype(np.float32)
    take_split = np.asarray([str(s) for s in d["take_split"]])
    take_style = d["take_style"].astype(np.int64)
    is_train = take_split[take_id] == "train"
    mean, std = feature_stats(feats[is_train])
    return TrainingData(
        features=feats,
        take_id=take_id,
        beat=beat,
        descriptors=np.clip(d["descriptors"].astype(np.float32), 0.0, 1.0),
        frame_style=take_style[take_id],
        frame_split=is_train,
        style_names=[str(s) for s in d["style_names"]],
        descriptor_names=[str(s) for s in d["descriptor_names"]],
        take_names=[str(s) for s in d["take_names"]],
        take_style=take_style,
        take_split=take_split,
        take_bpm=d["take_bpm"].astype(np.float64),
        mean=mean,
        std=std,
        descriptor_ranges=d.get(
            "descriptor_ranges", np.tile([0.0, 1.0], (d["descriptors"].shape[1], 1))
        ).astype(np.float64),
    )


def sequence_starts(data: TrainingData, length: int, train: bool) -> np.ndarray:
    """First frames of every ``length``-frame run inside one take of the chosen split."""
    starts = []
    tid = data.take_id
    bounds = np.flatnonzero(np.diff(tid)) + 1
    edges = np.concatenate([[0], bounds, [tid.shape[0]]])
    for a, b in zip(edges[:-1], edges[1:]):
        if data.frame_split[a] != train or b - a < length:
            continue
        starts.append(np.arange(a, b - length + 1))
    return np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)


def _sampling_probs(data: TrainingData, starts: np.ndarray, temper: float) -> np.ndarray:
    """Per-start probabilities that give style s a share ~ frames_s ** temper."""
    styles = data.frame_style[starts]
    counts = np.bincount(styles, minlength=len(data.style_names)).astype(np.float64)
    share = np.where(counts > 0, counts**temper, 0.0)
    share /= share.sum()
    p = share[styles] / counts[styles]
    return p / p.sum()


def _contact_heights(data: TrainingData, fk: SkeletonFK) -> np.ndarray:
    """Per foot joint: the height below which it counts as on the floor.

    The sole's floor is the data's low percentile (5th) of each joint's height minus its clearance,
    as ``training.metrics.foot_contacts`` estimates it per clip; contact = within the margin.
    """
    rng = np.random.default_rng(0)
    idx = np.flatnonzero(data.frame_split)
    idx = idx[rng.choice(idx.shape[0], min(20000, idx.shape[0]), replace=False)]
    with torch.no_grad():
        pos = fk.local_positions(torch.from_numpy(data.features[idx]))
    heights = pos[:, list(FOOT_JOINTS), 1].numpy()
    return (np.percentile(heights, 5, axis=0) + CONTACT_MARGIN).astype(np.float32)


def initial_history(data: TrainingData, history: int) -> np.ndarray:
    """A typical dancing-ready stretch of real motion (H, F) to start generation from.

    The training window (inside one take of the most common style) whose frames are closest, in
    normalised units, to the average pose, so the first window starts from an ordinary stance.
    """
    train = np.flatnonzero(data.frame_split)
    main_style = np.bincount(data.frame_style[train]).argmax()
    xn = (data.features - data.mean) / data.std
    dist = np.sum(xn[:, 4:] ** 2, axis=1) + 10.0 * np.sum(xn[:, 1:4] ** 2, axis=1)
    csum = np.concatenate([[0.0], np.cumsum(dist)])
    n = data.features.shape[0]
    s = np.arange(0, n - history + 1)
    total = csum[s + history] - csum[s]
    ok = (
        (data.take_id[s] == data.take_id[s + history - 1])
        & data.frame_split[s]
        & (data.frame_style[s] == main_style)
    )
    total[~ok] = np.inf
    best = int(np.argmin(total))
    return data.features[best : best + history].astype(np.float64)


# ------------------------------------------------------------------------------------ losses


def _jerk(seq: torch.Tensor) -> torch.Tensor:
    """Mean squared third difference along time (dim 1)."""
    d3 = seq[:, 3:] - 3.0 * seq[:, 2:-1] + 3.0 * seq[:, 1:-2] - seq[:, :-3]
    return d3.pow(2).mean()


SPEED_EPS = 0.002  # m/frame (6 cm/s): joints slower than this count as still in the speed loss
ENERGY_STEP = 4  # frames per displacement step in the energy-follow loss
UPPER_BODY = (0, 3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23)  # SMPL-24 minus the legs


def _window_speed(pos: torch.Tensor) -> torch.Tensor:
    """Mean speed (m/frame) of every joint over a window of world positions ``(B, T, J, 3)``."""
    d = pos[:, 1:] - pos[:, :-1]
    return torch.sqrt(d.pow(2).sum(-1) + 1e-10).mean(dim=1)


def _beat_modulation(pos: torch.Tensor, beat: torch.Tensor) -> torch.Tensor:
    """Speed-weighted mean ``(B, 2)`` of the beat's (sin, cos) over ``pos (B, T+1, J, 3)``.

    Kinematic beats are speed minima, so on-beat motion gives a negative cos component.
    """
    d = pos[:, 1:] - pos[:, :-1]
    speed = torch.sqrt(d.pow(2).sum(-1) + 1e-10).mean(dim=-1)  # (B, T)
    return (speed.unsqueeze(-1) * beat).sum(1) / speed.sum(1, keepdim=True).clamp_min(1e-6)


class Losses:
    """All loss terms of one window; returns the weighted total and the parts for logging."""

    def __init__(self, cfg: TrainConfig, fk: SkeletonFK, mean, std, contact_h: np.ndarray):
        self.cfg = cfg
        self.fk = fk
        self.mean = torch.as_tensor(mean).view(1, 1, -1)
        self.std = torch.as_tensor(std).view(1, 1, -1)
        self.contact_h = torch.as_tensor(contact_h).view(1, 1, -1)
        self.clearance = torch.tensor(FOOT_CLEARANCE).view(1, 1, -1)
        w = torch.ones(mean.shape[0])
        w[:4] = cfg.w_root
        self.chan_w = w.view(1, 1, -1) / w.mean()

    def raw(self, xn: torch.Tensor) -> torch.Tensor:
        return xn * self.std + self.mean

    def __call__(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        hist: torch.Tensor,
        latent: tuple[torch.Tensor, dict[str, float]],
    ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        rec = ((pred - target).pow(2) * self.chan_w).mean()
        # velocity term: frame-to-frame changes (seam included) so dynamics are not averaged away
        vel_p = torch.diff(torch.cat([hist[:, -1:], pred], dim=1), dim=1)
        vel_t = torch.diff(torch.cat([hist[:, -1:], target], dim=1), dim=1)
        vel = ((vel_p - vel_t).pow(2) * self.chan_w).mean()
        # positions: pose in the heading frame and, across the seam, world feet
        raw_p = self.raw(torch.cat([hist[:, -1:], pred], dim=1))
        raw_t = self.raw(torch.cat([hist[:, -1:], target], dim=1))
        # one FK pass for prediction and target (the target half gets no gradient anyway)
        pos_p, pos_t = self.fk.world_positions(torch.cat([raw_p, raw_t.detach()])).chunk(2)
        pos_t = pos_t.detach()
        loc_p = pos_p[:, 1:] - pos_p[:, 1:, :1] * torch.tensor([1.0, 0.0, 1.0])
        loc_t = pos_t[:, 1:] - pos_t[:, 1:, :1] * torch.tensor([1.0, 0.0, 1.0])
        pos = (loc_p - loc_t).pow(2).sum(-1).mean()
        feet_p = pos_p[:, :, list(FOOT_JOINTS)]
        feet_t = pos_t[:, :, list(FOOT_JOINTS)]
        vel_p = (feet_p[:, 1:, :, [0, 2]] - feet_p[:, :-1, :, [0, 2]]).pow(2).sum(-1)
        with torch.no_grad():
            vel_t = (feet_t[:, 1:] - feet_t[:, :-1]).pow(2).sum(-1).sqrt()
            contact = (vel_t < CONTACT_SPEED) & (feet_t[:, 1:, :, 1] < self.contact_h)
        foot = (vel_p * contact).sum() / contact.sum().clamp_min(1.0)
        floor = torch.relu(self.clearance - feet_p[:, 1:, :, 1]).pow(2).mean()
        speed = torch.zeros(())
        if cfg.w_speed > 0.0:
            speed = (
                (
                    torch.log(_window_speed(pos_p) + SPEED_EPS)
                    - torch.log(_window_speed(pos_t) + SPEED_EPS)
                )
                .pow(2)
                .mean()
            )
        jerk = _jerk(torch.cat([hist[:, -3:], pred], dim=1))
        latent_loss, latent_parts = latent
        total = (
            rec
            + cfg.w_vel * vel
            + cfg.w_pos * pos
            + cfg.w_foot * foot
            + cfg.w_floor * floor
            + cfg.w_jerk * jerk
            + cfg.w_speed * speed
            + latent_loss
        )
        parts = {
            "rec": rec.item(),
            "vel": vel.item(),
            "pos": pos.item(),
            "foot": foot.item(),
            "floor": floor.item(),
            "jerk": jerk.item(),
            "speed": speed.item(),
            **latent_parts,
        }
        return total, parts

    def _seam_positions(
        self, pred: torch.Tensor, target: torch.Tensor, hist: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """World positions of ``pred`` and of ``target`` (no gradient), each with the last
        history frame in front, from one FK pass."""
        raw_p = self.raw(torch.cat([hist[:, -1:], pred], dim=1))
        raw_t = self.raw(torch.cat([hist[:, -1:], target], dim=1)).detach()
        pos_p, pos_t = self.fk.world_positions(torch.cat([raw_p, raw_t])).chunk(2)
        return pos_p, pos_t.detach()

    def energy_gap(
        self, pred: torch.Tensor, target: torch.Tensor, hist: torch.Tensor
    ) -> torch.Tensor:
        """Per-window squared log gap ``(B,)`` between the energy of ``pred`` and of ``target``.

        Energy here is the mean joint speed over 4-frame steps with the pelvis's horizontal
        travel removed: the energy descriptor's measure, on a scale where frame-to-frame jitter
        counts little, so the decoder cannot meet it by trembling.
        """
        pos = torch.cat(self._seam_positions(pred, target, hist))
        pos = pos - pos[:, :, :1] * torch.tensor([1.0, 0.0, 1.0])
        if self.cfg.energy_upper_body:
            pos = pos[:, :, list(UPPER_BODY)]
        step = pos[:, ENERGY_STEP:] - pos[:, :-ENERGY_STEP]
        energy = torch.sqrt(step.pow(2).sum(-1) + 1e-10).mean(dim=(1, 2))
        e_p, e_t = torch.log(energy + SPEED_EPS).chunk(2)
        return (e_p - e_t.detach()).pow(2)

    def beat_sync(
        self, pred: torch.Tensor, target: torch.Tensor, hist: torch.Tensor, beat: torch.Tensor
    ) -> torch.Tensor:
        """Squared gap between the beat modulation of ``pred`` and of ``target`` (see w_beat)."""
        pos_p, pos_t = self._seam_positions(pred, target, hist)
        m_p = _beat_modulation(pos_p, beat)
        m_t = _beat_modulation(pos_t, beat)  # no gradient: raw_t is detached
        return (m_p - m_t).pow(2).sum(-1).mean()


# ------------------------------------------------------------------------------------ training


class Batcher:
    """Deterministic random rollout sequences (normalised features, beat, per-window style)."""

    def __init__(self, data: TrainingData, mcfg: ModelConfig, cfg: TrainConfig, train: bool):
        self.data = data
        self.h, self.w = mcfg.history, mcfg.window
        self.step = mcfg.window - cfg.overlap
        self.rollout = cfg.rollout
        self.length = self.h + (cfg.rollout - 1) * self.step + self.w
        self.starts = sequence_starts(data, self.length, train)
        if self.starts.size == 0:
            raise RuntimeError("no take is long enough for one training rollout")
        self.probs = _sampling_probs(data, self.starts, cfg.style_temper)
        self.xn = ((data.features - data.mean) / data.std).astype(np.float32)
        self.style_flags = mcfg.style_flags

    def sample(self, rng: np.random.Generator, batch: int) -> dict[str, torch.Tensor]:
        starts = rng.choice(self.starts, size=batch, p=self.probs)
        return self.gather(starts)

    def gather(self, starts: np.ndarray) -> dict[str, torch.Tensor]:
        idx = starts[:, None] + np.arange(self.length)[None, :]
        centres = starts[:, None] + self.h + np.arange(self.rollout)[None, :] * self.step
        centres = centres + self.w // 2
        style = self.data.style_vectors(centres)
        if self.style_flags:  # both presence flags on: categories and descriptors as in the take
            style = np.concatenate([style, np.ones(style.shape[:-1] + (2,), np.float32)], -1)
        return {
            "x": torch.from_numpy(self.xn[idx]),
            "beat": torch.from_numpy(self.data.beat[idx]),
            "style": torch.from_numpy(style),
        }


def _ramp(t: float, a: float, b: float) -> float:
    if t <= a:
        return 0.0
    if t >= b:
        return 1.0
    return (t - a) / (b - a)


@dataclass
class Corruption:
    """How the decoder's history input is corrupted during training (all off for validation)."""

    noise: float = 0.0
    noise_p: float = 0.0
    shift_p: float = 0.0
    style_drop: float = 0.0
    start_p: float = 0.0
    start: torch.Tensor | None = None  # (H, F) normalised neutral start history
    desc_drop: float = 0.0  # windows that keep their categories but lose their descriptors
    categories: int = 0  # leading category axes of the style vector


def _corrupt(hist: torch.Tensor, corr: Corruption, rng: np.random.Generator) -> torch.Tensor:
    """Gaussian noise (per-window sigma ~ U(0.5, 1.5) * ``noise``) on a random subset of windows."""
    if corr.noise <= 0.0 or corr.noise_p <= 0.0:
        return hist
    n_b = hist.shape[0]
    sigma = corr.noise * rng.uniform(0.5, 1.5, n_b) * (rng.random(n_b) < corr.noise_p)
    eps = torch.from_numpy(rng.standard_normal(hist.shape).astype(np.float32))
    return hist + eps * torch.from_numpy(sigma.astype(np.float32)).view(-1, 1, 1)


def _drop_style(
    style: torch.Tensor,
    p: float,
    rng: np.random.Generator,
    desc_p: float = 0.0,
    categories: int = 0,
) -> torch.Tensor:
    """Replace the style of a random ``p`` of the windows by zeros (the unconditional style).

    With ``desc_p`` (flagged styles: ``S`` axes then the two presence flags), a further
    ``desc_p`` of the windows keep their categories and lose their descriptor values and flag.
    """
    if p <= 0.0 and desc_p <= 0.0:
        return style
    u = rng.random(style.shape[0])
    out = torch.where(torch.from_numpy(u >= p).view(-1, 1), style, torch.zeros_like(style))
    if desc_p > 0.0:
        keep = torch.ones(style.shape[-1])
        keep[categories : style.shape[-1] - 2] = 0.0
        keep[-1] = 0.0
        no_desc = torch.from_numpy((u >= p) & (u < p + desc_p)).view(-1, 1)
        out = torch.where(no_desc, out * keep, out)
    return out


def _neutral_start(hist: torch.Tensor, corr: Corruption, rng: np.random.Generator) -> torch.Tensor:
    """Replace a random ``start_p`` of the first histories by the generation's neutral start."""
    if corr.start_p <= 0.0 or corr.start is None:
        return hist
    neutral = torch.from_numpy(rng.random(hist.shape[0]) < corr.start_p).view(-1, 1, 1)
    return torch.where(neutral, corr.start.unsqueeze(0), hist)


def rollout_loss(
    model: DanceCVAE,
    losses: Losses,
    batch: dict[str, torch.Tensor],
    step: int,
    own_p: float,
    beta: float,
    rng: np.random.Generator,
    corr: Corruption | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss over ``rollout`` consecutive windows, feeding back own predictions with ``own_p``.

    The losses always use the clean history (seam velocity, jerk); the model's prior and decoder
    get the corrupted one (see :class:`Corruption`).
    """
    corr = corr or Corruption()
    cfg_m = model.cfg
    h, w = cfg_m.history, cfg_m.window
    x, beat, style = batch["x"], batch["beat"], batch["style"]
    n_b, rollout = x.shape[0], style.shape[1]
    hist = _neutral_start(x[:, :h], corr, rng)
    hist_in = hist
    total = torch.zeros(())
    agg: dict[str, float] = {}
    for k in range(rollout):
        s = h + k * step
        target = x[:, s : s + w]
        hist_noisy = _corrupt(hist_in, corr, rng)
        style_k = _drop_style(style[:, k], corr.style_drop, rng, corr.desc_drop, corr.categories)
        pred, *latent_out = model(hist, target, style_k, beat[:, s : s + w], hist_in=hist_noisy)
        latent = model.latent_loss(tuple(latent_out), beta, losses.cfg.free_bits)
        loss, parts = losses(pred, target, hist, latent)
        if losses.cfg.w_beat > 0.0 or losses.cfg.w_energy > 0.0:
            noise = torch.randn(n_b, model.cfg.latent)
            pred_prior = model.sample(hist_noisy, style_k, beat[:, s : s + w], noise)
        if losses.cfg.w_beat > 0.0:
            sync = losses.beat_sync(pred_prior, target, hist, beat[:, s : s + w])
            loss = loss + losses.cfg.w_beat * sync
            parts["beat"] = sync.item()
        if losses.cfg.w_energy > 0.0:
            styled = style_k.abs().sum(-1) > 0.0  # dropped styles ask for no particular energy
            gap = losses.energy_gap(pred_prior, target, hist)
            follow = (gap * styled).sum() / styled.sum().clamp_min(1)
            loss = loss + losses.cfg.w_energy * follow
            parts["energy"] = follow.item()
        total = total + loss
        for key, v in parts.items():
            agg[key] = agg.get(key, 0.0) + v / rollout
        if k + 1 < rollout:
            nxt = s + step
            gt_hist = x[:, nxt - h : nxt]
            # the last h frames of (history, this window's first `step` frames): with h <= step
            # that is pred[:, step - h : step], with a longer history it reaches into `hist`
            own_hist = torch.cat([hist, pred[:, :step]], dim=1)[:, -h:].detach()
            if losses.cfg.own_clamp > 0.0:
                own_hist = own_hist.clamp(-losses.cfg.own_clamp, losses.cfg.own_clamp)
            use_own = torch.from_numpy(rng.random(n_b) < own_p).view(-1, 1, 1)
            hist = torch.where(use_own, own_hist, gt_hist)
            hist_in = hist
            if corr.shift_p > 0.0:
                # a history that ends 1-2 frames early: the decoder must not rely on the exact
                # last frame it is given
                d = rng.integers(1, 3, n_b) * (rng.random(n_b) < corr.shift_p)
                idx = (nxt - h - d)[:, None] + np.arange(h)[None, :]
                shifted = x[torch.arange(n_b)[:, None], torch.from_numpy(idx)]
                hist_in = torch.where(torch.from_numpy(d > 0).view(-1, 1, 1), shifted, hist)
    return total / rollout, agg


def train(
    data: TrainingData,
    mcfg: ModelConfig,
    cfg: TrainConfig,
    log_path: Path | None,
    verbose: bool = True,
) -> tuple[DanceCVAE, list[dict]]:
    """Train from scratch with ``cfg.seed``; returns the model and the per-epoch log rows.

    One intra-op thread by default: on the shared 2-core build machine two threads measured
    0.3-4 s per step (threads waiting on each other while descheduled) against a steady
    0.5-0.9 s with one, and a fixed thread count keeps the run bit-reproducible.
    """
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(cfg.seed)
    fk = SkeletonFK(smpl24_skeleton())
    model = build_model(mcfg)
    losses = Losses(cfg, fk, data.mean, data.std, _contact_heights(data, fk))
    train_b = Batcher(data, mcfg, cfg, train=True)
    step_len = train_b.step
    try:
        val_b = Batcher(data, mcfg, cfg, train=False)
        vrng = np.random.default_rng(cfg.seed + 1)
        val_batch = val_b.gather(np.sort(vrng.choice(val_b.starts, size=256, p=val_b.probs)))
    except RuntimeError:
        val_batch = None
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start = None
    if cfg.start_p > 0.0:
        neutral = (initial_history(data, mcfg.history) - data.mean) / data.std
        start = torch.from_numpy(neutral.astype(np.float32))
    corr = Corruption(
        cfg.hist_noise,
        cfg.hist_noise_p,
        cfg.hist_shift_p,
        cfg.style_drop,
        cfg.start_p,
        start,
        cfg.desc_drop,
        mcfg.categories,
    )
    rows: list[dict] = []
    t0 = time.perf_counter()
    writer = None
    fh = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log_path, "w", newline="")
    acc: dict[str, float] = {}
    n_acc = 0
    try:
        for step in range(cfg.steps):
            t = step / max(1, cfg.steps - 1)
            lr = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1.0 + math.cos(math.pi * t))
            for g in opt.param_groups:
                g["lr"] = lr
            beta = cfg.beta * _ramp(t, 0.0, cfg.beta_warmup)
            own_p = cfg.own_max * _ramp(t, cfg.own_start, cfg.own_end)
            model.train()
            batch = train_b.sample(rng, cfg.batch)
            loss, parts = rollout_loss(model, losses, batch, step_len, own_p, beta, rng, corr)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            parts["loss"] = loss.item()
            for k, v in parts.items():
                acc[k] = acc.get(k, 0.0) + v
            n_acc += 1
            if (step + 1) % cfg.epoch_steps == 0 or step + 1 == cfg.steps:
                row = {
                    "epoch": len(rows) + 1,
                    "step": step + 1,
                    "seconds": round(time.perf_counter() - t0, 1),
                    "lr": lr,
                    "beta": beta,
                    "own_p": own_p,
                }
                row.update({k: v / n_acc for k, v in acc.items()})
                row.update(_validate(model, losses, val_batch, step_len))
                rows.append(row)
                acc, n_acc = {}, 0
                if fh is not None:
                    if writer is None:
                        writer = csv.DictWriter(fh, fieldnames=list(row))
                        writer.writeheader()
                    writer.writerow({k: _fmt(v) for k, v in row.items()})
                    fh.flush()
                if verbose:
                    print(
                        " ".join(f"{k}={_fmt(v)}" for k, v in row.items()),
                        flush=True,
                    )
    finally:
        if fh is not None:
            fh.close()
    model.eval()
    return model, rows


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


@torch.no_grad()
def _validate(model, losses, batch, step_len) -> dict[str, float]:
    """Held-out reconstruction (posterior) and the prior's fully-own rollout feature error."""
    if batch is None:
        return {}
    model.eval()
    rng = np.random.default_rng(0)
    _, parts = rollout_loss(model, losses, batch, step_len, 0.0, 0.0, rng)
    out = {"val_rec": parts["rec"], "val_pos": parts["pos"]}
    for key in ("kl", "prior_ce", "prior_acc"):
        if key in parts:
            out[f"val_{key}"] = parts[key]
    return out


# ------------------------------------------------------------------------------------- weights


def save_weights(path: Path, model: DanceCVAE, mean: np.ndarray, std: np.ndarray) -> None:
    """Weights as plain float32 arrays in an .npz (no pickle) plus the config as JSON text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"param/{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    arrays["norm/mean"] = np.asarray(mean, dtype=np.float32)
    arrays["norm/std"] = np.asarray(std, dtype=np.float32)
    arrays["config"] = np.asarray(json.dumps(model.cfg.to_dict()))
    np.savez(path, **arrays)


def load_weights(path: Path) -> tuple[DanceCVAE, np.ndarray, np.ndarray]:
    """Rebuild the model saved by :func:`save_weights`."""
    with np.load(path, allow_pickle=False) as z:
        cfg = ModelConfig(**json.loads(str(z["config"])))
        model = build_model(cfg)
        prefix = "param/"
        state = {k[len(prefix) :]: torch.from_numpy(z[k]) for k in z.files if k.startswith(prefix)}
        model.load_state_dict(state)
        mean, std = z["norm/mean"], z["norm/std"]
    model.eval()
    return model, mean, std


# ---------------------------------------------------------------------------------------- main


def dataset_for_recipe(name: str) -> Path:
    """The dataset a recipe trains on: every take, or (recipes before v15) the BVH takes only.

    v2-v14 (v11, shipped until v29, among them) were trained before the FBX/GLB groove takes were
    read, so they keep reproducing from the data they were trained on.
    """
    if RECIPES[name].get("scene_takes", False):
        return REPO / "build" / "dataset.npz"
    return REPO / "build" / "dataset_bvh.npz"


def ensure_dataset(recipe: str) -> Path:
    """The recipe's dataset, built with ``training.prepare_data`` when it is not there yet."""
    path = dataset_for_recipe(recipe)
    if path.exists():
        return path
    cmd = [sys.executable, "-m", "training.prepare_data", "--out", str(path)]
    if not RECIPES[recipe].get("scene_takes", False):
        cmd.append("--no-scene-takes")
    print(f"{path} is missing: running {' '.join(cmd[1:])}", flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)
    if not path.exists():
        raise SystemExit(f"training.prepare_data did not write {path}")
    return path


def recipe_config(name: str, **overrides) -> tuple[TrainConfig, dict, bool]:
    """A recipe's training config, its ``ModelConfig`` overrides and whether it ships seeds."""
    recipe = dict(RECIPES[name])
    model_kw = recipe.pop("model", {})
    seed_motion = recipe.pop("seed_motion", False)
    recipe.pop("scene_takes", None)  # which dataset: see dataset_for_recipe
    return TrainConfig(**{**recipe, **overrides}), model_kw, seed_motion


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--dataset", type=Path, default=None, help="default: the recipe's (dataset_for_recipe)"
    )
    ap.add_argument("--out", type=Path, default=REPO / "dance_ai_addon/engines/default.onnx")
    ap.add_argument("--weights", type=Path, default=REPO / "build" / "default_weights.npz")
    ap.add_argument("--log", type=Path, default=REPO / "training" / "logs" / "train_log.csv")
    ap.add_argument("--steps", type=int, default=None, help="optimiser steps (recipe's default)")
    ap.add_argument("--seed", type=int, default=TrainConfig.seed)
    ap.add_argument("--export-only", action="store_true", help="export saved --weights")
    ap.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default=SHIPPED_RECIPE,
        help=f"{SHIPPED_RECIPE} (shipped) or an experiment",
    )
    ap.add_argument(
        "--guidance", type=float, default=None, help="export with this guidance (recipe's default)"
    )
    ap.add_argument(
        "--guidance-desc",
        type=float,
        default=None,
        help="export with this descriptor guidance (recipe's default; style-flag networks only)",
    )
    args = ap.parse_args(argv)

    if args.dataset is None:
        args.dataset = ensure_dataset(args.recipe)
    elif not args.dataset.exists():
        raise SystemExit(
            f"no dataset at {args.dataset}: build it with python -m training.prepare_data"
        )
    data = load_training_data(args.dataset)
    cfg, model_kw, seed_motion = recipe_config(args.recipe, seed=args.seed)
    if args.steps is not None:
        cfg.steps = args.steps
    torch.set_num_threads(cfg.threads)
    if args.export_only:
        from training import export as export_mod

        model, mean, std = load_weights(args.weights)
        if not (np.allclose(mean, data.mean) and np.allclose(std, data.std)):
            raise SystemExit(
                f"{args.weights} was trained on another dataset than {args.dataset} (its feature "
                "statistics differ): pass the --dataset it was trained on"
            )
        train_info = export_mod.read_train_info(args.weights)
    else:
        mcfg = ModelConfig(
            features=data.features.shape[1],
            style=data.style_size,
            categories=len(data.style_names),
            **model_kw,
        )
        t0 = time.perf_counter()
        model, rows = train(data, mcfg, cfg, args.log)
        minutes = (time.perf_counter() - t0) / 60.0
        # imported only now so the export code is the one on disk when training ends
        from training import export as export_mod

        save_weights(args.weights, model, data.mean, data.std)
        train_info = {
            "minutes": round(minutes, 1),
            "steps": cfg.steps,
            "seed": cfg.seed,
            "final": rows[-1] if rows else {},
            "config": cfg.__dict__,
            "recipe": args.recipe,
        }
        export_mod.write_train_info(args.weights, train_info)
        print(f"trained in {minutes:.1f} min; weights -> {args.weights}", flush=True)
    out = export_mod.export_engine(
        model,
        data,
        args.out,
        train_info,
        overlap=cfg.overlap,
        guidance=cfg.guidance if args.guidance is None else args.guidance,
        guidance_desc=cfg.guidance_desc if args.guidance_desc is None else args.guidance_desc,
        seed_motion=seed_motion,
        clamp_history=cfg.clamp_history,
        variety=cfg.variety,
    )
    print(f"engine -> {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
