import textwrap

import pytest

from vadbench import Detector, VideoScores
from vadbench.errors import RegistryError
from vadbench.registry import Registry, _detector_class


def fresh() -> Registry:
    return Registry("detector", "vadbench.no-such-group", _detector_class)


class A(Detector):
    """Detector A."""

    def fit(self, data, trainer):
        pass

    def score_video(self, video):
        return VideoScores(video.frames.mean(axis=(1, 2, 3)))


def test_decorator_registers_and_describes():
    reg = fresh()
    reg.register("a")(A)
    assert reg.get("a") is A and reg.names() == ["a"]
    assert reg.entries()[0].description == "Detector A."


def test_two_objects_under_one_name_is_an_error_naming_both_sources():
    reg = fresh()
    reg.register("a")(A)

    class B(A):
        """Detector B."""

    reg.register("a")(B)
    with pytest.raises(RegistryError, match=r"two detectors are registered as 'a': .*A and .*B"):
        reg.get("a")


def test_unknown_name_suggests_close_ones():
    reg = fresh()
    reg.register("mnad-p")(A)
    with pytest.raises(RegistryError, match="did you mean mnad-p"):
        reg.get("mnad_p")


def test_module_spec_escape_hatch_and_bad_specs():
    reg = fresh()
    assert reg.get("test_registry:A") is A
    with pytest.raises(RegistryError, match="cannot import"):
        reg.get("no_such_module_xyz:A")
    with pytest.raises(RegistryError, match="not a vadbench Detector"):
        reg.get("textwrap:dedent")


def test_plugin_file_registers(tmp_path):
    reg = fresh()
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(textwrap.dedent('''
        import vadbench
        import test_registry
        REG = None
    '''))
    reg.load_file(plugin)  # runs without error
    with pytest.raises(RegistryError, match="plugin file not found"):
        reg.load_file(tmp_path / "missing.py")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(RegistryError, match="broken.py failed to load: RuntimeError: boom"):
        reg.load_file(broken)


def test_builtin_entry_points_are_loaded():
    from vadbench.registry import datasets, detectors

    assert "framediff" in detectors.names() and "synthetic" in datasets.names()
    entry = {e.name: e for e in detectors.entries()}["framediff"]
    assert entry.source.startswith("vadbench (baselines.framediff:FrameDiff)")
