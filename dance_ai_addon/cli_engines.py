"""``python -m dance_ai_addon engines [--json]``: engines found and backends usable here."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "engines",
        help="list engines (bundled and user folder) and which backends work here",
        description="List the engines found (bundled ones and the user engines folder: "
        "$DANCE_AI_ENGINES or <user config>/dance_ai/engines) with their metadata, and which "
        "backends are usable on this machine and why not.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    return p


def collect() -> dict:
    """Everything ``engines`` reports, as a JSON-able dict (also used by the UI)."""
    from .core.engines.detect import backend_availability
    from .core.engines.registry import (
        bundled_engines_dir,
        list_engines,
        read_engine_metadata,
        user_engines_dir,
    )
    from .core.errors import DanceAIError

    engines = []
    for entry in list_engines():
        item = {
            "name": entry.name,
            "path": str(entry.path),
            "source": entry.source,
            "kind": entry.kind,
        }
        try:
            item["metadata"] = read_engine_metadata(entry.path).summary()
            item["valid"] = True
        except DanceAIError as exc:
            item["valid"] = False
            item["error"] = str(exc)
        engines.append(item)
    backends = {
        name: {"usable": usable, "reason": reason}
        for name, (usable, reason) in backend_availability().items()
    }
    return {
        "bundled_dir": str(bundled_engines_dir()),
        "user_dir": str(user_engines_dir()),
        "engines": engines,
        "backends": backends,
    }


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"Bundled engines: {info['bundled_dir']}\n")
    out.write(f"User engines:    {info['user_dir']}\n\n")
    if not info["engines"]:
        out.write("No engines found.\n")
    for e in info["engines"]:
        out.write(f"{e['name']}  [{e['source']}, {e['kind']}]  {e['path']}\n")
        if e["valid"]:
            m = e["metadata"]
            out.write(
                f"    {m['name']} {m['version']}: {m['fps']:g} fps, history {m['history']}, "
                f"window {m['window']}, skeleton {m['skeleton']}, "
                f"beat input {'yes' if m['beat_input'] else 'no'}, "
                f"blendshapes {m['blendshapes']}\n"
            )
            out.write(
                f"    styles: {', '.join(m['presets']) or '(no presets)'}; "
                f"axes: {', '.join(m['style_axes'])}\n"
            )
            if m["license"]:
                out.write(f"    license: {m['license']}\n")
        else:
            out.write(f"    INVALID: {e['error']}\n")
    out.write("\nBackends:\n")
    for name, b in info["backends"].items():
        out.write(f"  {name:16s} {'usable' if b['usable'] else 'not usable'}: {b['reason']}\n")
    return 0
