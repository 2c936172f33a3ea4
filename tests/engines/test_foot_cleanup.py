"""Foot cleanup in generation: planted feet stop sliding, nothing above the legs changes."""

from __future__ import annotations

import numpy as np
import pytest

from dance_ai_addon.core.engines import load_engine
from dance_ai_addon.core.engines.features import decode_features
from dance_ai_addon.core.engines.registry import resolve_engine
from dance_ai_addon.core.generation import clean_feet, generate
from dance_ai_addon.core.retarget.feet import detect_joint_contacts
from dance_ai_addon.core.skeleton import forward_kinematics
from dance_ai_addon.core.style import style_vector

FEET = ("L_Ankle", "R_Ankle", "L_Foot", "R_Foot")
LEGS = {s + j for s in ("L_", "R_") for j in ("Hip", "Knee", "Ankle", "Foot")}


@pytest.fixture(scope="module")
def engine():
    eng = load_engine(resolve_engine(None), "cpu", threads=1)
    yield eng
    eng.close()


def _planted_slide(clip, contacts: np.ndarray) -> float:
    """Mean horizontal speed (m/s) of the foot joints over the given contact frames."""
    pos, _ = forward_kinematics(clip.skeleton, clip.rotations, clip.root_positions)
    idx = [clip.skeleton.names.index(n) for n in FEET]
    feet = pos[:, idx][..., [0, 2]]
    speed = np.linalg.norm(np.gradient(feet, axis=0), axis=-1) * clip.fps
    return float(speed[contacts].mean())


def test_generation_pins_planted_feet(engine):
    style = style_vector(engine.metadata, {"salsa": 1.0})
    raw = generate(engine, frames=300, style=style, seed=4, foot_cleanup=False).clip
    clean = generate(engine, frames=300, style=style, seed=4).clip
    pos, _ = forward_kinematics(raw.skeleton, raw.rotations, raw.root_positions)
    contacts = detect_joint_contacts(
        pos[:, [raw.skeleton.names.index(n) for n in FEET]], raw.fps, "Y", 1.0
    )
    assert contacts.mean() > 0.1  # a dance stands on its feet a good part of the time
    before, after = _planted_slide(raw, contacts), _planted_slide(clean, contacts)
    assert after < 0.35 * before, (before, after)
    # the upper body is untouched: every joint outside the legs keeps its local rotation
    keep = [i for i, n in enumerate(raw.skeleton.names) if n not in LEGS and i > 0]
    np.testing.assert_allclose(clean.rotations[:, keep], raw.rotations[:, keep], atol=1e-9)


def test_returned_features_describe_the_cleaned_clip(engine):
    style = style_vector(engine.metadata, {"groove": 1.0})
    res = generate(engine, frames=120, style=style, seed=9)
    back = decode_features(res.features, res.clip.skeleton, res.clip.fps)
    # same joint rotations and root height (the heading and root path are re-integrated from
    # per-frame rates, so only those drift by rounding)
    dots = np.abs(np.sum(back.rotations[:, 1:] * res.clip.rotations[:, 1:], axis=-1))
    assert np.all(dots > 1.0 - 1e-9)
    np.testing.assert_allclose(back.root_positions[:, 1], res.clip.root_positions[:, 1], atol=1e-9)


def test_clean_feet_without_contacts_changes_nothing(engine):
    style = style_vector(engine.metadata, {"salsa": 1.0})
    clip = generate(engine, frames=60, style=style, seed=1, foot_cleanup=False).clip
    lifted = type(clip)(
        clip.skeleton,
        clip.rotations,
        clip.root_positions + np.linspace(0, 30, clip.n_frames)[:, None] * [0, 1, 1],
        clip.fps,
    )  # rising and flying off: never low and slow
    out, share = clean_feet(lifted)
    assert share == 0.0
    np.testing.assert_array_equal(out.rotations, lifted.rotations)
