#!/usr/bin/env python3
"""Fetch, check and publish the wheels bundled into the extension.

The pinned table ``wheels/wheels.toml`` is the single source of truth:

* ``fetch``         download the pinned wheels into ``wheels/`` (pip, binary only, no deps) and
                    verify their sha256; files already present and intact are kept.
* ``check``         exit 1 naming every pinned wheel that is missing or corrupt.
* ``sync-manifest`` rewrite ``platforms`` and ``wheels`` of ``blender_manifest.toml`` from the
                    CPU rows (``--check``: only report drift, exit 1 if any).
* ``host-platform`` print this machine's Blender platform name (``linux-x64`` ...).

Run with the dev venv's Python (it has pip). No network access happens except in ``fetch``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform as _platform
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEELS_DIR = os.path.join(ROOT, "wheels")
TABLE = os.path.join(WHEELS_DIR, "wheels.toml")
MANIFEST = os.path.join(ROOT, "blender_manifest.toml")
FLAVOURS = ("cpu", "gpu")
PYTHON_VERSION = "3.11"
FORBIDDEN_PACKAGES = {"numpy"}  # Blender ships numpy; bundling one breaks Blender's own


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel of the table."""

    flavour: str
    platforms: tuple[str, ...]
    package: str
    version: str
    file: str
    sha256: str

    @property
    def path(self) -> str:
        return os.path.join(WHEELS_DIR, self.file)

    @property
    def manifest_entry(self) -> str:
        """The entry in the manifest's ``wheels`` list (relative to the manifest)."""
        return f"./wheels/{self.file}"

    def pip_platform_tags(self) -> list[str]:
        """Platform tags of the file name (``a.b`` compressed tags expanded)."""
        stem = self.file[: -len(".whl")]
        return stem.split("-")[-1].split(".")


def load_table(path: str = TABLE) -> list[Wheel]:
    """Read and validate the pinned table."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    wheels = []
    for row in data.get("wheel", []):
        wheel = Wheel(
            flavour=row["flavour"],
            platforms=tuple(row["platforms"]),
            package=row["package"],
            version=row["version"],
            file=row["file"],
            sha256=row["sha256"].lower(),
        )
        if wheel.flavour not in FLAVOURS:
            raise ValueError(f"{path}: unknown flavour {wheel.flavour!r} for {wheel.file}")
        normalized = wheel.package.replace("-", "_").lower()
        if normalized in FORBIDDEN_PACKAGES:
            raise ValueError(f"{path}: {wheel.package} must never be bundled (Blender ships it)")
        if not wheel.file.lower().startswith(f"{normalized}-{wheel.version}-"):
            raise ValueError(
                f"{path}: file {wheel.file} does not match {wheel.package}=={wheel.version}"
            )
        if not re.fullmatch(r"[0-9a-f]{64}", wheel.sha256):
            raise ValueError(f"{path}: bad sha256 for {wheel.file}")
        wheels.append(wheel)
    return wheels


def select(
    wheels: list[Wheel], flavour: str | None = None, platform: str | None = None
) -> list[Wheel]:
    """The rows of one flavour and/or one Blender platform (``None`` = all)."""
    return [
        w
        for w in wheels
        if (flavour is None or w.flavour == flavour)
        and (platform is None or platform in w.platforms)
    ]


def flavour_platforms(wheels: list[Wheel], flavour: str) -> list[str]:
    """The Blender platforms a flavour supports, in table order."""
    seen: list[str] = []
    for wheel in select(wheels, flavour):
        for plat in wheel.platforms:
            if plat not in seen:
                seen.append(plat)
    return seen


def host_platform() -> str:
    """This machine's platform in Blender's naming (``linux-x64``, ``macos-arm64``, ...)."""
    system = {"darwin": "macos", "windows": "windows", "linux": "linux"}.get(
        _platform.system().lower(), _platform.system().lower()
    )
    machine = _platform.machine().lower()
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(machine, machine)
    return f"{system}-{machine}"


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def problems(wheels: list[Wheel]) -> list[str]:
    """One message per pinned wheel that is missing or whose sha256 does not match."""
    out = []
    for wheel in wheels:
        if not os.path.isfile(wheel.path):
            out.append(f"missing {os.path.relpath(wheel.path, ROOT)}")
        elif sha256_of(wheel.path) != wheel.sha256:
            out.append(f"sha256 mismatch for {os.path.relpath(wheel.path, ROOT)}")
    return out


def fetch(wheels: list[Wheel]) -> None:
    """Download every wheel of ``wheels`` that is not already present and intact."""
    os.makedirs(WHEELS_DIR, exist_ok=True)
    for wheel in wheels:
        if os.path.isfile(wheel.path) and sha256_of(wheel.path) == wheel.sha256:
            continue
        print(f"fetching {wheel.file}", file=sys.stderr)
        with tempfile.TemporaryDirectory(dir=WHEELS_DIR, prefix=".fetch-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
            cmd += ["--only-binary=:all:", "--dest", tmp]
            for tag in wheel.pip_platform_tags():
                cmd += ["--platform", tag]
            cmd += ["--python-version", PYTHON_VERSION, "--implementation", "cp"]
            cmd += [f"{wheel.package}=={wheel.version}"]
            subprocess.run(cmd, check=True)
            got = os.path.join(tmp, wheel.file)
            if not os.path.isfile(got):
                raise SystemExit(
                    f"pip did not produce {wheel.file} (got {sorted(os.listdir(tmp))}); "
                    "fix the pin in wheels/wheels.toml"
                )
            if sha256_of(got) != wheel.sha256:
                raise SystemExit(f"sha256 mismatch for downloaded {wheel.file}: refusing it")
            os.replace(got, wheel.path)


def _toml_list(key: str, values: list[str]) -> str:
    if not values:
        return f"{key} = []"
    body = "".join(f'  "{v}",\n' for v in values)
    return f"{key} = [\n{body}]"


def render_manifest(text: str, wheels: list[Wheel], flavour: str) -> str:
    """``text`` (a manifest) with ``platforms`` and ``wheels`` set from the table's flavour."""
    rows = select(wheels, flavour)
    replacements = {
        "platforms": _toml_list("platforms", flavour_platforms(wheels, flavour)),
        "wheels": _toml_list("wheels", [w.manifest_entry for w in rows]),
    }
    for key, new in replacements.items():
        pattern = re.compile(rf"^{key}\s*=\s*\[[^\]]*\]", re.MULTILINE)
        text, count = pattern.subn(lambda _m, new=new: new, text, count=1)
        if count != 1:
            raise SystemExit(f"{MANIFEST}: no top-level `{key} = [...]` to rewrite")
    return text


