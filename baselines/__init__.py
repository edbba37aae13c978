"""Baseline detectors shipped with vadbench (each registered through an entry point)."""
