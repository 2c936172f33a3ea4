"""The "Engine" and "Generate" sub-panels, their settings and operators.

Settings live in their own PropertyGroup at ``Scene.dance_ai_generate`` (the retarget settings
are ``Scene.dance_ai``). Blender properties must exist at registration, but style axes come from
whichever engine is loaded, so the sliders are a CollectionProperty of (name, value, min, max,
kind) items rebuilt when an engine loads. Nothing here imports onnxruntime: engines load lazily
through :mod:`.engine_cache` when the user clicks Load or Generate.

``dance_ai.generate_dance`` validates everything first (armature, bone map, face mesh, engine,
style), then calls :func:`.jobs.run_dance_job`, the same function the ``bake``/``batch``
subcommands and ``make demo`` use.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..core.errors import DanceAIError
from . import engine_cache
from .panel import SidebarSubPanel

__all__ = [
    "DANCEAI_PG_style_axis",
    "DANCEAI_PG_generate",
    "DANCEAI_OT_load_engine",
    "DANCEAI_OT_apply_style_preset",
    "DANCEAI_OT_generate_dance",
    "DANCEAI_PT_engine",
    "DANCEAI_PT_generate",
    "settings_of",
    "engine_path_of",
    "rebuild_style_axes",
    "spec_from_settings",
    "register",
    "unregister",
]

FILE_ITEM = "__FILE__"
BACKEND_ITEMS = [
    ("AUTO", "Auto", "Best available: TensorRT, then CUDA, then CPU"),
    ("TENSORRT", "TensorRT", "NVIDIA TensorRT (ONNX Runtime TensorRT EP, or native .engine files)"),
    ("CUDA", "CUDA", "ONNX Runtime CUDA execution provider"),
    ("CPU", "CPU", "ONNX Runtime on the CPU (always available)"),
]

# Enum item strings must stay referenced from Python while Blender shows them.
_engine_items_cache: dict[str, object] = {"time": 0.0, "items": []}
# Backend availability is probed once, when an engine is first loaded (probing imports runtimes).
_availability: dict[str, tuple[bool, str]] = {}


# --------------------------------------------------------------------------- properties


def _axis_get(self) -> float:
    return float(self.get("value_raw", 0.0))


def _axis_set(self, value: float) -> None:
    lo, hi = float(self.min), float(self.max)
    self["value_raw"] = min(max(float(value), lo), hi) if lo <= hi else float(value)


class DANCEAI_PG_style_axis(bpy.types.PropertyGroup):
    """One style axis of the loaded engine, shown as a slider (``name`` is the axis name)."""

    kind: StringProperty(name="Kind", description="category or descriptor")
    min: FloatProperty(name="Min", default=0.0)
    max: FloatProperty(name="Max", default=1.0)
    value: FloatProperty(
        name="Value",
        description="This style axis of the engine (clamped to the engine's range)",
        get=_axis_get,
        set=_axis_set,
        soft_min=0.0,
        soft_max=1.0,
    )


def _engine_items(self, context) -> list[tuple[str, str, str]]:
    now = time.monotonic()
    if now - float(_engine_items_cache["time"]) > 2.0 or not _engine_items_cache["items"]:
        from ..core.engines.registry import list_engines

        seen: dict[str, tuple[str, str, str]] = {}
        for entry in list_engines():  # user files listed after bundled ones win by name
            label = entry.name + ("" if entry.source == "bundled" else " (user)")
            seen[entry.name] = (entry.name, label, f"{entry.source} engine: {entry.path}")
        items = sorted(seen.values(), key=lambda it: (it[0] != "default", it[0]))
        items.append((FILE_ITEM, "Engine file...", "Use the engine file chosen below"))
        _engine_items_cache["items"] = items
        _engine_items_cache["time"] = now
    return _engine_items_cache["items"]  # type: ignore[return-value]


def _engine_get(self) -> int:
    ident = self.engine_id
    for i, item in enumerate(_engine_items(self, None)):
        if item[0] == ident:
            return i
    return len(_engine_items(self, None)) - 1 if ident == FILE_ITEM else 0


def _engine_set(self, index: int) -> None:
    items = _engine_items(self, None)
    if 0 <= index < len(items):
        self.engine_id = items[index][0]


def _mesh_with_shape_keys(self, obj: bpy.types.Object) -> bool:
    return obj.type == "MESH" and getattr(obj.data, "shape_keys", None) is not None


class DANCEAI_PG_generate(bpy.types.PropertyGroup):
    """Engine choice and generation settings (``Scene.dance_ai_generate``)."""

    engine: EnumProperty(
        name="Engine",
        description="Bundled engines, engines in your user engines folder, or a file",
        items=_engine_items,
        get=_engine_get,
        set=_engine_set,
    )
    engine_id: StringProperty(name="Engine name", default="default", options={"HIDDEN"})
    engine_file: StringProperty(
        name="Engine File",
        description="An .onnx (or TensorRT .engine/.plan) engine file",
        subtype="FILE_PATH",
    )
    backend: EnumProperty(name="Backend", items=BACKEND_ITEMS, default="AUTO")
    threads: IntProperty(
        name="Threads",
        description="CPU threads for the engine (0 = ONNX Runtime's default)",
        default=0,
        min=0,
        max=256,
    )
    style_axes: CollectionProperty(type=DANCEAI_PG_style_axis)
    style_engine: StringProperty(
        name="Style axes of", description="The engine file the style sliders belong to"
    )
    seed: IntProperty(name="Seed", description="Same seed, same dance", default=0, min=0)
    seconds: FloatProperty(
        name="Length", description="Seconds of motion", default=10.0, min=0.1, max=3600.0,
        soft_max=120.0, unit="TIME_ABSOLUTE",
    )  # fmt: skip
    bpm: FloatProperty(
        name="Tempo (BPM)",
        description="Beats per minute for beat-aware engines (0 = off)",
        default=0.0,
        min=0.0,
        max=1000.0,
        soft_max=240.0,
    )
    beat_lock: FloatProperty(
        name="Beat Lock",
        description="How far the dance's accents are moved onto the beat (0 = as generated)",
        default=1.0,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
    )
    variety: FloatProperty(
        name="Variety",
        description="How far each seed's dance drifts through the characters of the style's real "
        "dancers (0 = every seed aims at the style's average); loading another engine sets its "
        "recommendation (0.8 for the default engine)",
        default=0.8,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
    )
    loop: BoolProperty(name="Loop", description="Make the clip cycle seamlessly", default=False)
    face_mesh: PointerProperty(
        name="Face Mesh",
        description="Mesh whose shape keys receive the engine's facial blendshape weights",
        type=bpy.types.Object,
        poll=_mesh_with_shape_keys,
    )
    save_bvh: BoolProperty(
        name="Save BVH",
        description="Also write the generated motion as a BVH next to the .blend file",
        default=False,
    )


def settings_of(scene: bpy.types.Scene) -> DANCEAI_PG_generate:
    """The generation settings of ``scene``."""
    return scene.dance_ai_generate


def engine_path_of(settings: DANCEAI_PG_generate) -> Path:
    """The engine file the settings point at (EngineError when it does not exist)."""
    from ..core.engines.registry import resolve_engine
    from ..core.errors import EngineError

    ident = settings.engine_id
    if ident == FILE_ITEM:
        text = settings.engine_file.strip()
        if not text:
            raise EngineError("no engine file chosen; pick an .onnx file under Engine File")
        path = Path(bpy.path.abspath(text))
        if not path.is_file():
            raise EngineError(f"engine file '{path}' does not exist")
        return path
    return resolve_engine(ident, prefer_tensorrt=settings.backend == "TENSORRT")


def rebuild_style_axes(settings: DANCEAI_PG_generate, metadata, engine_path: str) -> bool:
    """Make the sliders match ``metadata``'s style axes; returns True when they were rebuilt.

    Values survive when the axes are unchanged (same names, same engine file), so reloading an
    engine does not throw away the user's mix.
    """
    axes = list(metadata.style_axes)
    same = settings.style_engine == engine_path and [a.name for a in settings.style_axes] == [
        a.name for a in axes
    ]
    if same:
        for item, axis in zip(settings.style_axes, axes):
            item.kind, item.min, item.max = axis.kind, axis.min, axis.max
        return False
    settings.style_axes.clear()
    for axis in axes:
        item = settings.style_axes.add()
        item.name = axis.name
        item.kind = axis.kind
        item.min = axis.min
        item.max = axis.max
        item.value = axis.default
    settings.variety = metadata.recommended_variety  # a new engine brings its own default
    settings.style_engine = engine_path
    return True


def _load(settings: DANCEAI_PG_generate) -> engine_cache.CachedEngine:
    """Load (or reuse) the chosen engine and make the sliders match it."""
    path = engine_path_of(settings)
    backend = settings.backend.lower()
    if not _availability:
        try:
            from ..core.engines.detect import backend_availability

            _availability.update(backend_availability())
        except Exception:  # detection is advice only; loading reports the real problem
            pass
    ok, why = _availability.get(backend, (True, ""))
    if not ok:
        raise DanceAIError(f"the {settings.backend.title()} backend is not usable: {why}")
    entry = engine_cache.get_entry(path, backend, settings.threads or None)
    rebuild_style_axes(settings, entry.engine.metadata, str(entry.path))
    return entry


def spec_from_settings(scene: bpy.types.Scene, armature: bpy.types.Object | None, path: Path):
    """The job spec the Generate button runs (retarget options from the Retarget settings)."""
    from ..jobs_spec import DanceJobSpec

    settings = settings_of(scene)
    axes = list(settings.style_axes)
    style_label = max(axes, key=lambda a: a.value).name if axes else ""
    retarget = getattr(scene, "dance_ai", None)
    spec = DanceJobSpec(
        name="Dance",
        engine=str(path),
        backend=settings.backend.lower(),
        threads=settings.threads or None,
        style="",
        style_axes={a.name: float(a.value) for a in settings.style_axes},
        seconds=float(settings.seconds),
        seed=int(settings.seed),
        bpm=float(settings.bpm) or None,
        beat_lock=float(settings.beat_lock),
        variety=float(settings.variety),
        loop=bool(settings.loop),
        armature=armature.name if armature is not None else None,
        mesh=settings.face_mesh.name if settings.face_mesh is not None else None,
        action_name=f"Dance {style_label} s{settings.seed}".replace("  ", " "),
    )
    if retarget is not None:
        smooth = getattr(retarget, "smooth_strength", getattr(retarget, "smoothing", None))
        spec.smooth = float(smooth) if smooth is not None else None
        spec.in_place = bool(getattr(retarget, "in_place", False))
        spec.foot_cleanup = bool(getattr(retarget, "foot_cleanup", True))
        spec.nla = bool(getattr(retarget, "use_nla", getattr(retarget, "nla", False)))
        preset = getattr(retarget, "preset", None)
        spec.preset = preset if isinstance(preset, str) and preset else None
    if settings.save_bvh and bpy.data.filepath:
        folder = os.path.dirname(bpy.path.abspath(bpy.data.filepath))
        stem = os.path.splitext(os.path.basename(bpy.data.filepath))[0]
        spec.out_bvh = os.path.join(folder, f"{stem}_dance_s{settings.seed}.bvh")
    return spec


# --------------------------------------------------------------------------- operators


class DANCEAI_OT_load_engine(bpy.types.Operator):
    """Load the chosen engine and show which backend runs it"""

    bl_idname = "dance_ai.load_engine"
    bl_label = "Load Dance Engine"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = settings_of(context.scene)
        try:
            entry = _load(settings)
        except DanceAIError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Loaded {entry.describe()}")
        return {"FINISHED"}


class DANCEAI_OT_apply_style_preset(bpy.types.Operator):
    """Set the style sliders to one of the engine's presets"""

    bl_idname = "dance_ai.apply_style_preset"
    bl_label = "Apply Style Preset"
    bl_options = {"REGISTER", "UNDO"}

    preset: StringProperty(name="Preset")

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = settings_of(context.scene)
        try:
            entry = _load(settings)
        except DanceAIError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        presets = entry.engine.metadata.style_presets
        if self.preset not in presets:
            known = ", ".join(sorted(presets)) or "(none)"
            self.report({"ERROR"}, f"the engine has no preset '{self.preset}'; it has: {known}")
            return {"CANCELLED"}
        for item, value in zip(settings.style_axes, presets[self.preset]):
            item.value = float(value)
        return {"FINISHED"}


