"""Render the README picture: a filmstrip of the demo dance baked on a sample rig.

Run after `make demo` (it reads out/demo.blend):

    .venv/bin/python tools/render_picture.py [--blend out/demo.blend] [--frames 6]

Renders a few frames with Cycles on the CPU (headless, no GPU needed), lit by a sun over a
floor, and lays them side by side with matplotlib into docs/images/demo_filmstrip.png. The
picture therefore shows exactly what the demo baked, never a mock-up.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _stage(scene, armature, root_bone: str) -> None:
    """Floor, sun, soft world light and a camera that frames the dancer's whole path."""
    import bpy
    from mathutils import Vector

    bpy.ops.mesh.primitive_plane_add(size=12.0, location=(0.0, 0.0, 0.0))
    floor = bpy.context.active_object
    floor.data.materials.append(_material("Floor", (0.30, 0.32, 0.36)))

    sun_data = bpy.data.lights.new("Sun", "SUN")
    sun_data.energy = 3.5
    sun = bpy.data.objects.new("Sun", sun_data)
    sun.rotation_euler = (math.radians(50), math.radians(10), math.radians(30))
    scene.collection.objects.link(sun)

    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.use_nodes = True
    background = world.node_tree.nodes.get("Background")
    if background is not None:
        background.inputs["Color"].default_value = (0.55, 0.62, 0.72, 1.0)
        background.inputs["Strength"].default_value = 0.8

    body = next((o for o in scene.objects if o.type == "MESH" and o.parent == armature), None)
    if body is not None:
        body.data.materials.clear()
        body.data.materials.append(_material("Body", (0.85, 0.45, 0.18)))

    cam_data = bpy.data.cameras.new("Camera")
    cam_data.lens = 50
    cam = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.location = Vector((2.4, -3.3, 1.7))
    track = cam.constraints.new("TRACK_TO")  # keep the travelling dancer in frame
    track.target = armature
    track.subtarget = root_bone
    track.track_axis = "TRACK_NEGATIVE_Z"
    track.up_axis = "UP_Y"


def _material(name: str, rgb: tuple[float, float, float]):
    """A plain Principled material (Cycles ignores the viewport-only diffuse colour)."""
    import bpy

    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.6
    mat.diffuse_color = (*rgb, 1.0)
    return mat


def _location_curves(action, obj):
    """The root-motion bone's location curves, found through the version-compat layer."""
    sys.path.insert(0, str(ROOT))
    from dance_ai_addon.blender import compat

    return [fc for fc in compat.fcurves_of(action, obj) if fc.data_path.endswith(".location")]


def render_frames(blend: Path, n_frames: int, out_dir: Path) -> list[Path]:
    import bpy

    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    armature = next(o for o in scene.objects if o.type == "ARMATURE")
    animated = armature.animation_data.action
    root_bone = next(
        (fc.data_path.split('"')[1] for fc in _location_curves(animated, armature)), ""
    )
    _stage(scene, armature, root_bone)
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 16
    scene.render.resolution_x = 360
    scene.render.resolution_y = 440
    scene.render.film_transparent = False
    start, end = scene.frame_start, scene.frame_end
    step = max(1, (end - start) // n_frames)
    paths = []
    for i in range(n_frames):
        frame = start + i * step + step // 2
        scene.frame_set(frame)
        path = out_dir / f"frame_{frame:04d}.png"
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        paths.append(path)
    return paths


def filmstrip(paths: list[Path], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(paths), figsize=(2.4 * len(paths), 3.2), dpi=110)
    for ax, path in zip(axes, paths):
        ax.imshow(mpimg.imread(str(path)))
        ax.set_axis_off()
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blend", type=Path, default=ROOT / "out" / "demo.blend")
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "demo_filmstrip.png")
    ap.add_argument(
        "--title",
        default="make demo: 20 s of salsa from the default engine, "
        "retargeted onto the Mixamo-named sample rig",
    )
    args = ap.parse_args(argv)
    if not args.blend.exists():
        print(f"{args.blend} does not exist: run `make demo` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        paths = render_frames(args.blend, args.frames, Path(tmp))
        filmstrip(paths, args.out, args.title)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
