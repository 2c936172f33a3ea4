"""The engines loaded in this Blender session, kept per file + backend + threads.

Loading an engine opens an ONNX Runtime session (or a TensorRT context with GPU memory), which
takes long enough that the panel must not do it on every click. This module keeps the loaded
engines (at most :data:`MAX_ENGINES`, least recently used dropped first), reloads one whose file
changed on disk, and closes them all on unregister and at interpreter exit so GPU memory is
released cleanly. It imports no runtime itself: ``load_engine`` imports onnxruntime lazily.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_ENGINES",
    "CachedEngine",
    "get_engine",
    "current",
    "loaded",
    "release",
    "release_all",
    "register",
    "unregister",
]

MAX_ENGINES = 2

_lock = threading.RLock()
_engines: OrderedDict[tuple, CachedEngine] = OrderedDict()
_current: tuple | None = None


@dataclass
class CachedEngine:
    """A loaded engine with the request that produced it."""

    engine: Any  # core.engines.Engine
    path: Path
    backend: str  # what was asked for: auto, tensorrt, cuda, cpu
    threads: int | None
    mtime_ns: int

    def describe(self) -> str:
        """One line for reports: file, what runs it, and the timing basics."""
        meta = self.engine.metadata
        return (
            f"{self.path.name}: {self.engine.backend} / {self.engine.provider}, "
            f"{meta.fps:g} fps, window {meta.window}, history {meta.history}, "
            f"styles {', '.join(meta.style_names)}"
        )


def _key(path: Path, backend: str, threads: int | None) -> tuple:
    return (os.path.normcase(str(path)), backend, threads or None)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def get_engine(path: str | os.PathLike, backend: str = "auto", threads: int | None = None) -> Any:
    """The engine for ``path`` on ``backend``, loading it (lazily importing the runtime) if needed.

    A cached engine whose file changed since it was loaded is closed and loaded again.
    """
    return get_entry(path, backend, threads).engine


def get_entry(
    path: str | os.PathLike, backend: str = "auto", threads: int | None = None
) -> CachedEngine:
    """Like :func:`get_engine` but returns the cache entry (request + engine)."""
    global _current
    p = Path(path).expanduser().resolve()
    backend = (backend or "auto").lower()
    threads = int(threads) if threads else None
    key = _key(p, backend, threads)
    with _lock:
        entry = _engines.get(key)
        if entry is not None and entry.mtime_ns == _mtime(p) and not entry.engine.closed:
            _engines.move_to_end(key)
            _current = key
            return entry
        if entry is not None:
            release(key)
        from ..core.engines import load_engine

        engine = load_engine(p, backend=backend, threads=threads)
        entry = CachedEngine(engine, p, backend, threads, _mtime(p))
        _engines[key] = entry
        _current = key
        while len(_engines) > MAX_ENGINES:
            release(next(iter(_engines)))
        return entry


def current() -> CachedEngine | None:
    """The engine loaded or used last (what the panel shows), or None."""
    with _lock:
        return _engines.get(_current) if _current is not None else None


def loaded() -> list[CachedEngine]:
    """Every cached engine, least recently used first."""
    with _lock:
        return list(_engines.values())


def release(key: tuple) -> None:
    """Close and forget one cached engine (no error if it is gone already)."""
    global _current
    with _lock:
        entry = _engines.pop(key, None)
        if _current == key:
            _current = None
    if entry is not None:
        try:
            entry.engine.close()
        except Exception:  # closing must never stop Blender from quitting or unregistering
            pass


def release_all() -> int:
    """Close every cached engine; returns how many were closed."""
    with _lock:
        keys = list(_engines)
    for key in keys:
        release(key)
    return len(keys)


atexit.register(release_all)


def register() -> None:
    """Nothing is loaded at register time (engines load on first use)."""


def unregister() -> None:
    """Release every engine (and its GPU memory) when the add-on is disabled."""
    release_all()
