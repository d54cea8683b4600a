"""The one compiled part: pipeline._cjieba, jieba's HMM-off cut in C (see its header comment).

It is optional: when no C compiler is available the build goes on without it and the pipeline
uses rjieba or jieba, which give the same tokens.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "pipeline._cjieba", ["pipeline/_cjieba.c"],
    # same floating-point evaluation as jieba's Python: no fused multiply-add (and no
    # -ffast-math); -O3 vectorises the per-character loops (fold, lut_hits), -O2 does not
    extra_compile_args=["-O3", "-ffp-contract=off"],
    optional=True,
)])
