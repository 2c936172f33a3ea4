"""Native TensorRT backend (TensorRT >= 10 Python API + pycuda) and the engine builder.

A ``.engine``/``.plan`` file is a serialized TensorRT engine, tied to the TensorRT version and
the GPU it was built on. Its contract metadata lives in a sidecar ``<file>.json`` written by
:func:`build_engine`: the engine's ``dance_ai`` metadata dict plus a ``"tensorrt"`` entry with
the build facts (TensorRT version, GPU, FP16, batch profile, SHA-256 of the engine file and the
engine's own I/O tensors).

Everything that can be decided without a GPU is a plain function here (binding plan, sidecar
read/write/consistency, version checks, error wording) and tested on CPU machines; the device
part (:class:`TensorRTEngine`, :func:`build_engine`) is a thin layer of TensorRT/pycuda calls.
No plugin library is ever loaded (no ``load_library``, no ``init_libnvinfer_plugins``, engine host
code disallowed), so nothing in an engine folder can run code.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

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
    expected_inputs,
    expected_outputs,
    metadata_from_dict,
)

__all__ = [
    "SIDECAR_KEY",
    "TensorBinding",
    "sidecar_path",
    "binding_plan",
    "file_sha256",
    "write_sidecar",
    "read_sidecar",
    "check_sidecar_matches_file",
    "check_engine_tensors",
    "check_runtime_version",
    "deserialize_error",
    "load_tensorrt",
    "build_engine",
    "TensorRTEngine",
    "tensor_dicts_from_metadata",
]

SIDECAR_KEY = "tensorrt"


# --------------------------------------------------------------------------- host-side logic


@dataclass(frozen=True)
class TensorBinding:
    """One I/O tensor of the window loop with its concrete (batch-filled) shape."""

    name: str
    mode: str  # "input" | "output"
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    return Path(os.fspath(engine_path) + ".json")


def binding_plan(meta: EngineMetadata, batch: int = 1) -> list[TensorBinding]:
    """Inputs then outputs with shapes for ``batch``: what to allocate and bind, from metadata."""
    plan = []
    for mode, tensors in (("input", expected_inputs(meta)), ("output", expected_outputs(meta))):
        for t in tensors:
            plan.append(
                TensorBinding(t.name, mode, (int(batch),) + tuple(t.shape[1:]), np.dtype("float32"))
            )
    return plan


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _tensor_dicts(tensors: Sequence[tuple[str, TensorInfo]]) -> list[dict]:
    return [
        {
            "name": t.name,
            "mode": mode,
            "shape": [d if isinstance(d, int) else -1 for d in t.shape],
            "dtype": t.dtype,
        }
        for mode, t in tensors
    ]


def write_sidecar(engine_path: str | os.PathLike, metadata: dict, build_info: dict) -> Path:
    """Write ``<engine>.json``: the metadata dict plus ``"tensorrt": build_info`` (atomically)."""
    data = dict(metadata)
    data[SIDECAR_KEY] = build_info
    path = sidecar_path(engine_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _parse_tensors(source: str, info: dict) -> list[tuple[str, TensorInfo]]:
    tensors = info.get("tensors")
    if not isinstance(tensors, list) or not tensors:
        raise EngineError(f"{source}: the sidecar's 'tensorrt.tensors' must list the I/O tensors")
    out = []
    for t in tensors:
        ok = (
            isinstance(t, dict)
            and isinstance(t.get("name"), str)
            and t.get("mode") in ("input", "output")
            and isinstance(t.get("shape"), list)
            and all(isinstance(d, int) and not isinstance(d, bool) for d in t["shape"])
            and isinstance(t.get("dtype"), str)
        )
        if not ok:
            raise EngineError(
                f"{source}: the sidecar has a malformed tensor entry {json.dumps(t)[:120]}"
            )
        out.append((t["mode"], TensorInfo(t["name"], tuple(t["shape"]), t["dtype"])))
    return out


def read_sidecar(engine_path: str | os.PathLike) -> tuple[EngineMetadata, dict]:
    """Read and validate ``<engine>.json``: (metadata, build info). EngineError on any problem."""
    engine_path = Path(engine_path)
    side = sidecar_path(engine_path)
    source = display_name(side)
    try:
        text = side.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EngineError(
            f"{display_name(engine_path)}: its metadata sidecar {source} is missing; rebuild the "
            "engine with Dance AI's build_engine (it writes the sidecar) or copy the sidecar "
            "next to the engine"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineError(f"{source}: cannot read the sidecar ({exc})") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise EngineError(f"{source}: engine metadata is not valid JSON ({exc})") from None
    if isinstance(data, dict) and METADATA_KEY in data and "contract_version" not in data:
        # tolerate {"dance_ai": {...}, "tensorrt": {...}} as well as the flat form
        flat = dict(data[METADATA_KEY]) if isinstance(data[METADATA_KEY], dict) else {}
        if SIDECAR_KEY in data:
            flat[SIDECAR_KEY] = data[SIDECAR_KEY]
        data = flat
    meta = metadata_from_dict(data, source)
    info = data.get(SIDECAR_KEY)
    if not isinstance(info, dict):
        raise EngineError(
            f"{source}: the sidecar has no '{SIDECAR_KEY}' build section; rebuild the engine "
            "with Dance AI's build_engine"
        )
    tensors = _parse_tensors(source, info)
    check_io(
        source,
        meta,
        [t for mode, t in tensors if mode == "input"],
        [t for mode, t in tensors if mode == "output"],
    )
    return meta, info


def check_sidecar_matches_file(engine_path: str | os.PathLike, info: dict) -> None:
    """The sidecar records the engine file's SHA-256; a different file means a stale sidecar."""
    want = info.get("engine_sha256")
    name = display_name(engine_path)
    if not isinstance(want, str):
        raise EngineError(
            f"{display_name(sidecar_path(engine_path))}: the sidecar lacks 'engine_sha256'; "
            "rebuild the engine with Dance AI's build_engine"
        )
    if file_sha256(engine_path) != want.lower():
        raise EngineError(
            f"{name}: its sidecar {display_name(sidecar_path(engine_path))} belongs to another "
            "engine file (checksum differs); rebuild the engine or copy its matching sidecar"
        )


