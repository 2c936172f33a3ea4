"""Tolerances shared by tests that compare two runs of the same computation.

Same seed, same engine, same inputs give the same dance, but not always to the last bit:
numpy's float64 SIMD loops can round differently with an array's memory alignment, which
changes between runs and between CPUs (CI once saw 4e-16 on one element in a hundred).
Motion that differs by a real bug differs by far more than this.
"""

#: Largest difference allowed between two float64 runs that should be identical.
ULP_NOISE = 1e-12
