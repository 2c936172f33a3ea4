"""Motion core of Dance AI: rotations, skeletons, clips, BVH and smoothing in pure numpy.

Nothing in this package imports ``bpy`` or ``mathutils``; it runs in plain Python with numpy,
so the engines, the retargeter and the tests can use it outside Blender.
"""
