"""Fuzz the loader: random bytes, truncations, byte flips and structural mutations of a valid
engine. Whatever happens, only EngineError may escape (and a model that loads must run)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from dance_ai_addon.core.engines import load_engine
from dance_ai_addon.core.errors import EngineError


@pytest.fixture(scope="module")
def small_model(mte):
    # few weights, so byte flips land in the graph structure and metadata often
    return mte.build_model(hidden=4, history=2, window=4, noise=2)


def _try(path) -> str:
    try:
        eng = load_engine(path, backend="cpu", threads=1)
    except EngineError as exc:
        assert str(exc).startswith(path.name), str(exc)
        return "refused"
    try:
        m = eng.metadata
        h = np.zeros((1, m.history, m.feature_size)) if m.history else None
        b = np.zeros((1, m.window, 2)) if m.beat_input else None
        eng.run_window(h, np.zeros((1, m.style_size)), np.ones((1, m.window, m.noise_size)), b)
        return "ran"
    except EngineError:
        return "refused at run"
    finally:
        eng.close()


def test_random_bytes_and_truncations(tmp_path, small_model):
    rng = np.random.default_rng(1234)
    data = small_model.SerializeToString()
    outcomes = []
    for i in range(100):
        p = tmp_path / f"rand{i}.onnx"
        p.write_bytes(rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes())
        outcomes.append(_try(p))
    for i, cut in enumerate(rng.integers(1, len(data), 60)):
        p = tmp_path / f"trunc{i}.onnx"
        p.write_bytes(data[:cut])
        outcomes.append(_try(p))
    assert outcomes.count("ran") == 0  # nothing random or truncated passes the contract


def test_byte_flips_of_a_valid_model(tmp_path, small_model):
    rng = np.random.default_rng(99)
    data = bytearray(small_model.SerializeToString())
    counts = {"ran": 0, "refused": 0, "refused at run": 0}
    for i in range(200):
        mutated = bytearray(data)
        for pos in rng.integers(0, len(mutated), int(rng.integers(1, 6))):
            mutated[pos] = int(rng.integers(0, 256))
        p = tmp_path / f"flip{i}.onnx"
        p.write_bytes(bytes(mutated))
        counts[_try(p)] += 1
    assert counts["refused"] > 0 and sum(counts.values()) == 200


def test_structural_mutations(tmp_path, small_model):
    rng = np.random.default_rng(7)
    ops = ["Relu", "Gather", "Reshape", "Conv", "NoSuchOp", "Loop", "Softmax", "Concat"]
    refused = 0
    for i in range(120):
        m = onnx.ModelProto()
        m.CopyFrom(small_model)
        g = m.graph
        kind = i % 6
        if kind == 0:
            node = g.node[int(rng.integers(len(g.node)))]
            node.op_type = ops[int(rng.integers(len(ops)))]
        elif kind == 1:
            vi = list(g.input)[int(rng.integers(len(g.input)))]
            dims = vi.type.tensor_type.shape.dim
            dims[int(rng.integers(len(dims)))].dim_value = int(rng.integers(0, 5))
        elif kind == 2:
            vi = list(g.input) + list(g.output)
            vi[int(rng.integers(len(vi)))].type.tensor_type.elem_type = int(
                rng.choice([TensorProto.INT64, TensorProto.DOUBLE, TensorProto.FLOAT16, 0])
            )
        elif kind == 3:
            del g.node[int(rng.integers(len(g.node)))]
        elif kind == 4:
            node = g.node[int(rng.integers(len(g.node)))]
            if node.input:
                node.input[int(rng.integers(len(node.input)))] = "dangling_%d" % i
        else:
            m.opset_import[0].version = int(rng.choice([1, 7, 99, 1000]))
        p = tmp_path / f"struct{i}.onnx"
        p.write_bytes(m.SerializeToString())
        refused += _try(p) != "ran"
    assert refused > 60


def _walk(d, rng, depth=0):
    """Mutate one random entry somewhere in a JSON tree (delete, retype or replace)."""
    if isinstance(d, dict) and d:
        key = list(d)[int(rng.integers(len(d)))]
        if depth < 3 and isinstance(d[key], (dict, list)) and rng.random() < 0.6:
            return _walk(d[key], rng, depth + 1)
        choice = int(rng.integers(4))
        if choice == 0:
            del d[key]
        else:
            d[key] = [None, "x", -1, 1e308, True, [], {}, [1, "a"], 0.5][int(rng.integers(9))]
    elif isinstance(d, list) and d:
        i = int(rng.integers(len(d)))
        if depth < 3 and isinstance(d[i], (dict, list)) and rng.random() < 0.6:
            return _walk(d[i], rng, depth + 1)
        d[i] = [None, "x", -5, {}, [], 2.5][int(rng.integers(6))]


def test_mutated_metadata_only_raises_engine_error(mte):
    import copy
    import json

    from dance_ai_addon.core.engines.contract import parse_metadata

    rng = np.random.default_rng(5)
    base = mte.test_metadata(blendshapes=True)
    refused = 0
    for _ in range(400):
        d = copy.deepcopy(base)
        for _ in range(int(rng.integers(1, 4))):
            _walk(d, rng)
        try:
            parse_metadata(json.dumps(d), "fuzz.onnx")
        except EngineError as exc:
            assert str(exc).startswith("fuzz.onnx:")
            refused += 1
    assert refused > 200
