"""Descriptor sliders on the shipped engine: the calibrated gain stretches a moved slider on its
way into the network, and the seed pick follows the sliders the user moved.

All on the real default engine through ONNX Runtime; the descriptor is measured on the output
the way the quality report measures it (``training.descriptors``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dance_ai_addon.core.engines import load_engine
from dance_ai_addon.core.errors import DanceAIError
from dance_ai_addon.core.generation import (
    descriptor_gains,
    generate,
    moved_descriptors,
    network_style,
    pick_seed,
    preset_descriptors,
)
from dance_ai_addon.core.style import style_vector
from training.descriptors import clip_descriptors, normalise_descriptors

DEFAULT = Path(__file__).resolve().parents[2] / "dance_ai_addon" / "engines" / "default.onnx"


@pytest.fixture(scope="module")
def engine():
    with load_engine(DEFAULT, backend="cpu", threads=1) as eng:
        yield eng


def _energy_index(meta) -> int:
    return [a.name for a in meta.style_axes].index("energy")


def test_the_shipped_engine_carries_calibrated_gains(engine):
    gains = engine.metadata.descriptor_gain
    assert set(gains) == {a.name for a in engine.metadata.style_axes if a.kind == "descriptor"}
    assert all(1.0 <= g <= 5.0 for g in gains.values())
    assert gains["energy"] > 1.0  # the network under-follows energy; the card says by how much


def test_presets_reach_the_network_untouched(engine):
    meta = engine.metadata
    for name in ("salsa", "modern", "groove"):
        style = style_vector(meta, {name: 1.0})
        np.testing.assert_array_equal(network_style(meta, style), style)
        assert not moved_descriptors(meta, style).any()
    # a stored mixed preset is its categories' mix, rounded: it moves by the rounding only
    style = style_vector(meta, {"salsa_modern": 1.0})
    np.testing.assert_allclose(network_style(meta, style), style, atol=1e-3)
    assert not moved_descriptors(meta, style).any()


def test_a_moved_slider_is_stretched_by_its_gain_alone(engine):
    meta = engine.metadata
    e = _energy_index(meta)
    style = style_vector(meta, {"salsa": 0.5, "modern": 0.5}, raw={"energy": 0.9})
    expected = preset_descriptors(meta, style)
    net = network_style(meta, style)
    d = meta.descriptor_indices
    k = d.index(e)
    gain = meta.descriptor_gain["energy"]
    assert net[e] == pytest.approx(expected[k] + gain * (0.9 - expected[k]))
    others = [i for i in range(len(style)) if i != e]
    np.testing.assert_array_equal(net[others], style[others])
    assert moved_descriptors(meta, style).tolist() == [i == e for i in d]
    # an explicit gain overrides the metadata's; 1 leaves the request as it is
    np.testing.assert_array_equal(network_style(meta, style, 1.0), style)
    with pytest.raises(DanceAIError, match="not a descriptor axis"):
        descriptor_gains(meta, {"salsa": 2.0})
    with pytest.raises(DanceAIError, match="positive"):
        descriptor_gains(meta, -1.0)


def _measured_energy(engine, value: float, gain) -> float:
    meta = engine.metadata
    ranges = np.array([meta.raw["descriptor_ranges"]["energy"]])
    got = []
    for name in ("salsa", "modern"):
        for seed in (31, 32):
            res = generate(
                engine,
                frames=240,
                style=style_vector(meta, {name: 1.0}, raw={"energy": value}),
                seed=seed,
                descriptor_gain=gain,
            )
            raw = clip_descriptors(res.clip.world()[0], meta.fps)[[0]]
            got.append(normalise_descriptors(raw, ranges)[0])
    return float(np.mean(got))


def test_the_gain_makes_the_energy_slider_reach_further(engine):
    plain = _measured_energy(engine, 0.9, 1.0) - _measured_energy(engine, 0.1, 1.0)
    calibrated = _measured_energy(engine, 0.9, None) - _measured_energy(engine, 0.1, None)
    assert plain > 0.0
    assert calibrated > 1.3 * plain


def test_the_seed_pick_follows_the_moved_slider(engine):
    """Energy dragged to 0.9 picks high-energy seed takes even though the other four sliders
    still sit at the preset (they no longer dilute the pick)."""
    meta = engine.metadata
    bank = np.asarray(meta.seed_descriptors["salsa"])[:, 0]  # energy of each salsa seed take
    preset = style_vector(meta, {"salsa": 1.0})
    high = style_vector(meta, {"salsa": 1.0}, raw={"energy": 0.9})

    def picked(style):
        out = []
        for seed in range(40):
            pick = pick_seed(engine, style, np.random.default_rng(seed))
            out.append(pick.descriptors[0])
        return np.asarray(out)

    assert picked(high).mean() > np.percentile(bank, 75)
    assert picked(high).mean() > picked(preset).mean() + 0.1


def test_variety_drifts_the_untouched_descriptors_through_real_takes(engine):
    from dance_ai_addon.core.generation import SeedPick, character_drift

    meta = engine.metadata
    d = meta.descriptor_indices
    e = _energy_index(meta)
    style = style_vector(meta, {"modern": 1.0}, raw={"energy": 0.9})  # energy moved by hand
    bank = np.asarray(meta.seed_descriptors["modern"])
    pick = SeedPick(np.zeros((1, 1)), bank[3], "modern")
    rng = np.random.default_rng(5)
    assert character_drift(meta, style, pick, rng, 40, 20, 0.0) is None
    assert rng.integers(1000) == np.random.default_rng(5).integers(1000)  # rng untouched
    drift = character_drift(meta, style, pick, np.random.default_rng(5), 90, 20, 0.6)
    assert drift.shape == (90, len(style))
    assert np.all(drift[:, e] == 0.0)  # the slider the user moved keeps the request
    assert np.all(drift[:, [i for i in range(len(style)) if i not in d]] == 0.0)  # categories
    free = [i for i in d if i != e]
    want = style[free]
    # the clip starts with the character of the take its seed motion came from ...
    np.testing.assert_allclose(
        drift[0, free], 0.6 * (bank[3][[d.index(i) for i in free]] - want), atol=1e-3
    )
    # ... and 60 s later (90 windows of 20 frames at 30 fps) has drifted through other takes
    assert len({tuple(np.round(row, 6)) for row in drift[::15, free]}) > 3
    assert np.all(np.abs(drift[1:] - drift[:-1]).max(axis=0) < 0.2)  # smoothly, window by window
    with pytest.raises(DanceAIError, match="variety"):
        character_drift(meta, style, pick, rng, 4, 20, 1.5)
