"""``retarget``: bake a BVH onto an armature in a .blend file, headless.

    python -m dance_ai_addon retarget --blend IN.blend --armature NAME --motion FILE.bvh \\
        [--preset auto|mixamo|...] [--smooth S] [--in-place] [--no-foot-cleanup] [--nla] \\
        [--action-name NAME] --out OUT.blend [--report R.json]

bpy is imported only when the command runs (the top level stays argparse-only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

PRESETS = ("auto", "mixamo", "rigify", "vrm", "ue", "smpl", "cmu", "cc", "mpfb")


def _strength(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..1")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``retarget`` subcommand."""
    p = subparsers.add_parser(
        "retarget",
        help="retarget a BVH onto an armature in a .blend and bake a new action",
        description="Open IN.blend, retarget FILE.bvh onto the armature NAME, bake a new action "
        "and save OUT.blend (IN is never modified unless OUT is the same path).",
    )
    p.add_argument("--blend", required=True, metavar="IN.blend", help="file with the armature")
    p.add_argument("--armature", required=True, metavar="NAME", help="armature object name")
    p.add_argument("--motion", required=True, metavar="FILE.bvh", help="motion to retarget")
    p.add_argument("--preset", choices=PRESETS, default="auto", help="bone-map preset")
    p.add_argument("--smooth", type=_strength, default=0.0, metavar="S", help="jerk smoothing 0..1")
    p.add_argument("--in-place", action="store_true", help="remove horizontal travel")
    p.add_argument("--no-foot-cleanup", action="store_true", help="skip foot contact cleanup")
    p.add_argument("--nla", action="store_true", help="push the action to a new NLA track")
    p.add_argument("--action-name", metavar="NAME", help="name of the new action")
    p.add_argument("--out", required=True, metavar="OUT.blend", help="where to save the result")
    p.add_argument("--report", metavar="R.json", help="write a JSON report here")


def run(args: argparse.Namespace) -> int:
    """Run the retarget; DanceAIError propagates to cli.main (message on stderr, exit 2)."""
    from .core.errors import DanceAIError, MotionFileError, RigError

    blend = os.path.abspath(args.blend)
    if not os.path.isfile(blend):
        raise DanceAIError(f"'{args.blend}' does not exist; give an existing .blend file.")
    motion = os.path.abspath(args.motion)
    if not os.path.isfile(motion):
        raise MotionFileError("The motion file does not exist; check the path.", path=motion)

    try:
        import bpy
    except ImportError:
        raise DanceAIError(
            "retarget needs Blender: run it with Blender's Python (blender --background "
            "--command dance_ai retarget ...) or install the bpy module."
        ) from None

    from .blender import props
    from .blender.jobs import run_retarget_job
    from .core.retarget import RetargetOptions

    registered_here = not hasattr(bpy.types.Object, "dance_ai_mapping")
    if registered_here:
        props.register()  # so the bone map is stored on the armature in OUT.blend
    try:
        bpy.ops.wm.open_mainfile(filepath=blend, load_ui=False)
        obj = bpy.data.objects.get(args.armature)
        if obj is None or obj.type != "ARMATURE":
            arms = sorted(o.name for o in bpy.data.objects if o.type == "ARMATURE")
            listing = ", ".join(f"'{a}'" for a in arms) or "none"
            what = "is not an armature" if obj is not None else "does not exist"
            raise RigError(
                f"Object '{args.armature}' {what} in {os.path.basename(blend)}; "
                f"armatures in the file: {listing}."
            )
        options = RetargetOptions(
            in_place=bool(args.in_place),
            foot_cleanup=not args.no_foot_cleanup,
            smooth_strength=float(args.smooth),
        )
        report = run_retarget_job(
            bpy.context.scene,
            obj,
            motion,
            options,
            mapping=None,
            action_name=args.action_name,
            nla=bool(args.nla),
            preset=args.preset,
        )
        out = os.path.abspath(args.out)
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=out, compress=True)
        report["out"] = out
        report["blend"] = blend
        report["motion"] = motion
        if args.report:
            with open(args.report, "w", encoding="utf-8") as fh:
                json.dump(report, fh, indent=1)
    finally:
        if registered_here:
            props.unregister()
    print(
        f"baked {report['frames']} frames at {report['fps']:g} fps onto '{report['armature']}' "
        f"as '{report['action']}' -> {report['out']}",
        file=sys.stderr,
    )
    return 0