def _validate_armature(context: bpy.types.Context) -> bpy.types.Object:
    obj = context.active_object
    if obj is None:
        raise DanceAIError("no active object; select the armature to animate")
    if obj.type != "ARMATURE":
        raise DanceAIError(
            f"the active object '{obj.name}' is a {obj.type.lower()}, not an armature; "
            "select the armature to animate"
        )
    return obj


class DANCEAI_OT_generate_dance(bpy.types.Operator):
    """Generate a dance with the loaded engine and bake it onto the active armature"""

    bl_idname = "dance_ai.generate_dance"
    bl_label = "Generate Dance"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and hasattr(context.scene, "dance_ai_generate")

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .face import check_face_mesh
        from .jobs import run_dance_job

        scene = context.scene
        settings = settings_of(scene)
        try:
            if context.mode != "OBJECT" and context.mode != "POSE":
                raise DanceAIError("switch to Object or Pose mode before generating")
            armature = _validate_armature(context)
            mesh = settings.face_mesh
            if mesh is not None:
                check_face_mesh(mesh)
            entry = _load(settings)
            spec = spec_from_settings(scene, armature, entry.path)
            report = run_dance_job(
                scene, spec, engine=entry.engine, armature_obj=armature, mesh_obj=mesh
            )
        except DanceAIError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for warning in report.get("warnings", []):
            self.report({"WARNING"}, warning)
        action = report.get("action") or "?"
        self.report(
            {"INFO"},
            f"Baked {report.get('frames', '?')} frames into '{action}' "
            f"(generated in {report.get('timings', {}).get('generate_s', 0.0):.2f} s on "
            f"{report.get('provider', '?')})",
        )
        return {"FINISHED"}


