"""Dance job specs: one dataclass for "generate -> retarget -> bake", and the JSON job-file reader.

The panel, the ``bake``/``batch`` subcommands and ``make demo`` all describe a job with
:class:`DanceJobSpec` and hand it to ``blender.jobs.run_dance_job``. Job files are plain JSON
(schema in ``docs/batch-jobs.md``): they are parsed and type-checked here, never executed, and
every problem is a :class:`~.core.errors.JobError` naming the job and the key. Pure Python: no
bpy, no numpy, so the parser is testable anywhere.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .core.errors import JobError

__all__ = [
    "JOB_FILE_VERSION",
    "BACKENDS",
    "DanceJobSpec",
    "JobFile",
    "parse_job_file",
    "parse_job_data",
    "job_from_dict",
    "looks_like_engine_path",
]

JOB_FILE_VERSION = 1
BACKENDS = ("auto", "tensorrt", "cuda", "cpu")
MAX_JOB_FILE_BYTES = 8 * 1024 * 1024
MAX_SECONDS = 3600.0
MAX_FRAMES = 1_000_000
_ENGINE_SUFFIXES = (".onnx", ".engine", ".plan")


@dataclass
class DanceJobSpec:
    """Everything one dance job needs; paths are absolute once a job file has been read.

    ``style`` mixes the engine's presets (``"salsa=0.7,modern=0.3"``); ``style_axes`` then sets
    raw axis values (the panel's sliders). ``bpm`` None or 0 means no beat conditioning; with a
    ``bpm``, ``beat_lock`` (0..1) retimes the motion so its accents land on the beat. ``variety``
    (0..1, None: the engine's recommendation) lets each seed dance with the character of the
    style's real takes instead of the preset's average. Without
    ``blend`` (and no armature in the running scene) the job only generates and writes
    ``out_bvh``/``out_npz``.
    """

    name: str = "dance"
    engine: str = "default"
    backend: str = "auto"
    threads: int | None = None
    style: str = ""
    style_axes: dict[str, float] = field(default_factory=dict)
    seconds: float | None = None
    frames: int | None = None
    seed: int = 0
    bpm: float | None = None
    beat_phase: float = 0.0
    beat_lock: float = 1.0
    variety: float | None = None
    loop: bool = False
    blend: str | None = None
    armature: str | None = None
    mesh: str | None = None
    preset: str | None = None
    smooth: float | None = None
    in_place: bool = False
    foot_cleanup: bool = True
    action_name: str | None = None
    nla: bool = False
    frame_start: int | None = None
    out_blend: str | None = None
    out_bvh: str | None = None
    out_npz: str | None = None

    def frame_count(self, fps: float) -> int:
        """Frames to generate at the engine's ``fps`` (``frames`` wins; default 10 seconds)."""
        if self.frames is not None:
            return int(self.frames)
        seconds = 10.0 if self.seconds is None else float(self.seconds)
        return max(1, int(round(seconds * float(fps))))

    @property
    def beat_bpm(self) -> float | None:
        """The tempo to condition on, or None when beat conditioning is off."""
        return float(self.bpm) if self.bpm else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the spec (for reports)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class JobFile:
    """A parsed job file: its path, its folder (relative paths resolve here) and the jobs."""

    path: Path | None
    base_dir: Path
    jobs: list[DanceJobSpec]


# --------------------------------------------------------------------------- key schema

# kind per key: "str", "path", "engine", "int", "number", "bool", "style", "axes";
# a trailing "?" means JSON null is allowed.
_KEYS: dict[str, str] = {
    "name": "str",
    "engine": "engine",
    "backend": "str",
    "threads": "int?",
    "style": "style",
    "style_axes": "axes",
    "seconds": "number?",
    "frames": "int?",
    "seed": "int",
    "bpm": "number?",
    "beat_phase": "number",
    "beat_lock": "number",
    "variety": "number?",
    "loop": "bool",
    "blend": "path?",
    "armature": "str?",
    "mesh": "str?",
    "preset": "str?",
    "smooth": "number?",
    "in_place": "bool",
    "foot_cleanup": "bool",
    "action_name": "str?",
    "nla": "bool",
    "frame_start": "int?",
    "out_blend": "path?",
    "out_bvh": "path?",
    "out_npz": "path?",
}
_TOP_KEYS = ("version", "defaults", "jobs")


def looks_like_engine_path(text: str) -> bool:
    """True when an ``engine`` value is a file path rather than an engine name."""
    return (
        "/" in text
        or "\\" in text
        or (os.altsep is not None and os.altsep in text)
        or text.lower().endswith(_ENGINE_SUFFIXES)
    )


def _fail(where: str, message: str) -> JobError:
    return JobError(f"{where}: {message}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_value(where: str, key: str, kind: str, value: Any) -> Any:
    """Type-check one value; returns it converted (paths stay strings until resolved)."""
    nullable = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None:
        if nullable:
            return None
        raise _fail(where, f"'{key}' must not be null")
    if kind in ("str", "path", "engine"):
        if not isinstance(value, str) or not value.strip():
            raise _fail(where, f"'{key}' must be a non-empty string, not {_json_type(value)}")
        return value.strip() if kind == "str" else value
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, f"'{key}' must be an integer, not {_json_type(value)}")
        return value
    if kind == "number":
        if not _is_number(value) or not math.isfinite(float(value)):
            raise _fail(where, f"'{key}' must be a finite number, not {_json_type(value)}")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise _fail(where, f"'{key}' must be true or false, not {_json_type(value)}")
        return value
    if kind == "style":
        return _style_text(where, key, value)
    if kind == "axes":
        if not isinstance(value, dict):
            raise _fail(where, f"'{key}' must be an object of axis: value, not {_json_type(value)}")
        out = {}
        for name, v in value.items():
            if not _is_number(v) or not math.isfinite(float(v)):
                raise _fail(where, f"'{key}.{name}' must be a finite number")
            out[str(name)] = float(v)
        return out
    raise AssertionError(kind)  # pragma: no cover - schema typo


def _style_text(where: str, key: str, value: Any) -> str:
    """``style`` may be a string ``"salsa=0.7,modern=0.3"`` or an object ``{"salsa": 0.7}``."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        parts = []
        for name, w in value.items():
            if not isinstance(name, str) or not name or "," in name or "=" in name:
                raise _fail(where, f"'{key}' has a bad style name {name!r}")
            if not _is_number(w) or not math.isfinite(float(w)) or float(w) < 0:
                raise _fail(where, f"'{key}.{name}' must be a number >= 0")
            parts.append(f"{name}={float(w):g}")
        return ",".join(parts)
    raise _fail(
        where, f"'{key}' must be a string like \"salsa=0.7\" or an object, not {_json_type(value)}"
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_keys(where: str, data: dict) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if key not in _KEYS:
            raise _fail(
                where,
                f"unknown key '{key}' (known keys: {', '.join(sorted(_KEYS))})",
            )
        out[key] = _check_value(where, key, _KEYS[key], value)
    return out


def _check_ranges(where: str, spec: DanceJobSpec) -> None:
    if spec.backend.lower() not in BACKENDS:
        raise _fail(where, f"'backend' must be one of {', '.join(BACKENDS)}, not '{spec.backend}'")
    spec.backend = spec.backend.lower()
    if spec.threads is not None and not 1 <= spec.threads <= 256:
        raise _fail(where, f"'threads' must be between 1 and 256, got {spec.threads}")
    if spec.seconds is not None and spec.frames is not None:
        raise _fail(where, "give either 'seconds' or 'frames', not both")
    if spec.seconds is not None and not 0.0 < spec.seconds <= MAX_SECONDS:
        raise _fail(where, f"'seconds' must be > 0 and <= {MAX_SECONDS:g}, got {spec.seconds:g}")
    if spec.frames is not None and not 1 <= spec.frames <= MAX_FRAMES:
        raise _fail(where, f"'frames' must be between 1 and {MAX_FRAMES}, got {spec.frames}")
    if not 0 <= spec.seed < 2**32:
        raise _fail(where, f"'seed' must be between 0 and 2^32-1, got {spec.seed}")
    if spec.bpm is not None and spec.bpm != 0.0 and not 1.0 <= spec.bpm <= 1000.0:
        raise _fail(where, f"'bpm' must be 0 (off) or between 1 and 1000, got {spec.bpm:g}")
    if not 0.0 <= spec.beat_lock <= 1.0:
        raise _fail(where, f"'beat_lock' must be between 0 and 1, got {spec.beat_lock:g}")
    if spec.variety is not None and not 0.0 <= spec.variety <= 1.0:
        raise _fail(where, f"'variety' must be between 0 and 1, got {spec.variety:g}")
    if spec.smooth is not None and not 0.0 <= spec.smooth <= 1.0:
        raise _fail(where, f"'smooth' must be between 0 and 1, got {spec.smooth:g}")
    if spec.blend is None:
        for key in ("armature", "mesh", "out_blend"):
            if getattr(spec, key) is not None:
                raise _fail(where, f"'{key}' needs 'blend' (the file with the rig)")
        if spec.out_bvh is None and spec.out_npz is None:
            raise _fail(
                where,
                "writes nothing: give 'blend' + 'out_blend' to bake, or 'out_bvh'/'out_npz'",
            )
    elif spec.out_blend is None:
        raise _fail(where, "'blend' needs 'out_blend' (the input .blend is never overwritten)")
    if spec.out_bvh is not None and not spec.out_bvh.lower().endswith(".bvh"):
        raise _fail(where, f"'out_bvh' must end in .bvh, got '{spec.out_bvh}'")
    if spec.out_npz is not None and not spec.out_npz.lower().endswith(".npz"):
        raise _fail(where, f"'out_npz' must end in .npz, got '{spec.out_npz}'")
    if spec.out_blend is not None and not spec.out_blend.lower().endswith(".blend"):
        raise _fail(where, f"'out_blend' must end in .blend, got '{spec.out_blend}'")
    if spec.blend is not None and spec.out_blend is not None:
        if os.path.normcase(os.path.abspath(spec.blend)) == os.path.normcase(
            os.path.abspath(spec.out_blend)
        ):
            raise _fail(
                where, "'out_blend' must differ from 'blend' (inputs are never overwritten)"
            )


def _resolve(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = base / p
    return os.path.normpath(str(p))


def job_from_dict(
    data: dict, base_dir: str | os.PathLike | None = None, where: str = "job"
) -> DanceJobSpec:
    """Validate one job dict (already merged with defaults) into a :class:`DanceJobSpec`.

    Relative paths (``blend``, ``out_*``, and ``engine`` when it is a path) resolve against
    ``base_dir`` (the job file's folder; the current folder when None).
    """
    if not isinstance(data, dict):
        raise _fail(where, f"must be an object, not {_json_type(data)}")
    values = _check_keys(where, data)
    spec = replace(DanceJobSpec(), **values)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    for key in ("blend", "out_blend", "out_bvh", "out_npz"):
        setattr(spec, key, _resolve(base, getattr(spec, key)))
    if looks_like_engine_path(spec.engine):
        spec.engine = _resolve(base, spec.engine) or spec.engine
    _check_ranges(where, spec)
    return spec


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise JobError(f"the key '{key}' appears twice in one object")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise JobError(f"'{name}' is not valid JSON; use a finite number")


def parse_job_data(data: Any, base_dir: str | os.PathLike, source: str = "job file") -> JobFile:
    """Validate a decoded job-file object (see ``docs/batch-jobs.md``)."""
    if not isinstance(data, dict):
        raise JobError(f"{source}: the top level must be an object with 'version' and 'jobs'")
    for key in data:
        if key not in _TOP_KEYS:
            raise JobError(
                f"{source}: unknown top-level key '{key}' (known: {', '.join(_TOP_KEYS)})"
            )
    version = data.get("version")
    if version != JOB_FILE_VERSION or isinstance(version, bool):
        raise JobError(f"{source}: 'version' must be {JOB_FILE_VERSION}, got {json.dumps(version)}")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise JobError(f"{source}: 'defaults' must be an object, not {_json_type(defaults)}")
    if "name" in defaults:
        raise JobError(f"{source}: 'defaults' cannot set 'name' (each job names itself)")
    _check_keys(f"{source}: defaults", defaults)  # report bad defaults once, clearly
    jobs_raw = data.get("jobs")
    if not isinstance(jobs_raw, list) or not jobs_raw:
        raise JobError(f"{source}: 'jobs' must be a non-empty list of job objects")
    jobs: list[DanceJobSpec] = []
    seen: set[str] = set()
    for i, job in enumerate(jobs_raw):
        label = job.get("name") if isinstance(job, dict) else None
        where = f"{source}: job {i + 1}" + (f" ('{label}')" if isinstance(label, str) else "")
        if not isinstance(job, dict):
            raise _fail(where, f"must be an object, not {_json_type(job)}")
        merged = dict(defaults)
        if "seconds" in job or "frames" in job:  # a job's length replaces the default length
            merged.pop("seconds", None)
            merged.pop("frames", None)
        merged.update(job)
        merged.setdefault("name", f"job{i + 1}")
        spec = job_from_dict(merged, base_dir, where)
        if spec.name in seen:
            raise _fail(where, f"the name '{spec.name}' is used by an earlier job")
        seen.add(spec.name)
        jobs.append(spec)
    return JobFile(path=None, base_dir=Path(base_dir), jobs=jobs)


def parse_job_file(path: str | os.PathLike) -> JobFile:
    """Read and validate a JSON job file; relative paths resolve against its folder."""
    p = Path(path).expanduser()
    source = p.name or str(p)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise JobError(f"job file '{p}' cannot be read ({exc.strerror or exc})") from None
    if size > MAX_JOB_FILE_BYTES:
        raise JobError(f"{source}: {size} bytes is too large for a job file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JobError(f"job file '{p}' cannot be read as UTF-8 text ({exc})") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise JobError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except JobError as exc:
        raise JobError(f"{source}: {exc}") from None
    parsed = parse_job_data(data, p.resolve().parent, source)
    parsed.path = p.resolve()
    return parsed
