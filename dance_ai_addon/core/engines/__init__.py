"""Engine runtime: the contract, ONNX Runtime and TensorRT backends, discovery and detection.

``load_engine(path, backend)`` is the one entry point: ``.onnx`` files run in ONNX Runtime
(providers chosen by ``backend``), ``.engine``/``.plan`` files in native TensorRT. Every failure
is an :class:`~dance_ai_addon.core.errors.EngineError` naming the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import EngineError
from .contract import (
    ARKIT_52,
    CONTRACT_VERSION,
    METADATA_KEY,
    Engine,
    EngineMetadata,
    StyleAxis,
    TensorInfo,
    check_io,
    parse_metadata,
)

__all__ = [
    "ARKIT_52",
    "CONTRACT_VERSION",
    "METADATA_KEY",
    "BACKEND_CHOICES",
    "Engine",
    "EngineMetadata",
    "StyleAxis",
    "TensorInfo",
    "check_io",
    "parse_metadata",
    "load_engine",
]

BACKEND_CHOICES = ("auto", "tensorrt", "cuda", "cpu")


def load_engine(
    path: str | os.PathLike, backend: str = "auto", threads: int | None = None
) -> Engine:
    """Load and validate an engine file for a backend choice (auto, tensorrt, cuda, cpu).

    ``.engine``/``.plan`` need the native TensorRT backend (``auto`` or ``tensorrt``); ``.onnx``
    runs in ONNX Runtime, with ``threads`` intra-op threads (None: ORT's default).
    """
    backend = (backend or "auto").lower()
    if backend not in BACKEND_CHOICES:
        raise EngineError(
            f"unknown backend '{backend}'; choose one of {', '.join(BACKEND_CHOICES)}"
        )
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".engine", ".plan"):
        if backend in ("cuda", "cpu"):
            raise EngineError(
                f"{p.name} is a TensorRT engine and runs only on the tensorrt backend; "
                f"for {backend}, use the engine's .onnx file"
            )
        from .tensorrt_backend import load_tensorrt

        return load_tensorrt(p)
    from .onnx_backend import load_onnx

    return load_onnx(p, backend=backend, threads=threads)
