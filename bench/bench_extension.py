#!/usr/bin/env python3
"""Benchmark the extension shell: register() time and zip size per platform.

* register() time: each sample is a fresh subprocess that imports bpy first (as Blender has),
  then times ``import dance_ai_addon`` + ``register()`` (cold, what enabling costs) and then
  ``unregister()``/``register()`` cycles (warm). Baseline in the same process: registering one
  empty Panel class, so the ratio says how much heavier than "nothing" our register is.
  Target: cold register < 50 ms.
* zip size: every CPU zip built with the real build (Blender's tool) into a temp dir.
  Target: < 25 MB per platform.

Writes bench/results/extension.json. Run: ``make bench`` or ``.venv/bin/python <this file>``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import build_extension  # noqa: E402

import wheels  # noqa: E402

RESULT = os.path.join(ROOT, "bench", "results", "extension.json")
COLD_SAMPLES = 7
WARM_CYCLES = 30
REGISTER_LIMIT_MS = 50.0
ZIP_LIMIT_BYTES = 25_000_000  # 25 MB

_CHILD = r"""
import json, statistics, sys, time
import bpy

class BENCH_PT_baseline(bpy.types.Panel):
    bl_label = "baseline"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    def draw(self, context):
        pass

t0 = time.perf_counter()
bpy.utils.register_class(BENCH_PT_baseline)
baseline_ms = (time.perf_counter() - t0) * 1e3
bpy.utils.unregister_class(BENCH_PT_baseline)

t0 = time.perf_counter()
import dance_ai_addon
t1 = time.perf_counter()
dance_ai_addon.register()
t2 = time.perf_counter()
heavy = sorted({"onnxruntime", "tensorrt", "pycuda", "torch"} & set(sys.modules))
dance_ai_addon.unregister()

warm, unreg = [], []
for _ in range(int(sys.argv[1])):
    a = time.perf_counter()
    dance_ai_addon.register()
    b = time.perf_counter()
    dance_ai_addon.unregister()
    c = time.perf_counter()
    warm.append((b - a) * 1e3)
    unreg.append((c - b) * 1e3)
print(json.dumps({
    "import_ms": (t1 - t0) * 1e3,
    "cold_register_ms": (t2 - t1) * 1e3,
    "enable_ms": (t2 - t0) * 1e3,
    "warm_register_ms": statistics.median(warm),
    "unregister_ms": statistics.median(unreg),
    "baseline_one_panel_ms": baseline_ms,
    "heavy_modules_after_register": heavy,
}))
"""


def bench_register() -> dict:
    samples = []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory(prefix="dance_ai_bench_") as tmp:
        for var in ("RESOURCES", "CONFIG", "SCRIPTS", "EXTENSIONS"):
            env[f"BLENDER_USER_{var}"] = os.path.join(tmp, var.lower())
        env["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
        for _ in range(COLD_SAMPLES):
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(WARM_CYCLES)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            samples.append(json.loads(out.stdout.strip().splitlines()[-1]))

    def med(key: str) -> float:
        return round(statistics.median(s[key] for s in samples), 3)

    cold = med("cold_register_ms")
    enable = med("enable_ms")
    baseline = med("baseline_one_panel_ms")
    return {
        "samples": COLD_SAMPLES,
        "warm_cycles_per_sample": WARM_CYCLES,
        "import_ms_median": med("import_ms"),
        "cold_register_ms_median": cold,
        "enable_ms_median": enable,
        "warm_register_ms_median": med("warm_register_ms"),
        "unregister_ms_median": med("unregister_ms"),
        "baseline_one_panel_ms_median": baseline,
        "enable_vs_baseline_ratio": round(enable / baseline, 2) if baseline > 0 else None,
        "limit_ms": REGISTER_LIMIT_MS,
        "enable_within_limit": enable < REGISTER_LIMIT_MS,
        "heavy_modules_after_register": sorted(
            {m for s in samples for m in s["heavy_modules_after_register"]}
        ),
    }


def bench_zip_sizes() -> dict:
    table = wheels.load_table()
    cpu = wheels.select(table, "cpu")
    missing = wheels.problems(cpu)
    if missing:
        wheels.fetch(cpu)
    with tempfile.TemporaryDirectory(prefix="dance_ai_bench_zip_") as tmp:
        t0 = time.perf_counter()
        outputs = build_extension.build(
            "cpu", output_dir=os.path.join(tmp, "dist"), stage_root=os.path.join(tmp, "stage")
        )
        build_s = time.perf_counter() - t0
        platforms = wheels.flavour_platforms(table, "cpu")
        sizes = {}
        for path, plat in zip(outputs, platforms, strict=True):
            size = os.path.getsize(path)
            sizes[plat] = {
                "file": os.path.basename(path),
                "bytes": size,
                "mb": round(size / 1e6, 2),
                "within_limit": size < ZIP_LIMIT_BYTES,
            }
    return {
        "build_and_validate_all_s": round(build_s, 2),
        "limit_bytes": ZIP_LIMIT_BYTES,
        "zips": sizes,
    }


def main() -> int:
    result = {
        "bench": "extension",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "version": build_extension.manifest_version(),
        "register": bench_register(),
        "zip_size": bench_zip_sizes(),
    }
    os.makedirs(os.path.dirname(RESULT), exist_ok=True)
    with open(RESULT, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
