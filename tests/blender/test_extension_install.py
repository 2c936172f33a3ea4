"""The built extension zip installs into a real Blender (bpy 5.0.1) and behaves like a product.

One child process (see ``extension_child.py``) installs the host platform's zip with
``bpy.ops.extensions.package_install_files`` into a throwaway user repository, with the dev
venv's onnxruntime and its dependencies hidden, so the onnxruntime it imports can only come from
the wheel bundled in the zip. The parent builds the zip and an ONNX model, and asserts on what
the child observed. A second, in-process test drives ``register()``/``unregister()`` directly.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.bpy, pytest.mark.slow]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = "bl_ext.user_default.dance_ai"
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "extension_child.py")
SITE_SUFFIX = os.path.join(".local", "lib", "python3.11", "site-packages")


def _sandbox_env(root: str) -> dict[str, str]:
    """Every Blender user path and the XDG cache of the child inside ``root``."""
    env = {"XDG_CACHE_HOME": os.path.join(root, "cache")}
    for name in ("RESOURCES", "CONFIG", "SCRIPTS", "EXTENSIONS", "DATAFILES"):
        env[f"BLENDER_USER_{name}"] = os.path.join(root, name.lower())
    for path in env.values():
        os.makedirs(path, exist_ok=True)
    return env


def _build_tools():
    tools = os.path.join(REPO_ROOT, "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    return importlib.import_module("build_extension"), importlib.import_module("wheels")


def _onnx_model(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write ``y = relu(x @ W + b)`` (opset 17) to ``path``; return W, b and a test input."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    w = rng.normal(size=(6, 3)).astype(np.float32)
    b = rng.uniform(0.5, 1.5, size=(3,)).astype(np.float32)
    x = rng.normal(size=(4, 6)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["z"]),
            helper.make_node("Relu", ["z"], ["y"]),
        ],
        "dance_ai_install_check",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every bundled onnxruntime (1.18 .. 1.22)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return w, b, x


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Build the host zip, run the child, return its observations (plus what was expected)."""
    build_extension, wheels = _build_tools()
    tmp = tmp_path_factory.mktemp("extension_install")
    host = wheels.host_platform()
    try:
        (zip_path,) = build_extension.build(
            "cpu", [host], output_dir=str(tmp / "dist"), stage_root=str(tmp / "stage")
        )
    except build_extension.BuildError as exc:
        pytest.fail(f"cannot build the {host} zip: {exc}")
    w, b, x = _onnx_model(str(tmp / "model.onnx"))
    args = {
        "zip": zip_path,
        "model": str(tmp / "model.onnx"),
        "input": x.tolist(),
        "module": MODULE,
    }
    (tmp / "args.json").write_text(json.dumps(args))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BLENDER_USER"))}
    env.update(_sandbox_env(str(tmp / "user")))
    proc = subprocess.run(
        [sys.executable, "-I", CHILD, str(tmp / "args.json"), str(tmp / "result.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"child failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    res = json.loads((tmp / "result.json").read_text())
    res["expected_output"] = np.maximum(x @ w + b, 0.0).tolist()
    res["child_log"] = proc.stdout[-4000:] + proc.stderr[-4000:]
    res["zip"] = zip_path
    return res


def test_child_ran_without_errors(installed: dict) -> None:
    assert installed["errors"] == [], "\n".join(installed["errors"]) + installed["child_log"]


def test_dev_onnxruntime_is_hidden_before_install(installed: dict) -> None:
    # Without this the next test would prove nothing.
    assert installed["onnxruntime_hidden_before_install"] is True
    assert installed["enabled_before_install"] is False


def test_install_enables_the_extension(installed: dict) -> None:
    assert installed["install_result"] == ["FINISHED"]
    assert installed["enabled_after_install"] is True


def test_bundled_onnxruntime_imports_from_extension_site_packages(installed: dict) -> None:
    site = os.path.join(installed["user_extensions_dir"], SITE_SUFFIX)
    ort_file = installed.get("onnxruntime_file")
    assert ort_file, installed["errors"]
    assert os.path.realpath(ort_file).startswith(os.path.realpath(site) + os.sep), ort_file
    _, wheels = _build_tools()
    pinned = {w.version for w in wheels.select(wheels.load_table(), "cpu", wheels.host_platform())}
    assert installed["onnxruntime_version"] in pinned


def test_bundled_onnxruntime_runs_a_model(installed: dict) -> None:
    np.testing.assert_allclose(installed["model_output"], installed["expected_output"], rtol=1e-5)


def test_panel_and_operators_registered(installed: dict) -> None:
    classes = installed["classes_after_enable"]
    assert classes.get("DANCEAI_PT_main") is True
    assert installed["panel_category"] == "Dance AI"
    not_registered = sorted(k for k, v in classes.items() if not v)
    assert not_registered == [], f"defined but not registered: {not_registered}"
    operators = [k for k in classes if k.startswith("dance_ai.")]
    assert all(classes[k] for k in operators)
    assert installed["cli_after_enable"] == ["dance_ai"]
    assert installed["cli_handler_version_rc"] == 0


def test_cli_command_generates_with_the_bundled_engine(installed: dict) -> None:
    """`blender --command dance_ai generate`: installed package, bundled engine and runtime."""
    gen = installed["cli_generate"]
    assert gen is not None, "the CLI generate step raised (see test_child_ran_without_errors)"
    assert gen["rc"] == 0
    assert gen["frames"] == 60  # 2 s at the engine's 30 fps
    assert gen["provider"] == "CPUExecutionProvider"
    ext_dir = os.path.realpath(installed["user_extensions_dir"])
    assert os.path.realpath(gen["engine_file"]).startswith(ext_dir), gen["engine_file"]


@pytest.mark.parametrize("cycle", [0, 1])
def test_disable_leaves_nothing_and_reenable_restores(installed: dict, cycle: int) -> None:
    state = installed["cycles"][cycle]
    assert state["enabled"] is False
    assert state["registered_classes"] == []
    assert state["danceai_types"] == []
    assert all(not added for added in state["props_left"].values()), state["props_left"]
    assert state["handlers_changed"] == {}
    assert state["cli_left"] == []
    assert state["enabled_again"] is True
    assert state["classes_after_reenable"] == installed["classes_after_enable"]
    assert state["cli_after_reenable"] == ["dance_ai"]


def test_native_runtime_survives_cycles(installed: dict) -> None:
    np.testing.assert_allclose(
        installed["model_output_after_cycles"], installed["expected_output"], rtol=1e-5
    )
    assert installed["enabled_at_end"] is False
    assert installed["cli_left_at_end"] == []


def test_register_unregister_twice_in_process() -> None:
    """The dev package itself (``dance_ai_addon``) registers and unregisters cleanly, twice."""
    bpy = pytest.importorskip("bpy")
    import dance_ai_addon
    from dance_ai_addon.blender import cli_command

    heavy = {"onnxruntime", "tensorrt", "pycuda", "torch"}
    loaded_before = heavy & set(sys.modules)
    for _ in range(2):
        dance_ai_addon.register()
        try:
            assert hasattr(bpy.types, "DANCEAI_PT_main")
            assert bpy.types.DANCEAI_PT_main.bl_category == "Dance AI"
            assert cli_command._handle is not None
            assert cli_command.handler(["--help"]) == 0
        finally:
            dance_ai_addon.unregister()
        assert not [n for n in dir(bpy.types) if n.startswith("DANCEAI")]
        assert cli_command._handle is None
    assert heavy & set(sys.modules) == loaded_before, "register() imported a heavy runtime"
