"""Test-suite wide setup: keep Blender and onnxruntime out of $HOME, skip GPU tests without a GPU.

Runs before any test module imports ``bpy``: every Blender user path (config, scripts,
extensions, resources) and ``XDG_CACHE_HOME`` point into one throwaway directory per session,
removed at exit. Subprocesses started by tests inherit it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SANDBOX = tempfile.mkdtemp(prefix="dance_ai_tests_")
atexit.register(shutil.rmtree, _SANDBOX, ignore_errors=True)

#: Environment variables that keep Blender/onnxruntime writes inside a directory.
BLENDER_USER_VARS = (
    "BLENDER_USER_RESOURCES",
    "BLENDER_USER_CONFIG",
    "BLENDER_USER_SCRIPTS",
    "BLENDER_USER_EXTENSIONS",
    "BLENDER_USER_DATAFILES",
)


def sandbox_env(root: str) -> dict[str, str]:
    """Blender user paths and XDG cache under ``root`` (for this process or a child's env)."""
    env = {}
    for name in BLENDER_USER_VARS:
        env[name] = os.path.join(root, name.lower().removeprefix("blender_user_"))
    env["XDG_CACHE_HOME"] = os.path.join(root, "cache")
    env["XDG_CONFIG_HOME"] = os.path.join(root, "xdg_config")
    for path in env.values():
        os.makedirs(path, exist_ok=True)
    return env


os.environ.update(sandbox_env(_SANDBOX))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def _has_nvidia_gpu() -> tuple[bool, str]:
    if not shutil.which("nvidia-smi"):
        return False, "no NVIDIA GPU: nvidia-smi not found"
    try:
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"no usable NVIDIA GPU: nvidia-smi failed ({exc})"
    if out.returncode != 0 or "GPU" not in out.stdout:
        return False, "no NVIDIA GPU listed by nvidia-smi -L"
    return True, ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.gpu`` tests, with the reason, on machines without an NVIDIA GPU."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    present, reason = _has_nvidia_gpu()
    if present:
        return
    for item in gpu_items:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def repo_root() -> str:
    """Absolute path of the repository root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def sandbox_dir() -> str:
    """The session's throwaway directory that holds the Blender user paths and caches."""
    return _SANDBOX
