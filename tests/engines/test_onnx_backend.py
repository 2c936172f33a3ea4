"""ONNX Runtime backend on real contract graphs: loading, providers, I/O binding, bad files."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from dance_ai_addon.core.engines import load_engine
from dance_ai_addon.core.engines.onnx_backend import (
    CPU_EP,
    CUDA_EP,
    TRT_EP,
    provider_plan,
    read_onnx_metadata,
    trt_cache_dir,
)
from dance_ai_addon.core.errors import EngineError


def _inputs(meta, rng):
    h = rng.standard_normal((1, meta.history, meta.feature_size)) * 0.1 if meta.history else None
    s = np.array([[0.7, 0.3, 0.0, 0.5]])
    n = rng.standard_normal((1, meta.window, meta.noise_size))
    b = rng.standard_normal((1, meta.window, 2)) if meta.beat_input else None
    return h, s, n, b


def test_loads_on_cpu_and_reports_the_provider(cpu_engine):
    assert cpu_engine.backend == "onnxruntime"
    assert cpu_engine.provider == CPU_EP
    assert cpu_engine.metadata.name == "test-engine"


def test_every_input_changes_the_output(cpu_engine):
    rng = np.random.default_rng(0)
    h, s, n, b = _inputs(cpu_engine.metadata, rng)
    base = cpu_engine.run_window(h, s, n, b)["motion"].copy()
    assert base.shape == (1, 16, 148) and base.dtype == np.float32
    again = cpu_engine.run_window(h, s, n, b)["motion"]
    np.testing.assert_array_equal(again, base)
    for i, changed in enumerate(
        [(h + 0.2, s, n, b), (h, s[:, ::-1], n, b), (h, s, -n, b), (h, s, n, b + 1.0)]
    ):
        out = cpu_engine.run_window(*changed)["motion"]
        assert np.abs(out - base).max() > 1e-3, f"input {i} has no effect"


def test_output_buffers_are_reused_between_windows(cpu_engine):
    rng = np.random.default_rng(1)
    a = cpu_engine.run_window(*_inputs(cpu_engine.metadata, rng))["motion"]
    b = cpu_engine.run_window(*_inputs(cpu_engine.metadata, rng))["motion"]
    assert a is b  # bound once, written in place: the window loop does not reallocate


def test_input_shape_is_checked(cpu_engine):
    rng = np.random.default_rng(2)
    h, s, n, b = _inputs(cpu_engine.metadata, rng)
    with pytest.raises(EngineError, match="input 'noise' has shape"):
        cpu_engine.run_window(h, s, n[:, :5], b)
    # the batch axis may be left out
    out = cpu_engine.run_window(h[0], s[0], n[0], b[0])["motion"]
    assert out.shape == (1, 16, 148)


def test_history_zero_and_blendshape_variants(make_engine):
    eng = load_engine(make_engine(history=0, blendshapes=True), backend="cpu")
    m = eng.metadata
    assert m.history == 0 and len(m.blendshape_names) == 52
    out = eng.run_window(None, np.ones((1, 4)) / 4, np.zeros((1, 16, 8)), np.zeros((1, 16, 2)))
    assert set(out) == {"motion", "blendshapes"}
    w = out["blendshapes"]
    assert w.shape == (1, 16, 52) and w.min() >= 0.0 and w.max() <= 1.0
    eng.close()
    with pytest.raises(EngineError, match="closed"):
        eng.run_window(None, np.ones((1, 4)), np.zeros((1, 16, 8)), np.zeros((1, 16, 2)))


def test_fixed_batch_of_one_is_accepted(make_engine):
    eng = load_engine(make_engine(dynamic_batch=False), backend="cpu")
    assert eng.metadata.window == 16
    eng.close()


def test_provider_plan_order_and_explicit_choices(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    plan = provider_plan("auto", [TRT_EP, CUDA_EP, CPU_EP])
    assert [p if isinstance(p, str) else p[0] for p in plan] == [TRT_EP, CUDA_EP, CPU_EP]
    opts = plan[0][1]
    assert opts["trt_engine_cache_enable"] and opts["trt_fp16_enable"]
    assert (
        opts["trt_engine_cache_path"] == str(tmp_path / "dance_ai" / "trt") == str(trt_cache_dir())
    )
    assert provider_plan("auto", ["AzureExecutionProvider", CPU_EP]) == [CPU_EP]
    assert provider_plan("cpu", [TRT_EP, CUDA_EP, CPU_EP]) == [CPU_EP]
    assert provider_plan("cuda", [CUDA_EP, CPU_EP]) == [CUDA_EP, CPU_EP]
    with pytest.raises(EngineError, match="CUDAExecutionProvider"):
        provider_plan("cuda", [CPU_EP])
    with pytest.raises(EngineError, match="unknown backend"):
        provider_plan("metal", [CPU_EP])


def test_gpu_backends_on_this_cpu_onnxruntime_say_what_is_missing(test_engine_path):
    import onnxruntime as ort

    for backend, provider in (("cuda", CUDA_EP), ("tensorrt", TRT_EP)):
        if provider in ort.get_available_providers():
            pytest.skip("this onnxruntime has GPU providers")
        with pytest.raises(EngineError) as exc:
            load_engine(test_engine_path, backend=backend)
        assert provider in str(exc.value) and "cpu backend" in str(exc.value)
    eng = load_engine(test_engine_path, backend="auto")
    assert eng.provider == CPU_EP
    eng.close()


def _save(model, path):
    onnx.save(model, str(path))
    return path


def _rename_input(model, old, new):
    for node in model.graph.node:
        node.input[:] = [new if x == old else x for x in node.input]
    for i in model.graph.input:
        if i.name == old:
            i.name = new


def test_contract_violations_name_the_tensor(mte, tmp_path):
    cases = []
    m = mte.build_model()
    _rename_input(m, "style", "style_vec")
    cases.append((m, "missing input tensor 'style'"))

    m = mte.build_model()
    meta = mte.test_metadata()
    meta["window"] = 20
    mte.set_metadata(m, meta)
    cases.append((m, "dimension 1 must be 20"))

    m = mte.build_model()
    meta = mte.test_metadata()
    meta["noise"]["size"] = 9
    mte.set_metadata(m, meta)
    cases.append((m, "input tensor 'noise'"))

    m = mte.build_model()
    meta = mte.test_metadata(beat=False)
    mte.set_metadata(m, meta)
    cases.append((m, "unexpected input tensor 'beat'"))

    m = mte.build_model()
    meta = mte.test_metadata(blendshapes=True)
    mte.set_metadata(m, meta)
    cases.append((m, "missing output tensor 'blendshapes'"))

    # rank: the style input declared as [batch, 1, 4] (graph would break, but the check comes first)
    m = mte.build_model()
    style = next(i for i in m.graph.input if i.name == "style")
    style.CopyFrom(helper.make_tensor_value_info("style", TensorProto.FLOAT, ["batch", 1, 4]))
    cases.append((m, "rank"))

    # dtype: a double output
    m = mte.build_model()
    out = m.graph.output[0]
    out.CopyFrom(helper.make_tensor_value_info("motion", TensorProto.DOUBLE, ["batch", 16, 148]))
    m.graph.node.append(helper.make_node("Cast", ["motion_f"], ["motion"], to=TensorProto.DOUBLE))
    for node in m.graph.node:
        if node.name == "motion_out":
            node.output[0] = "motion_f"
    cases.append((m, "type float64"))

    for i, (model, words) in enumerate(cases):
        path = _save(model, tmp_path / f"bad{i}.onnx")
        with pytest.raises(EngineError) as exc:
            load_engine(path, backend="cpu")
        assert str(exc.value).startswith(f"bad{i}.onnx:"), str(exc.value)
        assert words in str(exc.value), (words, str(exc.value))


def test_metadata_not_json_or_absent(mte, tmp_path):
    m = mte.build_model()
    mte.set_metadata(m, "{'name': 'single quotes are not JSON'}")
    with pytest.raises(EngineError, match="notjson.onnx: engine metadata is not valid JSON"):
        load_engine(_save(m, tmp_path / "notjson.onnx"), backend="cpu")
    m = mte.build_model()
    del m.metadata_props[:]
    with pytest.raises(EngineError, match="bare.onnx: has no 'dance_ai' metadata"):
        read_onnx_metadata(_save(m, tmp_path / "bare.onnx"))


def test_corrupt_truncated_empty_and_missing_files(test_engine_path, tmp_path):
    data = test_engine_path.read_bytes()
    (tmp_path / "trunc.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "text.onnx").write_text(json.dumps({"hello": "world"}))
    for name, words in [
        ("trunc.onnx", "not a loadable ONNX model"),
        ("empty.onnx", "empty"),
        ("text.onnx", "not a loadable ONNX model"),
        ("missing.onnx", "cannot read"),
    ]:
        with pytest.raises(EngineError) as exc:
            load_engine(tmp_path / name, backend="cpu")
        assert str(exc.value).startswith(name) and words in str(exc.value)


def test_custom_op_domain_is_refused_not_loaded(mte, tmp_path):
    m = mte.build_model()
    for node in m.graph.node:
        if node.op_type == "Tanh":
            node.domain = "com.example.evil"
            break
    m.opset_import.append(helper.make_opsetid("com.example.evil", 1))
    with pytest.raises(EngineError, match="custom.onnx: not a loadable ONNX model"):
        load_engine(_save(m, tmp_path / "custom.onnx"), backend="cpu")
