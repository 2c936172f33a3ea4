"""What can run engines on this machine, and, for what cannot, exactly which piece is missing.

``backend_availability()`` returns, per backend choice, ``(usable, reason)``:

- ``cpu``: ONNX Runtime on the CPU (needs ``onnxruntime``);
- ``cuda``: ONNX Runtime's CUDA provider (``onnxruntime-gpu``, a CUDA driver and a GPU);
- ``tensorrt``: ONNX Runtime's TensorRT provider (as cuda, plus TensorRT libraries);
- ``tensorrt_native``: ``.engine``/``.plan`` files (``tensorrt`` >= 10, ``pycuda``, driver, GPU).

Why a listed provider is not enough: ``onnxruntime-gpu`` lists its GPU providers even on a
machine without a GPU and silently falls back to the CPU, so the driver and the GPU are checked
here on their own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

__all__ = ["SystemInfo", "probe_system", "backend_availability", "BACKENDS", "CPU_FALLBACK"]

BACKENDS = ("tensorrt", "cuda", "cpu", "tensorrt_native")
CPU_FALLBACK = "ONNX Runtime on the CPU is offered instead"


@dataclass
class SystemInfo:
    onnxruntime_version: str | None = None
    onnxruntime_error: str | None = None
    ort_providers: list[str] = field(default_factory=list)
    tensorrt_version: str | None = None
    tensorrt_error: str | None = None
    pycuda_ok: bool = False
    pycuda_error: str | None = None
    cuda_driver: bool = False
    cuda_driver_detail: str = ""
    gpu_count: int = 0
    gpu_detail: str = ""


def _try_import(name: str) -> tuple[object | None, str | None]:
    try:
        return importlib.import_module(name), None
    except Exception as exc:  # ImportError, or a broken install raising anything else
        return None, f"{type(exc).__name__}: {exc}".strip()


def _driver_library() -> ctypes.CDLL | None:
    names = ["nvcuda.dll"] if sys.platform.startswith("win") else ["libcuda.so.1", "libcuda.so"]
    if sys.platform == "darwin":
        return None
    found = ctypes.util.find_library("cuda")
    if found:
        names.append(found)
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def _probe_gpu(info: SystemInfo) -> None:
    lib = _driver_library()
    if lib is None:
        info.cuda_driver = False
        info.cuda_driver_detail = "no NVIDIA CUDA driver library (libcuda / nvcuda.dll) found"
    else:
        info.cuda_driver = True
        try:
            rc = lib.cuInit(0)
            count = ctypes.c_int(0)
            if rc == 0 and lib.cuDeviceGetCount(ctypes.byref(count)) == 0:
                info.gpu_count = int(count.value)
                info.gpu_detail = f"{info.gpu_count} CUDA device(s)"
            else:
                info.gpu_detail = f"the CUDA driver found no usable GPU (cuInit returned {rc})"
            info.cuda_driver_detail = "CUDA driver library loaded"
        except Exception as exc:  # symbol missing: a stub or very old driver
            info.cuda_driver_detail = f"the CUDA driver library is unusable ({exc})"
            info.cuda_driver = False
    if info.gpu_count == 0 and not info.gpu_detail:
        smi = shutil.which("nvidia-smi")
        if smi:
            try:
                res = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
                gpus = [ln for ln in res.stdout.splitlines() if ln.startswith("GPU ")]
                info.gpu_count = len(gpus)
                info.gpu_detail = f"nvidia-smi lists {len(gpus)} GPU(s)"
            except (OSError, subprocess.SubprocessError) as exc:
                info.gpu_detail = f"nvidia-smi failed ({exc})"
        else:
            info.gpu_detail = "no NVIDIA GPU detected"


def probe_system() -> SystemInfo:
    """Import-probe onnxruntime, tensorrt and pycuda and look for a CUDA driver and GPU."""
    info = SystemInfo()
    ort, err = _try_import("onnxruntime")
    if ort is not None:
        info.onnxruntime_version = getattr(ort, "__version__", "?")
        try:
            info.ort_providers = list(ort.get_available_providers())
        except Exception as exc:
            info.onnxruntime_error = f"onnxruntime is broken ({exc})"
    else:
        info.onnxruntime_error = err
    trt, err = _try_import("tensorrt")
    if trt is not None:
        info.tensorrt_version = str(getattr(trt, "__version__", "?"))
    else:
        info.tensorrt_error = err
    _probe_gpu(info)
    # pycuda.driver needs the CUDA driver; importing it without one raises, which is the answer.
    pycuda, err = _try_import("pycuda.driver") if info.cuda_driver else (None, "not tried")
    if pycuda is not None:
        info.pycuda_ok = True
    else:
        info.pycuda_error = err
        spec = importlib.util.find_spec("pycuda")
        if err == "not tried":
            info.pycuda_error = (
                "pycuda is installed but needs a CUDA driver"
                if spec is not None
                else "pycuda is not installed"
            )
    return info


def _major(version: str | None) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0


def backend_availability(info: SystemInfo | None = None) -> dict[str, tuple[bool, str]]:
    """Per backend: ``(usable, reason)``; the reason names the missing piece when not usable."""
    info = info or probe_system()
    out: dict[str, tuple[bool, str]] = {}

    if info.onnxruntime_version is None or info.onnxruntime_error:
        why = info.onnxruntime_error or "not installed"
        out["cpu"] = (False, f"onnxruntime is not importable ({why}); install onnxruntime")
    else:
        out["cpu"] = (True, f"onnxruntime {info.onnxruntime_version}, CPUExecutionProvider")

    gpu_missing = None
    if not info.cuda_driver:
        gpu_missing = f"{info.cuda_driver_detail or 'no CUDA driver'}"
    elif info.gpu_count == 0:
        gpu_missing = info.gpu_detail or "no NVIDIA GPU detected"

    def ort_gpu(provider: str, label: str, extra: str) -> tuple[bool, str]:
        if not out["cpu"][0]:
            return False, f"{label} needs onnxruntime-gpu, and onnxruntime is not importable"
        if provider not in info.ort_providers:
            return False, (
                f"this onnxruntime {info.onnxruntime_version} has no {provider} "
                f"(install onnxruntime-gpu{extra}); {CPU_FALLBACK}"
            )
        if gpu_missing:
            return False, (
                f"onnxruntime lists {provider} but {gpu_missing}, so it would silently run "
                f"on the CPU; {CPU_FALLBACK}"
            )
        return True, f"onnxruntime {info.onnxruntime_version} {provider}, {info.gpu_detail}"

    out["tensorrt"] = ort_gpu("TensorrtExecutionProvider", "TensorRT", " and TensorRT 10")
    out["cuda"] = ort_gpu("CUDAExecutionProvider", "CUDA", "")

    missing = []
    if info.tensorrt_version is None:
        missing.append(f"the tensorrt Python package is not importable ({info.tensorrt_error})")
    elif _major(info.tensorrt_version) < 10:
        missing.append(f"tensorrt {info.tensorrt_version} is too old (need 10 or newer)")
    if not info.pycuda_ok:
        missing.append(f"pycuda is not usable ({info.pycuda_error})")
    if gpu_missing:
        missing.append(gpu_missing)
    if missing:
        out["tensorrt_native"] = (
            False,
            "TensorRT engine files (.engine/.plan) cannot run: "
            + "; ".join(missing)
            + f"; {CPU_FALLBACK} with the .onnx engine",
        )
    else:
        out["tensorrt_native"] = (
            True,
            f"tensorrt {info.tensorrt_version} + pycuda, {info.gpu_detail}",
        )
    return out
