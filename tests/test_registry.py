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
    from vadbench import cards, detectors

    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(textwrap.dedent('''
        import vadbench
        from vadbench_baselines.framediff import FrameDiff

        @vadbench.register_detector("from-a-file")
        class FromAFile(FrameDiff):
            """A detector registered by a plugin file."""

        vadbench.register_card(vadbench.MethodCard(name="from-a-file-coarse", title="a variant", variant_of="from-a-file",
                                                   settings={"height": 32, "width": 32}))
    '''))
    try:
        detectors.load_file(plugin)
        assert detectors.get("from-a-file").__name__ == "FromAFile"
        assert "from-a-file" in detectors.names() and cards.find("from-a-file-coarse").variant_of == "from-a-file"
        from vadbench.registry import create_detector

        assert create_detector("from-a-file-coarse").input_spec().height == 32
    finally:
        detectors.remove("from-a-file")
        cards.remove("from-a-file-coarse")
    with pytest.raises(RegistryError, match="plugin file not found"):
        detectors.load_file(tmp_path / "missing.py")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(RegistryError, match="broken.py failed to load: RuntimeError: boom"):
        detectors.load_file(broken)


def test_builtin_entry_points_are_loaded():
    from vadbench.registry import datasets, detectors

    assert "framediff" in detectors.names() and "synthetic" in datasets.names()
    entry = {e.name: e for e in detectors.entries()}["framediff"]
    assert entry.source.startswith("vadbench (vadbench_baselines.framediff:FrameDiff)")
