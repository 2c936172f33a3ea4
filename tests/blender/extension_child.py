"""Child process of tests/blender/test_extension_install.py (not a test module itself).

Run as ``python -I extension_child.py ARGS.json RESULT.json`` with the dev venv's interpreter.
Before anything else it hides onnxruntime and its pip dependencies that live in the dev venv
(a meta-path finder that refuses to load them from the interpreter's own site-packages), so the
only onnxruntime this process can import is the one Blender unpacks from the extension's bundled
wheel. bpy and numpy (which Blender itself ships) stay visible. Then it installs the zip with
Blender's own operator, exercises the extension and writes what it observed as JSON; the
parent test makes the assertions.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
import traceback

#: Top-level modules a Blender install does not ship: onnxruntime, onnx and every pip
#: dependency onnxruntime declares (coloredlogs, humanfriendly, flatbuffers, packaging,
#: protobuf's ``google``, sympy, mpmath). If the bundled wheel needed any of them, importing or
#: running it here fails.
HIDDEN = {
    "onnxruntime",
    "onnx",
    "coloredlogs",
    "humanfriendly",
    "flatbuffers",
    "packaging",
    "google",
    "sympy",
    "mpmath",
}
_DEV_SITE = {os.path.realpath(p) for p in sys.path if p.endswith("site-packages")}


class HideDevVenvPackages(importlib.abc.MetaPathFinder):
    """Find :data:`HIDDEN` top-level packages only outside the dev venv's site-packages."""

    def find_spec(self, name, path=None, target=None):  # noqa: D401 (finder protocol)
        if path is not None or name not in HIDDEN:
            return None
        search = [p for p in sys.path if os.path.realpath(p) not in _DEV_SITE]
        spec = importlib.machinery.PathFinder.find_spec(name, search)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r} (dev venv copy hidden)", name=name)
        return spec


sys.meta_path.insert(0, HideDevVenvPackages())


def _rna_props(bpy) -> dict[str, list[str]]:
    """Property identifiers of the ID/struct types extensions usually extend."""
    out = {}
    for name in ("Scene", "Object", "WindowManager", "Armature", "Action", "PoseBone", "Bone"):
        rna = getattr(bpy.types, name).bl_rna
        out[name] = sorted(p.identifier for p in rna.properties)
    return out


def _handler_counts(bpy) -> dict[str, int]:
    counts = {}
    for name in dir(bpy.app.handlers):
        value = getattr(bpy.app.handlers, name)
        if isinstance(value, list):
            counts[name] = len(value)
    return counts


def _package_classes(bpy, package: str) -> dict[str, bool]:
    """Every Blender class (panel, operator, ...) defined in the extension -> is it registered."""
    bases = (
        bpy.types.Operator,
        bpy.types.Panel,
        bpy.types.Menu,
        bpy.types.UIList,
        bpy.types.PropertyGroup,
        bpy.types.AddonPreferences,
    )
    found = {}
    for mod_name, module in list(sys.modules.items()):
        if module is None or not (mod_name == package or mod_name.startswith(package + ".")):
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, bases)
                and value.__module__ == mod_name
                and value not in bases
            ):
                key = getattr(value, "bl_idname", "") or value.__name__
                found[key] = bool(value.is_registered)
    return found