# --------------------------------------------------------------------------- panels


class DANCEAI_PT_engine(SidebarSubPanel, bpy.types.Panel):
    """Choose, configure and load a dance engine."""

    bl_idname = "DANCEAI_PT_engine"
    bl_label = "Engine"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = settings_of(context.scene)
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.prop(settings, "engine")
        if settings.engine_id == FILE_ITEM:
            layout.prop(settings, "engine_file")
        layout.prop(settings, "backend")
        layout.prop(settings, "threads")
        for key, (ok, why) in sorted(_availability.items()):
            if not ok and key != "tensorrt_native":
                row = layout.row()
                row.enabled = False  # greyed: this backend cannot run here
                row.label(text=f"{key}: {why}", icon="ERROR")
        layout.operator(DANCEAI_OT_load_engine.bl_idname, icon="FILE_REFRESH", text="Load")
        entry = engine_cache.current()
        if entry is not None:
            meta = entry.engine.metadata
            box = layout.box()
            col = box.column(align=True)
            col.label(text=f"{meta.name} {meta.version}", icon="CHECKMARK")
            col.label(text=f"Runs on: {entry.engine.provider}")
            col.label(text=f"{meta.fps:g} fps, window {meta.window}, history {meta.history}")
            col.label(text=f"Styles: {', '.join(meta.style_names)}")
            if meta.blendshape_names:
                col.label(text=f"Face: {len(meta.blendshape_names)} blendshapes")
            if meta.beat_input:
                col.label(text="Beat-aware")


