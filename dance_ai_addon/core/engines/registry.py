"""Where engines live: the bundled folder and the user's engines folder, and name resolution.

Bundled: ``dance_ai_addon/engines/*.onnx|*.engine|*.plan``. User: ``$DANCE_AI_ENGINES`` if set,
else ``<user config>/dance_ai/engines`` (Linux ``$XDG_CONFIG_HOME`` or ``~/.config``; macOS
``~/Library/Application Support``; Windows ``%APPDATA%``). A name found in both resolves to the
user's file, so users can replace a shipped engine without touching the add-on.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineError

__all__ = [
    "ENGINE_SUFFIXES",
    "EngineEntry",
    "bundled_engines_dir",
    "user_engines_dir",
    "user_cache_dir",
    "list_engines",
    "resolve_engine",
    "read_engine_metadata",
]

ENGINE_SUFFIXES = (".onnx", ".engine", ".plan")
TENSORRT_SUFFIXES = (".engine", ".plan")


@dataclass(frozen=True)
class EngineEntry:
    name: str  # file stem
    path: Path
    source: str  # "bundled" | "user"
    kind: str  # "onnx" | "tensorrt"


def bundled_engines_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "engines"


def _user_config_base() -> Path:
    if sys.platform.startswith("win"):
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def user_engines_dir() -> Path:
    """The user's engines folder (may not exist)."""
    env = os.environ.get("DANCE_AI_ENGINES")
    if env:
        return Path(env).expanduser()
    return _user_config_base() / "dance_ai" / "engines"


def user_cache_dir() -> Path:
    """``<user cache>/dance_ai``: TensorRT EP engine cache and timing caches live below it."""
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dance_ai"


def _kind(path: Path) -> str:
    return "tensorrt" if path.suffix.lower() in TENSORRT_SUFFIXES else "onnx"


def _scan(folder: Path, source: str) -> list[EngineEntry]:
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        return []
    return [
        EngineEntry(p.stem, p, source, _kind(p))
        for p in files
        if p.suffix.lower() in ENGINE_SUFFIXES
    ]


def list_engines() -> list[EngineEntry]:
    """Every engine file found: bundled ones first, then the user's folder."""
    return _scan(bundled_engines_dir(), "bundled") + _scan(user_engines_dir(), "user")


def resolve_engine(spec: str | os.PathLike | None, prefer_tensorrt: bool = False) -> Path:
    """Turn ``default``, a NAME or a PATH into an engine file path, or raise EngineError.

    A name matching both an ONNX and a TensorRT file gives the ONNX one unless
    ``prefer_tensorrt`` (the TensorRT backend was chosen and is usable).
    """
    text = "default" if spec is None or str(spec) == "" else os.fspath(spec)
    as_path = Path(text).expanduser()
    looks_like_path = (
        os.sep in text
        or (os.altsep and os.altsep in text)
        or as_path.suffix.lower() in ENGINE_SUFFIXES
    )
    if looks_like_path:
        if not as_path.is_file():
            raise EngineError(f"engine file '{text}' does not exist")
        return as_path
    matches = [e for e in list_engines() if e.name == text]
    if not matches:
        if text == "default":
            raise EngineError(
                "the default engine is not installed (dance_ai_addon/engines/default.onnx is "
                "missing); pass --engine PATH to an engine file, or put one in "
                f"{user_engines_dir()}"
            )
        known = sorted({e.name for e in list_engines()})
        raise EngineError(
            f"no engine named '{text}'; found: {', '.join(known) or '(none)'} "
            f"(searched {bundled_engines_dir()} and {user_engines_dir()})"
        )
    # user folder beats bundled; the kind preference decides between files of the same source
    matches.sort(
        key=lambda e: (
            e.source != "user",
            (e.kind != "tensorrt") if prefer_tensorrt else (e.kind != "onnx"),
        )
    )
    return matches[0].path


def read_engine_metadata(path: str | os.PathLike):
    """Validated metadata of an engine file without keeping a runtime session around."""
    p = Path(path)
    if p.suffix.lower() in TENSORRT_SUFFIXES:
        from .tensorrt_backend import read_sidecar

        return read_sidecar(p)[0]
    from .onnx_backend import read_onnx_metadata

    return read_onnx_metadata(p)