def main(args_path: str, result_path: str) -> None:
    with open(args_path, encoding="utf-8") as fh:
        args = json.load(fh)
    res: dict = {"errors": []}

    def record(step: str, fn):
        try:
            return fn()
        except Exception:
            res["errors"].append(f"{step}: {traceback.format_exc()}")
            return None

    def hidden_before() -> bool:
        try:
            import onnxruntime  # noqa: F401
        except ModuleNotFoundError:
            return True
        return False

    res["onnxruntime_hidden_before_install"] = hidden_before()

    import bpy

    # Spy on the real CLI registration API (calls go through) to see what stays registered.
    live_cli: dict[int, str] = {}
    real_register, real_unregister = (
        bpy.utils.register_cli_command,
        bpy.utils.unregister_cli_command,
    )

    def register_cli_command(cli_id, fn):
        handle = real_register(cli_id, fn)
        live_cli[id(handle)] = cli_id
        return handle

    def unregister_cli_command(handle):
        real_unregister(handle)
        live_cli.pop(id(handle), None)

    bpy.utils.register_cli_command = register_cli_command
    bpy.utils.unregister_cli_command = unregister_cli_command

    module = args["module"]
    package = module
    props_before = _rna_props(bpy)
    handlers_before = _handler_counts(bpy)
    res["enabled_before_install"] = module in bpy.context.preferences.addons

    def install():
        return sorted(
            bpy.ops.extensions.package_install_files(
                filepath=args["zip"], repo="user_default", enable_on_install=True
            )
        )

    res["install_result"] = record("install", install)
    res["enabled_after_install"] = module in bpy.context.preferences.addons
    res["user_extensions_dir"] = bpy.utils.user_resource("EXTENSIONS")

    def run_model():
        import numpy as np
        import onnxruntime as ort

        res["onnxruntime_file"] = ort.__file__
        res["onnxruntime_version"] = ort.__version__
        session = ort.InferenceSession(args["model"], providers=["CPUExecutionProvider"])
        x = np.asarray(args["input"], dtype=np.float32)
        (y,) = session.run(None, {session.get_inputs()[0].name: x})
        res["model_output"] = y.tolist()

    record("onnxruntime", run_model)

    res["classes_after_enable"] = _package_classes(bpy, package)
    res["panel_category"] = getattr(
        getattr(bpy.types, "DANCEAI_PT_main", None), "bl_category", None
    )
    res["props_added_by_enable"] = {
        k: sorted(set(v) - set(props_before[k])) for k, v in _rna_props(bpy).items()
    }
    res["cli_after_enable"] = sorted(live_cli.values())

    def call_cli():
        cli_module = sys.modules[package + ".blender.cli_command"]
        return cli_module.handler(["--version"])

    res["cli_handler_version_rc"] = record("cli", call_cli)

    def call_generate():
        # `blender --command dance_ai generate ...` as a user runs it: the installed package,
        # its bundled engine and its bundled onnxruntime, no dev checkout involved.
        cli_module = sys.modules[package + ".blender.cli_command"]
        out_bvh = os.path.join(os.path.dirname(args["zip"]), "cli_generate.bvh")
        report = out_bvh + ".json"
        rc = cli_module.handler(
            [
                "generate",
                "--style",
                "salsa",
                "--seconds",
                "2",
                "--seed",
                "1",
                "--out",
                out_bvh,
                "--report",
                report,
            ]
        )
        with open(report, encoding="utf-8") as f:
            data = json.load(f)
        return {
            "rc": rc,
            "frames": data.get("frames"),
            "provider": data.get("provider"),
            "engine_file": data.get("engine_path", data.get("engine")),
        }

    res["cli_generate"] = record("cli generate", call_generate)

    cycles = []
    for i in range(2):
        state: dict = {}
        record(f"disable {i}", lambda: bpy.ops.preferences.addon_disable(module=module))
        state["enabled"] = module in bpy.context.preferences.addons
        state["registered_classes"] = sorted(
            k for k, v in _package_classes(bpy, package).items() if v
        )
        state["danceai_types"] = sorted(n for n in dir(bpy.types) if n.startswith("DANCEAI"))
        state["props_left"] = {
            k: sorted(set(v) - set(props_before[k])) for k, v in _rna_props(bpy).items()
        }
        state["handlers_changed"] = {
            k: v for k, v in _handler_counts(bpy).items() if handlers_before.get(k) != v
        }
        state["cli_left"] = sorted(live_cli.values())
        record(f"enable {i}", lambda: bpy.ops.preferences.addon_enable(module=module))
        state["enabled_again"] = module in bpy.context.preferences.addons
        state["classes_after_reenable"] = _package_classes(bpy, package)
        state["cli_after_reenable"] = sorted(live_cli.values())
        cycles.append(state)
    res["cycles"] = cycles

    def model_after_cycles():
        import numpy as np
        import onnxruntime as ort

        session = ort.InferenceSession(args["model"], providers=["CPUExecutionProvider"])
        x = np.asarray(args["input"], dtype=np.float32)
        return session.run(None, {session.get_inputs()[0].name: x})[0].tolist()

    res["model_output_after_cycles"] = record("onnxruntime after cycles", model_after_cycles)
    record("final disable", lambda: bpy.ops.preferences.addon_disable(module=module))
    res["enabled_at_end"] = module in bpy.context.preferences.addons
    res["cli_left_at_end"] = sorted(live_cli.values())

    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
