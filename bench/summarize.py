"""Collect bench/results/*.json into docs/benchmarks.md: one table of every target we promise.

The bench scripts write their raw numbers (every run, machine load, in-process baselines); this
script only reads them, so the markdown can never disagree with the JSON it was made from.
Run it after `make bench` (the Makefile does).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
OUT = ROOT / "docs" / "benchmarks.md"

Row = tuple[str, str, str, str]  # what, measured, target, met


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _met(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def _core(d: dict[str, Any]) -> list[Row]:
    labels = {
        "fk": "FK, 10,000 frames × 60 joints",
        "quat_to_sixd": "quaternion → 6D, 10,000 × 60",
        "sixd_to_quat": "6D → quaternion, 10,000 × 60",
        "smooth_clip": "jerk smoothing, all rotation + root channels",
        "bvh_read_3mb": "BVH read, 2.9 MB CMU salsa take",
    }
    rows = []
    for r in d["results"]:
        if r["name"] in labels:
            target = r.get("target_ms")
            rows.append(
                (
                    labels[r["name"]],
                    f"{r['median_ms']:.1f} ms",
                    f"≤ {target:g} ms" if target else "",
                    _met(r.get("meets_target")),
                )
            )
    return rows


def _retarget(d: dict[str, Any]) -> list[Row]:
    s = d["transfer_smooth_median_s"]
    feet = d.get("salsa_feet_cleanup", {})
    rows = [
        (
            "retarget transfer + smoothing, 10,000 frames × 60 bones",
            f"{s * 1000:.0f} ms",
            "≤ 250 ms",
            _met(s <= 0.25),
        ),
        (
            "  … same with foot cleanup",
            f"{d['transfer_smooth_feet_median_s'] * 1000:.0f} ms",
            "",
            "—",
        ),
        (
            "  … ratio to one plain 60-bone FK pass (same run)",
            f"{d['transfer_smooth_vs_baseline_fk']:.2f}×",
            "",
            "—",
        ),
    ]
    errs = d.get("salsa_limb_error_deg_no_cleanup") or {}
    if errs:
        worst = max(errs.values())
        rows.append(
            (
                "limb direction error, salsa → target (worst segment)",
                f"{worst:.2g}°",
                "≤ 3°",
                _met(worst <= 3.0),
            )
        )
    if feet:
        h = feet.get("min_height_cm")
        v = feet.get("max_speed_cm_s")
        if h is not None:
            rows.append(
                (
                    "foot height in contact (salsa, cleanup on)",
                    f"{h:.1f} cm",
                    "≥ −1 cm",
                    _met(h >= -1.0),
                )
            )
        if v is not None:
            rows.append(
                ("horizontal foot speed in contact", f"{v:.2f} cm/s", "≤ 2 cm/s", _met(v <= 2.0))
            )
    return rows


def _bake(d: dict[str, Any]) -> list[Row]:
    bulk = d["bulk"]
    rows = [
        (
            f"bulk action write, {d['bones']} bones × {d['frames']} frames",
            f"{bulk['keys_per_s'] / 1e6:.2f} M keys/s",
            "≥ 3 M keys/s",
            _met(bulk["keys_per_s"] >= 3e6),
        ),
    ]
    if "speedup_same_keys" in d:
        rows.append(
            (
                "  … vs a keyframe_insert loop, same keys, same run",
                f"{d['speedup_same_keys']:.0f}×",
                "≥ 200×",
                _met(d["speedup_same_keys"] >= 200),
            )
        )
    return rows


def _engine(d: dict[str, Any]) -> list[Row]:
    return [
        (
            f"generate 60 s at 30 fps, ORT CPU, {d['engine']}",
            f"{d['generate_60s_s']:.2f} s ({d['realtime_factor']:.0f}× real time)",
            "≥ 100×",
            _met(d["realtime_factor"] >= 100),
        ),
        *(
            [
                (
                    "  … vs the same clips without beat lock (same runs)",
                    f"{d['beat_lock_cost_ratio']:.2f}×",
                    "",
                    "—",
                )
            ]
            if "beat_lock_cost_ratio" in d
            else []
        ),
        ("first engine load", f"{d['first_load_s']:.2f} s", "≤ 1 s", _met(d["first_load_s"] <= 1)),
        (
            "extra resident memory",
            f"{d['extra_rss_mb']:.0f} MB",
            "≤ 300 MB",
            _met(d["extra_rss_mb"] <= 300),
        ),
    ]


def _extension(d: dict[str, Any]) -> list[Row]:
    reg = d["register"]
    rows = [
        (
            "register() on enable (cold)",
            f"{reg['enable_ms_median']:.1f} ms",
            "≤ 50 ms",
            _met(reg["enable_ms_median"] <= reg.get("limit_ms", 50)),
        )
    ]
    for plat, z in d["zip_size"]["zips"].items():
        rows.append((f"CPU zip, {plat}", f"{z['mb']:.1f} MB", "≤ 25 MB", _met(z["within_limit"])))
    return rows


SECTIONS: list[tuple[str, str, Callable[[dict[str, Any]], list[Row]]]] = [
    ("Motion core (`bench/bench_core.py`)", "core", _core),
    ("Retargeting (`bench/bench_retarget.py`)", "retarget", _retarget),
    ("Baking into Blender (`bench/bench_bake.py`)", "bake", _bake),
    ("Engine runtime (`bench/bench_engine.py`)", "engine", _engine),
    ("Extension (`bench/bench_extension.py`)", "extension", _extension),
]


def render() -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/summarize.py` from `bench/results/*.json` (run `make bench`).",
        "Medians of several runs on the 2-core development VM, which other work shares: each",
        "JSON file records every run, the machine load and an in-process baseline, so ratios",
        "are more trustworthy than absolute times. Tests never assert timings.",
        "",
    ]
    for title, name, fn in SECTIONS:
        data = _load(name)
        lines += [f"## {title}", ""]
        if data is None:
            lines += [f"_not measured yet: `bench/results/{name}.json` is missing_", ""]
            continue
        lines += ["| measure | result | target | met |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {m} |" for a, b, c, m in fn(data)]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    OUT.write_text(render())
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
