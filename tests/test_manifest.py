"""blender_manifest.toml, the pinned wheel table and the zip build agree and follow the rules.

No bpy import here: Blender's manifest validator is loaded from the ``blender_ext.py`` file that
ships in the bpy wheel (plain Python), and the builder is run for real into temp dirs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tomllib
import zipfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(REPO_ROOT, "blender_manifest.toml")


def _tools():
    tools = os.path.join(REPO_ROOT, "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    return importlib.import_module("wheels"), importlib.import_module("build_extension")


@pytest.fixture(scope="module")
def manifest() -> dict:
    with open(MANIFEST, "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def blender_ext():
    _, build_extension = _tools()
    path = build_extension.find_blender_ext()
    spec = importlib.util.spec_from_file_location("_dance_ai_blender_ext", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_manifest_identity(manifest: dict) -> None:
    assert manifest["schema_version"] == "1.0.0"
    assert manifest["id"] == "dance_ai"
    assert manifest["name"] == "Dance AI"
    assert manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]


def test_permissions_are_files_only(manifest: dict) -> None:
    assert set(manifest["permissions"]) == {"files"}


def test_blender_validator_accepts_manifest(manifest: dict, blender_ext) -> None:
    result = blender_ext.pkg_manifest_from_dict_and_validate_all_errros(
        manifest, from_repo=False, strict=True
    )
    assert not isinstance(result, list), result


def test_manifest_wheels_equal_pinned_table(manifest: dict) -> None:
    wheels, _ = _tools()
    table = wheels.select(wheels.load_table(), "cpu")
    assert manifest["wheels"] == [w.manifest_entry for w in table]
    assert manifest["platforms"] == wheels.flavour_platforms(wheels.load_table(), "cpu")
    with open(MANIFEST, encoding="utf-8") as fh:
        text = fh.read()
    assert wheels.render_manifest(text, wheels.load_table(), "cpu") == text


def test_required_platforms_covered(manifest: dict) -> None:
    assert {"linux-x64", "windows-x64", "macos-arm64"} <= set(manifest["platforms"])
    wheels, _ = _tools()
    table = wheels.load_table()
    for platform in manifest["platforms"]:
        rows = wheels.select(table, "cpu", platform)
        assert [w.package for w in rows] == ["onnxruntime"], platform
    for platform in ("linux-x64", "windows-x64"):
        rows = wheels.select(table, "gpu", platform)
        assert [w.package for w in rows] == ["onnxruntime-gpu"], platform


def test_numpy_is_never_bundled(manifest: dict) -> None:
    for entry in manifest["wheels"]:
        assert not os.path.basename(entry).lower().startswith("numpy-"), entry


def test_table_rejects_numpy(tmp_path) -> None:
    wheels, _ = _tools()
    bad = tmp_path / "wheels.toml"
    bad.write_text(
        '[[wheel]]\nflavour = "cpu"\nplatforms = ["linux-x64"]\npackage = "numpy"\n'
        'version = "1.26.4"\nfile = "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.whl"\n'
        f'sha256 = "{"0" * 64}"\n'
    )
    with pytest.raises(ValueError, match="never be bundled"):
        wheels.load_table(str(bad))


def test_sync_detects_drift() -> None:
    wheels, _ = _tools()
    with open(MANIFEST, encoding="utf-8") as fh:
        text = fh.read()
    first = wheels.select(wheels.load_table(), "cpu")[0].manifest_entry
    drifted = text.replace(f'  "{first}",\n', "", 1)
    assert drifted != text
    assert wheels.render_manifest(drifted, wheels.load_table(), "cpu") == text


def test_build_refuses_missing_wheels(tmp_path, monkeypatch) -> None:
    """Blender's tool would silently write a wheel-less zip; our build must fail instead."""
    wheels, build_extension = _tools()
    monkeypatch.setattr(wheels, "WHEELS_DIR", str(tmp_path / "no_wheels"))
    out = tmp_path / "dist"
    with pytest.raises(build_extension.BuildError, match="refusing to build"):
        build_extension.build("cpu", output_dir=str(out), stage_root=str(tmp_path / "stage"))
    assert not out.exists() or not list(out.iterdir())


def test_every_cpu_zip_builds_validates_and_fits(tmp_path) -> None:
    """All CPU zips build with Blender's tool, validate, hold only their wheel, stay < 25 MB."""
    wheels, build_extension = _tools()
    table = wheels.select(wheels.load_table(), "cpu")
    missing = wheels.problems(table)
    if missing:
        pytest.skip("pinned wheels not fetched (`make wheels`): " + "; ".join(missing))
    outputs = build_extension.build(
        "cpu", output_dir=str(tmp_path / "dist"), stage_root=str(tmp_path / "stage")
    )
    platforms = wheels.flavour_platforms(wheels.load_table(), "cpu")
    version = build_extension.manifest_version()
    assert [os.path.basename(p) for p in outputs] == [
        f"dance_ai-{version}-{p.replace('-', '_')}.zip" for p in platforms
    ]
    for path, platform in zip(outputs, platforms):
        assert os.path.getsize(path) < 25_000_000
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            generated = tomllib.loads(zf.read("blender_manifest.toml").decode())
        whl = [n for n in names if n.endswith(".whl")]
        expected = [f"wheels/{w.file}" for w in wheels.select(table, "cpu", platform)]
        assert whl == expected, platform
        assert generated["build"]["generated"]["platforms"] == [platform]
        assert "__init__.py" in names and "cli.py" in names
        assert not [n for n in names if n.split("/")[0] in {"tests", "bench", "tools", "docs"}]
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
