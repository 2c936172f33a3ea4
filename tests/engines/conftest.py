"""Fixtures: contract-following ONNX test engines built at test time with tools/make_test_engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import make_test_engine  # noqa: E402  (repo root is on pytest's path)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def mte():
    """The tools/make_test_engine module (build_model, make_test_engine, set_metadata, ...)."""
    return make_test_engine


@pytest.fixture(scope="session")
def engine_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="session")
def make_engine(mte, engine_dir):
    """Build (once per option set) a test engine file and return its path."""
    cache: dict = {}

    def _make(**kwargs) -> Path:
        key = tuple(sorted(kwargs.items()))
        if key not in cache:
            name = "e%d.onnx" % len(cache)
            cache[key] = mte.make_test_engine(engine_dir / name, **kwargs)
        return cache[key]

    return _make


@pytest.fixture(scope="session")
def test_engine_path(make_engine) -> Path:
    return make_engine()


@pytest.fixture
def cpu_engine(test_engine_path):
    from dance_ai_addon.core.engines import load_engine

    eng = load_engine(test_engine_path, backend="cpu", threads=1)
    yield eng
    eng.close()


@pytest.fixture(autouse=True)
def _no_user_engines(monkeypatch, tmp_path):
    """Point the user engines folder at an empty per-test dir (tests may set it again)."""
    monkeypatch.setenv("DANCE_AI_ENGINES", str(tmp_path / "user_engines"))