def _version_key(v: Any) -> tuple:
    parts = str(v).split(".")
    return tuple(parts[:3])


def check_runtime_version(source: str, info: dict, runtime_version: str) -> None:
    """Engines only load in the TensorRT version that built them (major.minor.patch)."""
    built = info.get("tensorrt_version")
    if built is not None and _version_key(built) != _version_key(runtime_version):
        raise EngineError(
            f"{source}: was built with TensorRT {built} but this is TensorRT {runtime_version}; "
            "rebuild the engine for this GPU/TensorRT (or use the .onnx engine)"
        )


def deserialize_error(source: str, info: dict, runtime_version: str, gpu: str) -> EngineError:
    """The one message for an engine TensorRT refuses to deserialize."""
    built = info.get("tensorrt_version", "an unknown version")
    built_gpu = info.get("device", "an unknown GPU")
    return EngineError(
        f"{source}: TensorRT {runtime_version} on {gpu} could not deserialize the engine (built "
        f"with TensorRT {built} on {built_gpu}); engines are tied to the TensorRT version and "
        "GPU: rebuild the engine for this GPU/TensorRT, or use the .onnx engine"
    )


def check_engine_tensors(
    source: str,
    meta: EngineMetadata,
    info: dict,
    engine_tensors: Sequence[tuple[str, TensorInfo]],
) -> None:
    """The deserialized engine's own tensors must match the contract and the sidecar's list."""
    check_io(
        source,
        meta,
        [t for mode, t in engine_tensors if mode == "input"],
        [t for mode, t in engine_tensors if mode == "output"],
    )
    recorded = {(m, t.name): t for m, t in _parse_tensors(source, info)}
    actual = {(m, t.name): t for m, t in engine_tensors}
    if set(recorded) != set(actual):
        raise EngineError(
            f"{source}: the sidecar lists tensors {sorted(n for _, n in recorded)} but the engine "
            f"has {sorted(n for _, n in actual)}; the sidecar belongs to another engine, rebuild it"
        )
    for key, t in actual.items():
        r = recorded[key]
        norm = tuple(d if isinstance(d, int) else -1 for d in t.shape)
        if norm != tuple(r.shape) or t.dtype != r.dtype:
            raise EngineError(
                f"{source}: tensor '{t.name}' is {t.dtype} {list(norm)} in the engine but "
                f"{r.dtype} {list(r.shape)} in the sidecar; rebuild the engine"
            )


# --------------------------------------------------------------------------- device layer