def sync_manifest(check_only: bool) -> int:
    wheels = load_table()
    with open(MANIFEST, encoding="utf-8") as fh:
        text = fh.read()
    new = render_manifest(text, wheels, "cpu")
    if new == text:
        return 0
    if check_only:
        print("blender_manifest.toml is out of date: run `python tools/wheels.py sync-manifest`")
        return 1
    with open(MANIFEST, "w", encoding="utf-8") as fh:
        fh.write(new)
    print("blender_manifest.toml updated", file=sys.stderr)
    return 0


def _selection(args: argparse.Namespace) -> list[Wheel]:
    flavour = None if args.flavour == "all" else args.flavour
    plat = {"all": None, "host": host_platform()}.get(args.platform, args.platform)
    return select(load_table(), flavour, plat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/wheels.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("fetch", "check"):
        p = sub.add_parser(name)
        p.add_argument("--flavour", choices=(*FLAVOURS, "all"), default="cpu")
        p.add_argument(
            "--platform", default="all", help="a Blender platform, 'host' or 'all' (default)"
        )
    p = sub.add_parser("sync-manifest")
    p.add_argument("--check", action="store_true", help="only report drift")
    sub.add_parser("host-platform")
    args = parser.parse_args(argv)

    if args.cmd == "host-platform":
        print(host_platform())
        return 0
    if args.cmd == "sync-manifest":
        return sync_manifest(args.check)
    wheels = _selection(args)
    if not wheels:
        print(f"no pinned wheels for flavour={args.flavour} platform={args.platform}")
        return 1 if args.cmd == "check" else 0
    if args.cmd == "fetch":
        if not _has_pip():
            raise SystemExit("pip is needed to fetch wheels: run this with the dev venv's Python")
        fetch(wheels)
    found = problems(wheels)
    for msg in found:
        print(msg, file=sys.stderr)
    return 1 if found else 0


def _has_pip() -> bool:
    try:
        import pip  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
