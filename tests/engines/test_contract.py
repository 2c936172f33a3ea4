"""Metadata schema validation and tensor checks: each problem is one EngineError naming the file."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from dance_ai_addon.core.engines.contract import (
    ARKIT_52,
    TensorInfo,
    check_io,
    expected_inputs,
    metadata_from_dict,
    parse_metadata,
)
from dance_ai_addon.core.errors import EngineError


@pytest.fixture
def meta_dict(mte) -> dict:
    return mte.test_metadata()


def test_valid_metadata_parses(meta_dict):
    m = parse_metadata(json.dumps(meta_dict), "x.onnx")
    assert (m.history, m.window, m.feature_size, m.noise_size) == (8, 16, 148, 8)
    assert m.skeleton_name == "SMPL-24" and m.num_joints == 24
    assert m.style_names == ["salsa", "modern", "hiphop", "energy"]
    np.testing.assert_allclose(m.style_presets["salsa"], [1, 0, 0, 0.6])
    assert m.beat_input and m.recommended_overlap == 4
    assert len(ARKIT_52) == 52 and len(set(ARKIT_52)) == 52
    assert m.descriptor_gain == {}  # optional: no gain unless the engine asks for one
    with_gain = _mutate(meta_dict, "recommended.descriptor_gain", {"energy": 2.5})
    assert metadata_from_dict(with_gain, "x.onnx").descriptor_gain == {"energy": 2.5}
    assert m.recommended_variety == 0.0  # optional: every seed aims at the preset unless asked
    varied = _mutate(meta_dict, "recommended.variety", 0.8)
    assert metadata_from_dict(varied, "x.onnx").recommended_variety == 0.8
    assert m.style_noise_scale == {}  # optional: every style samples at noise_scale unless asked
    hot = _mutate(meta_dict, "recommended.style_noise_scale", {"hiphop": 4.5})
    assert metadata_from_dict(hot, "x.onnx").style_noise_scale == {"hiphop": 4.5}


def _mutate(d: dict, path: str, value) -> dict:
    d = copy.deepcopy(d)
    *parents, last = path.split(".")
    target = d
    for p in parents:
        target = target[p]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return d


@pytest.mark.parametrize(
    "path,value,words",
    [
        ("name", KeyError, "missing the key 'name'"),
        ("fps", "thirty", "'fps' must be a number"),
        ("fps", True, "not a boolean"),
        ("history", -1, "'history' must be >= 0"),
        ("window", 2.5, "'window' must be an integer"),
        ("contract_version", "2.0", "contract version 2.0"),
        ("features.size", 150, "'features.size' is 150"),
        ("features.layout", "quat_v9", "unknown feature layout"),
        ("features.rotation", "quat", "must be '6d'"),
        ("skeleton", {"name": "Mixamo"}, "unknown skeleton 'Mixamo'"),
        ("style.axes", [], "at least one axis"),
        ("style.presets", {"salsa": [1, 0]}, "must have 4 values"),
        ("style.normalise", "softmax", "'style.normalise'"),
        ("noise", {"size": 0}, "'noise.size' must be >= 1"),
        ("beat.input", "yes", "'beat.input' must be true or false"),
        ("recommended.overlap", 16, "must be smaller than window"),
        ("blendshapes", {"names": ["a", "b"], "standard": "ARKit-52"}, "ARKit"),
        ("initial_history", [[0.0] * 148], "must have 8 rows"),
        ("recommended.descriptor_gain", {"salsa": 2.0}, "not a descriptor axis"),
        ("recommended.descriptor_gain", {"energy": 9.0}, "between 1 and 5"),
        ("recommended.descriptor_gain", {"energy": "x"}, "must be a number"),
        ("recommended.variety", 1.5, "'recommended.variety' must be between 0 and 1"),
        ("recommended.style_noise_scale", {"energy": 2.0}, "not a style category"),
        ("recommended.style_noise_scale", {"salsa": 0.0}, "must be above 0 and at most 10"),
        ("recommended.style_noise_scale", {"salsa": True}, "must be a number"),
    ],
)
def test_bad_metadata_is_one_engine_error_naming_the_file(meta_dict, path, value, words):
    with pytest.raises(EngineError) as exc:
        metadata_from_dict(_mutate(meta_dict, path, value), "broken.onnx")
    msg = str(exc.value)
    assert msg.startswith("broken.onnx:")
    assert words in msg


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", "null", '"a string"'])
def test_not_json_or_not_an_object(text):
    with pytest.raises(EngineError, match="m.onnx"):
        parse_metadata(text, "m.onnx")


def test_missing_metadata_says_not_a_dance_ai_engine():
    with pytest.raises(EngineError, match="not a Dance AI engine"):
        parse_metadata(None, "m.onnx")


def test_custom_skeleton_is_validated(meta_dict):
    skel = {"names": ["root", "a", "b"], "parents": [-1, 0, 1], "offsets": [[0, 0, 0]] * 3}
    d = _mutate(meta_dict, "skeleton", skel)
    d["features"]["size"] = 4 + 18
    d.pop("blendshapes", None)
    m = metadata_from_dict(d, "c.onnx")
    assert m.skeleton.names == ["root", "a", "b"]
    bad = copy.deepcopy(d)
    bad["skeleton"]["parents"] = [-1, 2, 0]
    with pytest.raises(EngineError, match="parent before its child"):
        metadata_from_dict(bad, "c.onnx")


def test_check_io_names_the_tensor_and_the_expectation(meta_dict):
    m = metadata_from_dict(meta_dict, "t.onnx")
    good_in = [TensorInfo(t.name, ("batch",) + t.shape[1:], "float32") for t in expected_inputs(m)]
    good_out = [TensorInfo("motion", (1, 16, 148), "float32")]
    check_io("t.onnx", m, good_in, good_out)  # batch may be dynamic or 1

    cases = [
        (good_in[:-1], good_out, "missing input tensor 'beat'"),
        (good_in + [TensorInfo("extra", (1, 3), "float32")], good_out, "unexpected input"),
        (good_in, [TensorInfo("motion", (1, 16, 147), "float32")], "dimension 2 must be 148"),
        (good_in, [TensorInfo("motion", (1, 16, 148), "float16")], "type float16"),
        (good_in, [TensorInfo("motion", (1, 2368), "float32")], "rank 2"),
        (good_in, [TensorInfo("motion", (4, 16, 148), "float32")], "batch size 4"),
        (good_in, [TensorInfo("motion", (1, "w", 148), "float32")], "expected [batch, 16, 148]"),
    ]
    for ins, outs, words in cases:
        with pytest.raises(EngineError) as exc:
            check_io("t.onnx", m, ins, outs)
        assert words in str(exc.value) and str(exc.value).startswith("t.onnx:")
