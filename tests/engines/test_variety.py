"""Variety on the shipped engine: each seed dances with the character of a real take of its
style, by default, and the drift can be turned off.

All on the real default engine through ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dance_ai_addon.core.engines import load_engine
from dance_ai_addon.core.errors import DanceAIError
from dance_ai_addon.core.generation import generate
from dance_ai_addon.core.style import style_vector
from tests.tolerances import ULP_NOISE

DEFAULT = Path(__file__).resolve().parents[2] / "dance_ai_addon" / "engines" / "default.onnx"


@pytest.fixture(scope="module")
def engine():
    with load_engine(DEFAULT, backend="cpu", threads=1) as eng:
        yield eng


def _speed(features: np.ndarray) -> float:
    """Mean per-frame change of the joint rotations: how much a clip moves."""
    return float(np.abs(np.diff(features[:, 4:], axis=0)).mean())


def test_generate_defaults_to_the_engines_variety(engine):
    variety = engine.metadata.recommended_variety
    assert 0.0 < variety <= 1.0
    style = style_vector(engine.metadata, {"modern": 1.0})
    default = generate(engine, frames=150, style=style, seed=3).features
    same = generate(engine, frames=150, style=style, seed=3, variety=variety).features
    off = generate(engine, frames=150, style=style, seed=3, variety=0.0).features
    np.testing.assert_allclose(default, same, rtol=0, atol=ULP_NOISE)
    assert np.abs(default - off).mean() > 1e-3
    with pytest.raises(DanceAIError, match="variety must be between 0 and 1"):
        generate(engine, frames=10, style=style, seed=3, variety=1.5)


def test_variety_makes_seeds_differ_like_real_dancers(engine):
    """Without variety every seed aims at the preset's average; with it, seeds of modern (whose
    real takes range from swaying to leaping) move at clearly different speeds."""
    style = style_vector(engine.metadata, {"modern": 1.0})

    def spread(variety: float | None) -> float:
        speeds = np.array(
            [
                _speed(generate(engine, frames=300, style=style, seed=s, variety=variety).features)
                for s in range(8)
            ]
        )
        return float(speeds.std() / speeds.mean())

    assert spread(None) > 2.0 * spread(0.0)