class DANCEAI_PT_generate(SidebarSubPanel, bpy.types.Panel):
    """Style mix, seed, length and tempo; generate onto the active armature."""

    bl_idname = "DANCEAI_PT_generate"
    bl_label = "Generate"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = settings_of(context.scene)
        entry = engine_cache.current()
        col = layout.column(align=True)
        if len(settings.style_axes) == 0:
            col.label(text="Load an engine to mix styles", icon="INFO")
        for item in settings.style_axes:
            col.prop(item, "value", text=item.name.replace("_", " ").title(), slider=True)
        if entry is not None and entry.engine.metadata.style_presets:
            flow = layout.grid_flow(columns=3, align=True)
            for name in sorted(entry.engine.metadata.style_presets):
                op = flow.operator(DANCEAI_OT_apply_style_preset.bl_idname, text=name.title())
                op.preset = name
        col = layout.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.prop(settings, "seed")
        col.prop(settings, "seconds")
        col.prop(settings, "bpm")
        sub = col.column()
        sub.active = settings.bpm > 0.0
        sub.prop(settings, "beat_lock")
        col.prop(settings, "variety")
        col.prop(settings, "loop")
        col.prop(settings, "face_mesh")
        col.prop(settings, "save_bvh")
        obj = context.active_object
        target = obj.name if obj is not None and obj.type == "ARMATURE" else None
        layout.label(
            text=f"Target: {target}" if target else "Select an armature",
            icon="ARMATURE_DATA" if target else "ERROR",
        )
        row = layout.row()
        row.scale_y = 1.4
        row.enabled = target is not None
        row.operator(DANCEAI_OT_generate_dance.bl_idname, icon="PLAY")


def _menu_entry(self, context: bpy.types.Context) -> None:
    self.layout.operator(DANCEAI_OT_generate_dance.bl_idname, icon="PLAY")


_classes = (
    DANCEAI_PG_style_axis,
    DANCEAI_PG_generate,
    DANCEAI_OT_load_engine,
    DANCEAI_OT_apply_style_preset,
    DANCEAI_OT_generate_dance,
    DANCEAI_PT_engine,
    DANCEAI_PT_generate,
)


def register() -> None:
    """Register the settings, operators, sub-panels and the Object > Animation menu entry."""
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.dance_ai_generate = PointerProperty(type=DANCEAI_PG_generate)
    bpy.types.VIEW3D_MT_object_animation.append(_menu_entry)
    engine_cache.register()


def unregister() -> None:
    """Release loaded engines, then remove everything :func:`register` added."""
    engine_cache.unregister()
    _availability.clear()
    _engine_items_cache["items"] = []
    bpy.types.VIEW3D_MT_object_animation.remove(_menu_entry)
    if hasattr(bpy.types.Scene, "dance_ai_generate"):
        del bpy.types.Scene.dance_ai_generate
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
