#!/usr/bin/env python3
"""Build the Dance AI extension zips with Blender's own extension tool.

Stages ``blender_manifest.toml`` + the contents of ``dance_ai_addon/`` + the pinned wheels into
``build/stage/<flavour>/`` and runs ``blender_ext.py build --split-platforms`` (the tool that
ships in the ``bpy`` wheel and inside Blender as ``blender --command extension build``), then
``blender_ext.py validate`` on every zip. Output: ``dist/dance_ai-<version>-<platform>.zip``
(CPU flavour) or ``dist/dance_ai-<version>-gpu-<platform>.zip`` (``--flavour gpu``: Linux x64 and
Windows x64 with onnxruntime-gpu, which cannot coexist with onnxruntime, hence a separate zip).

Blender's tool silently writes a wheel-less zip for a listed platform whose wheel is missing;
this script refuses to build instead, and checks each zip's wheels and size afterwards.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wheels as wheeltable  # noqa: E402  (tools/wheels.py, beside this file)

ROOT = wheeltable.ROOT
PACKAGE_DIR = os.path.join(ROOT, "dance_ai_addon")
STAGE_ROOT = os.path.join(ROOT, "build", "stage")
DEFAULT_OUTPUT = os.path.join(ROOT, "dist")
MAX_CPU_ZIP_BYTES = 25_000_000  # 25 MB
#: Paths that must never end up in a zip (dev-only material).
FORBIDDEN_TOP = ("tests/", "training/", "bench/", "tools/", "docs/", "dist/", "build/")


class BuildError(RuntimeError):
    """The extension cannot be built as asked; the message says why and what to do."""


def find_blender_ext() -> str:
    """Path of Blender's ``blender_ext.py`` (``$BLENDER_EXT`` or the one in the bpy wheel)."""
    env = os.environ.get("BLENDER_EXT")
    if env:
        return env
    spec = importlib.util.find_spec("bpy")  # locates bpy without importing it (slow, 270 MB)
    if spec is None or spec.origin is None:
        raise BuildError("bpy is not installed: run `make venv` (or set BLENDER_EXT)")
    pattern = os.path.join(
        os.path.dirname(spec.origin), "*", "scripts", "addons_core", "bl_pkg", "cli",
        "blender_ext.py",
    )  # fmt: skip
    found = sorted(glob.glob(pattern))
    if not found:
        raise BuildError(f"blender_ext.py not found under {os.path.dirname(spec.origin)}")
    return found[-1]


def manifest_version(path: str = wheeltable.MANIFEST) -> str:
    with open(path, "rb") as fh:
        return str(tomllib.load(fh)["version"])


def zip_name(version: str, flavour: str, platform: str) -> str:
    """File name Blender's tool gives a split-platform zip (platform with ``_``)."""
    middle = "-gpu" if flavour == "gpu" else ""
    return f"dance_ai-{version}{middle}-{platform.replace('-', '_')}.zip"


def _ignore(_directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))]


def stage(
    flavour: str, platforms: list[str], stage_root: str = STAGE_ROOT
) -> tuple[str, list[wheeltable.Wheel]]:
    """Fill ``<stage_root>/<flavour>/`` for ``platforms``; returns the stage dir and its wheels."""
    table = wheeltable.load_table()
    supported = wheeltable.flavour_platforms(table, flavour)
    unknown = [p for p in platforms if p not in supported]
    if unknown:
        raise BuildError(
            f"flavour {flavour!r} has no wheels for {', '.join(unknown)} "
            f"(supported: {', '.join(supported)}); see wheels/wheels.toml"
        )
    rows = [w for w in wheeltable.select(table, flavour) if set(w.platforms) & set(platforms)]
    missing = wheeltable.problems(rows)
    if missing:
        raise BuildError(
            "refusing to build zips without their wheels: "
            + "; ".join(missing)
            + f". Run `python tools/wheels.py fetch --flavour {flavour}` (or `make extension`)."
        )

    with open(wheeltable.MANIFEST, encoding="utf-8") as fh:
        source = fh.read()
    if flavour == "cpu" and wheeltable.render_manifest(source, table, "cpu") != source:
        raise BuildError(
            "blender_manifest.toml does not match wheels/wheels.toml: "
            "run `python tools/wheels.py sync-manifest`"
        )
    # Only the asked platforms and their wheels go into the staged manifest.
    staged_table = [
        wheeltable.Wheel(
            w.flavour,
            tuple(p for p in w.platforms if p in platforms),
            w.package,
            w.version,
            w.file,
            w.sha256,
        )
        for w in rows
    ]
    text = wheeltable.render_manifest(source, staged_table, flavour)
    if flavour == "gpu":  # same id (install one or the other); the name tells them apart
        text, count = re.subn(r'^name = "([^"]*)"', r'name = "\1 (GPU)"', text, count=1, flags=re.M)
        if count != 1:
            raise BuildError('blender_manifest.toml has no `name = "..."` line')

    stage_dir = os.path.join(stage_root, flavour)
    if os.path.isdir(stage_dir):
        shutil.rmtree(stage_dir)
    shutil.copytree(PACKAGE_DIR, stage_dir, ignore=_ignore)
    if os.path.exists(os.path.join(stage_dir, "blender_manifest.toml")):
        raise BuildError("dance_ai_addon/ must not hold its own blender_manifest.toml")
    with open(os.path.join(stage_dir, "blender_manifest.toml"), "w", encoding="utf-8") as fh:
        fh.write(text)
    os.makedirs(os.path.join(stage_dir, "wheels"))
    for wheel in rows:
        dst = os.path.join(stage_dir, "wheels", wheel.file)
        try:
            os.link(wheel.path, dst)  # no 300 MB copies for the GPU flavour
        except OSError:
            shutil.copy2(wheel.path, dst)
    return stage_dir, rows


