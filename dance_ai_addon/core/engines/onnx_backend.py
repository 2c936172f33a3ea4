"""ONNX Runtime backend: TensorRT EP -> CUDA EP -> CPU EP, I/O binding, contract checks.

``onnxruntime`` is imported lazily (Blender starts without it). The metadata is read through
ONNX Runtime itself (``custom_metadata_map``), so the ``onnx`` package is not needed at run time.
No custom-op library is ever registered, so a model needing one fails to load with an
EngineError instead of running foreign code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EngineError
from .contract import (
    METADATA_KEY,
    Engine,
    EngineMetadata,
    TensorInfo,
    check_engine_file,
    check_io,
    display_name,
    expected_outputs,
    parse_metadata,
)

__all__ = [
    "OnnxEngine",
    "load_onnx",
    "read_onnx_metadata",
    "provider_plan",
    "trt_cache_dir",
    "ORT_PROVIDER_NAMES",
]

TRT_EP = "TensorrtExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
ORT_PROVIDER_NAMES = {"tensorrt": TRT_EP, "cuda": CUDA_EP, "cpu": CPU_EP}

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
}


def _import_ort():
    try:
        import onnxruntime as ort
    except Exception as exc:
        raise EngineError(
            f"onnxruntime is not importable ({exc}); install onnxruntime to run .onnx engines"
        ) from None
    return ort


def trt_cache_dir() -> Path:
    from .registry import user_cache_dir

    return user_cache_dir() / "trt"


def provider_plan(backend: str, available: list[str]) -> list[Any]:
    """Providers (with options) to request for a backend choice, given ORT's available list.

    ``auto`` takes every GPU provider ORT offers, best first, and always ends with the CPU.
    An explicit ``tensorrt``/``cuda`` whose provider is missing raises EngineError naming it.
    """
    backend = (backend or "auto").lower()
    trt_opts = {
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(trt_cache_dir()),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(trt_cache_dir()),
        "trt_fp16_enable": True,
    }
    if backend == "cpu":
        return [CPU_EP]
    if backend == "auto":
        plan: list[Any] = []
        if TRT_EP in available:
            plan.append((TRT_EP, trt_opts))
        if CUDA_EP in available:
            plan.append(CUDA_EP)
        return plan + [CPU_EP]
    if backend in ("tensorrt", "cuda"):
        wanted = ORT_PROVIDER_NAMES[backend]
        if wanted not in available:
            raise EngineError(
                f"the {backend} backend needs ONNX Runtime's {wanted}, which this onnxruntime "
                f"does not have (available: {', '.join(available)}); install onnxruntime-gpu, "
                "or choose the cpu backend"
            )
        if backend == "tensorrt":
            return (
                [(TRT_EP, trt_opts), CUDA_EP, CPU_EP]
                if CUDA_EP in available
                else [
                    (TRT_EP, trt_opts),
                    CPU_EP,
                ]
            )
        return [CUDA_EP, CPU_EP]
    raise EngineError(f"unknown backend '{backend}'; choose auto, tensorrt, cuda or cpu")


def _session_options(ort, threads: int | None):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = int(threads) if threads else 0
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # errors only; fallbacks are reported through get_providers()
    return so


def _open_session(path: Path, providers: list[Any], threads: int | None):
    ort = _import_ort()
    name = display_name(path)
    check_engine_file(path)
    try:
        return ort.InferenceSession(
            str(path), sess_options=_session_options(ort, threads), providers=providers
        )
    except Exception as exc:  # InvalidProtobuf, Fail, InvalidGraph, NotImplemented, ...
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if len(msg) > 300:
            msg = msg[:300] + "..."
        raise EngineError(
            f"{name}: not a loadable ONNX model (corrupt, truncated or unsupported): {msg}"
        ) from None


def _tensor_infos(args) -> list[TensorInfo]:
    return [TensorInfo(a.name, tuple(a.shape), _ORT_TYPES.get(a.type, str(a.type))) for a in args]


def _session_metadata(session, path: Path) -> EngineMetadata:
    name = display_name(path)
    try:
        props = session.get_modelmeta().custom_metadata_map
    except Exception as exc:
        raise EngineError(f"{name}: cannot read the model's metadata ({exc})") from None
    meta = parse_metadata(props.get(METADATA_KEY), name)
    check_io(name, meta, _tensor_infos(session.get_inputs()), _tensor_infos(session.get_outputs()))
    return meta


def read_onnx_metadata(path: str | os.PathLike) -> EngineMetadata:
    """Validate an ONNX engine (metadata and tensors) on the CPU and return its metadata."""
    p = Path(path)
    session = _open_session(p, [CPU_EP], threads=1)
    try:
        return _session_metadata(session, p)
    finally:
        del session


class OnnxEngine(Engine):
    """An ONNX engine running in an ONNX Runtime session with preallocated, bound buffers."""

    backend = "onnxruntime"

    def __init__(self, path: Path, metadata: EngineMetadata, session, requested: str):
        super().__init__(path, metadata)
        self._session = session
        self.requested = requested
        self.provider = session.get_providers()[0]
        self.providers = list(session.get_providers())
        # Preallocated host buffers, bound once: each window only copies into them and runs.
        self._inputs = {
            n: np.zeros(shape, dtype=np.float32) for n, shape in self.input_shapes().items()
        }
        self._outputs = {
            t.name: np.zeros((1,) + tuple(t.shape[1:]), dtype=np.float32)
            for t in expected_outputs(metadata)
        }
        self._binding = session.io_binding()
        for n, arr in self._inputs.items():
            self._binding.bind_input(n, "cpu", 0, np.float32, list(arr.shape), arr.ctypes.data)
        for n, arr in self._outputs.items():
            self._binding.bind_output(n, "cpu", 0, np.float32, list(arr.shape), arr.ctypes.data)

    def run_window(
        self,
        history: np.ndarray | None,
        style: np.ndarray,
        noise: np.ndarray,
        beat: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        given = self.prepare_inputs(history, style, noise, beat)
        for n, buf in self._inputs.items():
            np.copyto(buf, given[n])
        try:
            self._session.run_with_iobinding(self._binding)
        except Exception as exc:
            raise EngineError(
                f"{display_name(self.path)}: ONNX Runtime failed to run the engine "
                f"on {self.provider}: {exc}"
            ) from None
        return self._outputs

    def close(self) -> None:
        if not self.closed:
            self._binding = None
            self._session = None
        super().close()


def load_onnx(
    path: str | os.PathLike, backend: str = "auto", threads: int | None = None
) -> OnnxEngine:
    """Open, validate and bind an ONNX engine for ``backend`` (auto/tensorrt/cuda/cpu).

    An explicit GPU backend that ONNX Runtime silently replaced by the CPU raises EngineError;
    ``auto`` accepts whatever runs and reports it in ``engine.provider``.
    """
    p = Path(path)
    ort = _import_ort()
    backend = (backend or "auto").lower()
    try:
        available = list(ort.get_available_providers())
    except Exception as exc:
        raise EngineError(f"onnxruntime is broken: {exc}") from None
    providers = provider_plan(backend, available)
    if backend in ("tensorrt", "auto") and TRT_EP in available:
        try:
            trt_cache_dir().mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
    session = _open_session(p, providers, threads)
    meta = _session_metadata(session, p)
    actual = session.get_providers()[0]
    if backend in ("tensorrt", "cuda") and actual != ORT_PROVIDER_NAMES[backend]:
        raise EngineError(
            f"{display_name(p)}: the {backend} backend was requested but ONNX Runtime fell back "
            f"to {actual} (no usable GPU, driver or libraries); choose the cpu backend"
        )
    return OnnxEngine(p, meta, session, backend)
