"""Scene-file takes (glTF here) reach the training pipeline through Blender's own importers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dance_ai_addon.core.bvh import load_bvh_clip
from dance_ai_addon.core.skeleton import SMPL24_NAMES
from training.prepare_data import canonical_take
from training.scene_takes import scene_to_bvh

DATA = Path(__file__).resolve().parents[1] / "data"
YMCA = DATA / "mesh2motion_human-addon-animations_YMCA.glb"


def test_glb_dance_becomes_a_bvh_with_its_rate_and_frames(tmp_path: Path) -> None:
    out = scene_to_bvh(YMCA, tmp_path)
    clip = load_bvh_clip(out)
    assert clip.n_frames == 30 and clip.fps == pytest.approx(24.0, abs=1e-3)
    assert "DEF-hips" in clip.skeleton.names
    # cached: a second call does not convert again
    stamp = os.stat(out).st_mtime_ns
    assert scene_to_bvh(YMCA, tmp_path) == out and os.stat(out).st_mtime_ns == stamp


def test_glb_dance_lands_on_the_canonical_skeleton_upright(tmp_path: Path) -> None:
    clip = canonical_take(YMCA, 30.0, scene_cache=tmp_path)
    pos = clip.world()[0]
    assert clip.name == YMCA.stem
    assert clip.n_frames == 37  # 1.25 s at 30 fps
    head, pelvis = SMPL24_NAMES.index("Head"), SMPL24_NAMES.index("Pelvis")
    assert np.all(pos[:, head, 1] > pos[:, pelvis, 1] + 0.4)
    assert abs(pos[..., 1].min()) < 0.06  # soles on the floor
    # "Y": both wrists above the head on the first frame
    wrists = [SMPL24_NAMES.index("L_Wrist"), SMPL24_NAMES.index("R_Wrist")]
    assert np.all(pos[0, wrists, 1] > pos[0, head, 1])


def test_a_scene_without_animation_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="human-zombie.glb: .*no animated armature"):
        scene_to_bvh(DATA / "human-zombie.glb", tmp_path)