def _run_tool(tool: str, args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, tool, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise BuildError(
            f"blender_ext.py {args[0]} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )


def check_zip(path: str, flavour: str, platform: str, rows: list[wheeltable.Wheel]) -> None:
    """Fail unless the zip holds exactly its platform's wheels, no dev files, and fits the size."""
    expected = sorted(f"wheels/{w.file}" for w in rows if platform in w.platforms)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    got = sorted(n for n in names if n.startswith("wheels/") and n.endswith(".whl"))
    if got != expected:
        raise BuildError(f"{os.path.basename(path)} holds wheels {got}, expected {expected}")
    bad = [n for n in names if n.startswith(FORBIDDEN_TOP) or "__pycache__" in n]
    if bad:
        raise BuildError(f"{os.path.basename(path)} contains dev files: {bad[:5]}")
    if "__init__.py" not in names or "blender_manifest.toml" not in names:
        raise BuildError(f"{os.path.basename(path)} is not an extension package")
    size = os.path.getsize(path)
    if flavour == "cpu" and size >= MAX_CPU_ZIP_BYTES:
        raise BuildError(
            f"{os.path.basename(path)} is {size / 1e6:.1f} MB; the CPU zip must stay "
            f"under {MAX_CPU_ZIP_BYTES / 1e6:.0f} MB"
        )


def build(
    flavour: str = "cpu",
    platforms: list[str] | None = None,
    output_dir: str = DEFAULT_OUTPUT,
    validate: bool = True,
    stage_root: str = STAGE_ROOT,
) -> list[str]:
    """Build (and validate) the zips of ``flavour`` for ``platforms`` (default: all of them).

    Returns the zip paths, in ``platforms`` order. Raises :class:`BuildError`.
    """
    table = wheeltable.load_table()
    if platforms is None:
        platforms = wheeltable.flavour_platforms(table, flavour)
    tool = find_blender_ext()
    stage_dir, rows = stage(flavour, platforms, stage_root)
    version = manifest_version()
    os.makedirs(output_dir, exist_ok=True)
    outputs = [os.path.join(output_dir, zip_name(version, flavour, p)) for p in platforms]
    for out in outputs:
        if os.path.exists(out):
            os.remove(out)
    args = ["build", "--split-platforms", "--source-dir", stage_dir]
    if flavour == "gpu":
        args += ["--output-filepath", os.path.join(output_dir, f"dance_ai-{version}-gpu.zip")]
    else:
        args += ["--output-dir", output_dir]
    _run_tool(tool, args)
    for out, plat in zip(outputs, platforms, strict=True):
        if not os.path.isfile(out):
            raise BuildError(f"Blender's tool did not write {out}")
        check_zip(out, flavour, plat, rows)
        if validate:
            _run_tool(tool, ["validate", out])
    return outputs


def newest_input_mtime() -> float:
    """Latest modification time among everything that goes into a zip (for freshness checks)."""
    newest = max(os.path.getmtime(wheeltable.MANIFEST), os.path.getmtime(wheeltable.TABLE))
    for dirpath, dirnames, filenames in os.walk(PACKAGE_DIR):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        newest = max([newest, os.path.getmtime(dirpath)])
        for name in filenames:
            newest = max(newest, os.path.getmtime(os.path.join(dirpath, name)))
    return newest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/build_extension.py", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--flavour", choices=wheeltable.FLAVOURS, default="cpu")
    parser.add_argument(
        "--platform",
        action="append",
        help="Blender platform to build (repeatable; 'host' = this machine); default: all",
    )
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT)
    parser.add_argument("--no-validate", action="store_true")
    args = parser.parse_args(argv)
    platforms = None
    if args.platform:
        platforms = [wheeltable.host_platform() if p == "host" else p for p in args.platform]
    try:
        outputs = build(args.flavour, platforms, args.output_dir, not args.no_validate)
    except BuildError as exc:
        print(f"build_extension: error: {exc}", file=sys.stderr)
        return 1
    for out in outputs:
        print(f"{os.path.relpath(out, ROOT)}  {os.path.getsize(out) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
