"""``python -m dance_ai_addon batch JOBS.json``: run many dance jobs from a JSON job file.

The job file (schema in ``docs/batch-jobs.md``) is parsed and type-checked by
:mod:`.jobs_spec`; nothing in it is ever executed. Each job runs through
:func:`.blender.jobs.run_dance_job` (generate -> retarget -> bake (+ face)), on a freshly opened
copy of its ``blend`` (saved as ``out_blend``), or generate-only when it names no ``blend``.
Engines are loaded once and reused across jobs. The exit code is 0 when every job succeeded and
1 when any failed; ``--keep-going`` runs the remaining jobs after a failure.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "batch",
        help="run the dance jobs of a JSON job file",
        description="Run every job of a JSON job file (see docs/batch-jobs.md): generate a "
        "dance, retarget and bake it onto a rig in a .blend (saved as a new file), or generate "
        "only. Relative paths resolve against the job file's folder. Exit code 1 if any job "
        "failed.",
    )
    p.add_argument("jobs", help="the JSON job file")
    p.add_argument("--report", default=None, help="write a JSON report (one entry per job)")
    p.add_argument(
        "--keep-going", action="store_true", help="run the remaining jobs after a failure"
    )
    return p


def run_job(spec: Any) -> dict[str, Any]:
    """Run one job spec (opening its blend when it has one); returns its report."""
    from .blender.jobs import run_dance_job
    from .cli_bake import find_armature, find_mesh, import_bpy, open_blend, save_blend

    bpy = import_bpy()
    t0 = time.perf_counter()
    if spec.blend:
        scene = open_blend(spec.blend)
        armature = find_armature(scene, spec.armature)
        mesh = find_mesh(scene, spec.mesh)
        t_open = time.perf_counter() - t0
        report = run_dance_job(scene, spec, armature_obj=armature, mesh_obj=mesh)
        t = time.perf_counter()
        report["out_blend"] = save_blend(spec.out_blend)
        report["timings"]["open_blend_s"] = round(t_open, 6)
        report["timings"]["save_s"] = round(time.perf_counter() - t, 6)
    else:
        report = run_dance_job(bpy.context.scene, spec)
    report["timings"]["job_total_s"] = round(time.perf_counter() - t0, 6)
    return report


def run(args: argparse.Namespace) -> int:
    from .blender import engine_cache
    from .cli_bake import write_report
    from .core.errors import DanceAIError
    from .jobs_spec import parse_job_file

    t0 = time.perf_counter()
    job_file = parse_job_file(args.jobs)  # a bad file is a usage error: exit 2, nothing runs
    entries: list[dict[str, Any]] = []
    failed = False
    try:
        for i, spec in enumerate(job_file.jobs):
            label = f"[{i + 1}/{len(job_file.jobs)}] {spec.name}"
            if failed and not args.keep_going:
                entries.append({"name": spec.name, "status": "skipped"})
                print(f"{label}: skipped (an earlier job failed; use --keep-going)")
                continue
            try:
                report = run_job(spec)
            except DanceAIError as exc:
                failed = True
                entries.append({"name": spec.name, "status": "failed", "error": str(exc)})
                print(f"{label}: FAILED: {exc}", file=sys.stderr)
                continue
            entries.append({"name": spec.name, "status": "ok", **report})
            outputs = [report.get("out_blend"), *report.get("outputs", {}).values()]
            where = ", ".join(o for o in outputs if o) or "nothing written"
            print(
                f"{label}: ok, {report['frames']} frames in "
                f"{report['timings']['job_total_s']:.2f} s -> {where}"
            )
            for warning in report.get("warnings", []):
                print(f"{label}: warning: {warning}", file=sys.stderr)
    finally:
        engine_cache.release_all()
    summary = {
        "job_file": str(job_file.path),
        "jobs": entries,
        "ok": sum(e["status"] == "ok" for e in entries),
        "failed": sum(e["status"] == "failed" for e in entries),
        "skipped": sum(e["status"] == "skipped" for e in entries),
        "seconds": round(time.perf_counter() - t0, 6),
    }
    write_report(args.report, summary)
    print(
        f"batch: {summary['ok']} ok, {summary['failed']} failed, {summary['skipped']} skipped "
        f"in {summary['seconds']:.2f} s"
    )
    return 1 if failed else 0
