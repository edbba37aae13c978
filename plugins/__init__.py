"""Flagship detectors shipped with vadbench as plugins (registered through entry points)."""