def _require_device_libs():
    """Import tensorrt and pycuda.driver, or raise EngineError naming the missing piece."""
    from .detect import backend_availability

    usable, reason = backend_availability()["tensorrt_native"]
    if not usable:
        raise EngineError(reason)
    import pycuda.driver as cuda
    import tensorrt as trt

    return trt, cuda


_TRT_DTYPES = {"FLOAT": "float32", "HALF": "float16", "INT32": "int32", "INT64": "int64"}


def _engine_tensors(trt, engine) -> list[tuple[str, TensorInfo]]:
    out = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        mode = "input" if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else "output"
        dtype = engine.get_tensor_dtype(name)
        dname = _TRT_DTYPES.get(getattr(dtype, "name", str(dtype)), str(dtype))
        out.append((mode, TensorInfo(name, tuple(engine.get_tensor_shape(name)), dname)))
    return out


def _gpu_name(cuda) -> str:
    try:
        dev = cuda.Device(0)
        cc = dev.compute_capability()
        return f"{dev.name()} (sm_{cc[0]}{cc[1]})"
    except Exception:
        return "this GPU"


class TensorRTEngine(Engine):
    """A deserialized TensorRT engine with one execution context, pinned host + device buffers."""

    backend = "tensorrt"
    provider = "TensorRT"

    def __init__(self, path: Path, metadata: EngineMetadata, info: dict):
        super().__init__(path, metadata)
        self.closed = True  # until fully set up, close() has nothing to free
        trt, cuda = _require_device_libs()
        self._cuda = cuda
        source = display_name(path)
        check_runtime_version(source, info, trt.__version__)
        cuda.init()
        self._cu_ctx = cuda.Device(0).retain_primary_context()
        self._cu_ctx.push()
        self._device_mem: list[Any] = []
        try:
            self._logger = trt.Logger(trt.Logger.ERROR)
            self._runtime = trt.Runtime(self._logger)
            if hasattr(self._runtime, "engine_host_code_allowed"):
                self._runtime.engine_host_code_allowed = False
            data = Path(path).read_bytes()
            try:
                self._engine = self._runtime.deserialize_cuda_engine(data)
            except Exception:
                self._engine = None
            if self._engine is None:
                raise deserialize_error(source, info, trt.__version__, _gpu_name(cuda))
            check_engine_tensors(source, metadata, info, _engine_tensors(trt, self._engine))
            self._context = self._engine.create_execution_context()
            if self._context is None:
                raise EngineError(f"{source}: TensorRT could not create an execution context")
            self._stream = cuda.Stream()
            self._host: dict[str, np.ndarray] = {}
            self._dev: dict[str, Any] = {}
            self._plan = binding_plan(metadata, 1)
            for b in self._plan:
                if b.mode == "input":
                    self._context.set_input_shape(b.name, b.shape)
            for b in self._plan:
                host = cuda.pagelocked_empty(b.shape, b.dtype)
                dev = cuda.mem_alloc(b.nbytes)
                self._device_mem.append(dev)
                self._host[b.name] = host
                self._dev[b.name] = dev
                self._context.set_tensor_address(b.name, int(dev))
                if b.mode == "output":
                    got = tuple(self._context.get_tensor_shape(b.name))
                    if got != b.shape:
                        raise EngineError(
                            f"{source}: output '{b.name}' has shape {list(got)} for batch 1, "
                            f"expected {list(b.shape)}; rebuild the engine"
                        )
            self.closed = False
        except BaseException:
            self._release()
            raise
        finally:
            self._cu_ctx.pop()
        atexit.register(self.close)

    def run_window(
        self,
        history: np.ndarray | None,
        style: np.ndarray,
        noise: np.ndarray,
        beat: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        cuda = self._cuda
        given = self.prepare_inputs(history, style, noise, beat)
        self._cu_ctx.push()
        try:
            for b in self._plan:
                if b.mode == "input":
                    np.copyto(self._host[b.name], given[b.name])
                    cuda.memcpy_htod_async(self._dev[b.name], self._host[b.name], self._stream)
            if not self._context.execute_async_v3(self._stream.handle):
                raise EngineError(f"{display_name(self.path)}: TensorRT failed to run the engine")
            for b in self._plan:
                if b.mode == "output":
                    cuda.memcpy_dtoh_async(self._host[b.name], self._dev[b.name], self._stream)
            self._stream.synchronize()
        finally:
            self._cu_ctx.pop()
        return {b.name: self._host[b.name] for b in self._plan if b.mode == "output"}

    def _release(self) -> None:
        for dev in getattr(self, "_device_mem", []):
            try:
                dev.free()
            except Exception:
                pass
        self._device_mem = []
        for attr in ("_context", "_engine", "_runtime", "_stream", "_host", "_dev"):
            if hasattr(self, attr):
                setattr(self, attr, None)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._cu_ctx.push()
            try:
                self._release()
            finally:
                self._cu_ctx.pop()
            self._cu_ctx.detach()
        except Exception:
            pass
        try:
            atexit.unregister(self.close)
        except Exception:
            pass


def load_tensorrt(path: str | os.PathLike) -> TensorRTEngine:
    """Load a ``.engine``/``.plan`` with its sidecar; host-side checks run before any GPU call."""
    p = Path(path)
    check_engine_file(p)
    meta, info = read_sidecar(p)
    check_sidecar_matches_file(p, info)
    return TensorRTEngine(p, meta, info)


def build_engine(
    onnx_path: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    fp16: bool = True,
    timing_cache: str | os.PathLike | None = None,
    batch: tuple[int, int, int] = (1, 1, 1),
    workspace_mb: int = 1024,
) -> Path:
    """Build a TensorRT engine from a contract ONNX file and write its sidecar.

    FP16 is enabled when asked and the GPU has fast FP16. ``timing_cache`` (default: the user
    cache folder) is read if present and written back, so rebuilds are fast. ``batch`` is the
    (min, opt, max) optimisation profile for a dynamic batch axis.
    """
    from .onnx_backend import read_onnx_metadata
    from .registry import user_cache_dir

    onnx_path = Path(onnx_path)
    meta = read_onnx_metadata(onnx_path)  # the contract is checked before any GPU work
    out = Path(out_path) if out_path else onnx_path.with_suffix(".engine")
    trt, cuda = _require_device_libs()
    source = display_name(onnx_path)
    cache_file = Path(timing_cache) if timing_cache else user_cache_dir() / "trt" / "timing.cache"
    cuda.init()
    cu_ctx = cuda.Device(0).retain_primary_context()
    cu_ctx.push()
    try:
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise EngineError(f"{source}: TensorRT's ONNX parser rejected the model: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
        use_fp16 = bool(fp16) and bool(getattr(builder, "platform_has_fast_fp16", True))
        if use_fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        blob = cache_file.read_bytes() if cache_file.is_file() else b""
        cache = config.create_timing_cache(blob)
        config.set_timing_cache(cache, False)
        profile = builder.create_optimization_profile()
        dynamic = False
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            shape = tuple(tensor.shape)
            if shape and shape[0] == -1:
                dynamic = True
                rest = shape[1:]
                profile.set_shape(
                    tensor.name,
                    (batch[0],) + rest,
                    (batch[1],) + rest,
                    (batch[2],) + rest,
                )
        if dynamic:
            config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EngineError(f"{source}: TensorRT failed to build an engine (see its log above)")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(bytes(serialized))
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_bytes(bytes(config.get_timing_cache().serialize()))
        except OSError:
            pass
        runtime = trt.Runtime(logger)
        engine = runtime.deserialize_cuda_engine(bytes(serialized))
        tensors = _engine_tensors(trt, engine)
        dev = cuda.Device(0)
        cc = dev.compute_capability()
        info = {
            "tensorrt_version": trt.__version__,
            "device": dev.name(),
            "compute_capability": f"{cc[0]}.{cc[1]}",
            "fp16": use_fp16,
            "batch_profile": list(batch) if dynamic else [1, 1, 1],
            "built_from": onnx_path.name,
            "engine_sha256": file_sha256(out),
            "tensors": _tensor_dicts(tensors),
        }
        del engine, runtime
    finally:
        cu_ctx.pop()
        cu_ctx.detach()
    check_engine_tensors(display_name(out), meta, info, tensors)
    write_sidecar(out, meta.raw, info)
    return out


def tensor_dicts_from_metadata(meta: EngineMetadata) -> list[dict]:
    """The sidecar ``tensors`` list an engine built from a contract ONNX has (dynamic batch)."""
    pairs = [("input", t) for t in expected_inputs(meta)]
    pairs += [("output", t) for t in expected_outputs(meta)]
    return _tensor_dicts(pairs)
