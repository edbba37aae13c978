"""The baselines shipped with vadbench, installed as ``vadbench_baselines``: ConvAE, MemAE and its
variants, framediff, and the method cards (``cards``) of those and of the MNAD no-memory variants.
Each detector joins through an entry point, as a third party's would; importing this package
imports no model code.
"""
