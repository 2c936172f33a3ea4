"""Style strings and vectors: preset mixing, raw axes, normalisation, unknown names."""

from __future__ import annotations

import numpy as np
import pytest

from dance_ai_addon.core.engines.contract import metadata_from_dict
from dance_ai_addon.core.errors import DanceAIError
from dance_ai_addon.core.style import known_style_names, parse_style, style_vector


@pytest.fixture
def meta(mte):
    return metadata_from_dict(mte.test_metadata(), "t.onnx")


def test_parse_style():
    assert parse_style("salsa=0.7,modern=0.3") == {"salsa": 0.7, "modern": 0.3}
    assert parse_style(" salsa , modern=2 ") == {"salsa": 1.0, "modern": 2.0}
    assert parse_style("") == {}
    with pytest.raises(DanceAIError, match="not a number"):
        parse_style("salsa=lots")
    with pytest.raises(DanceAIError, match=">= 0"):
        parse_style("salsa=-1")


def test_unknown_style_lists_the_known_names(meta):
    known = known_style_names(meta)
    assert known == ["salsa", "modern", "hiphop", "calm"]
    with pytest.raises(DanceAIError) as exc:
        parse_style("salsa=0.5,tango=0.5", known)
    assert "tango" in str(exc.value) and "salsa, modern, hiphop, calm" in str(exc.value)
    with pytest.raises(DanceAIError, match="unknown style 'tango'"):
        style_vector(meta, {"tango": 1.0})


def test_mix_is_weighted_mean_then_categories_sum_to_one(meta):
    v = style_vector(meta, {"salsa": 0.7, "modern": 0.3})
    np.testing.assert_allclose(v, [0.7, 0.3, 0.0, 0.7 * 0.6 + 0.3 * 0.4])
    # weights need not sum to one: only the ratio matters
    np.testing.assert_allclose(style_vector(meta, {"salsa": 7, "modern": 3}), v)
    calm = style_vector(meta, {"calm": 1.0})
    assert abs(calm[:3].sum() - 1.0) < 1e-12


def test_defaults_raw_axes_and_clipping(meta):
    d = style_vector(meta)
    np.testing.assert_allclose(d, [1 / 3, 1 / 3, 1 / 3, 0.5])  # all-zero categories -> uniform
    v = style_vector(meta, {"hiphop": 1.0}, {"energy": 5.0})
    np.testing.assert_allclose(v, [0, 0, 1, 1.0])  # energy clipped to its max
    with pytest.raises(DanceAIError, match="axes are: salsa, modern, hiphop, energy"):
        style_vector(meta, None, {"tempo": 1.0})
    with pytest.raises(DanceAIError, match="all zero"):
        style_vector(meta, {"salsa": 0.0})


def test_normalise_none_keeps_values(mte):
    d = mte.test_metadata()
    d["style"]["normalise"] = "none"
    m = metadata_from_dict(d, "t.onnx")
    v = style_vector(m, None, {"salsa": 0.4, "modern": 0.4})
    np.testing.assert_allclose(v, [0.4, 0.4, 0.0, 0.5])
