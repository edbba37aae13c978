"""Dataset options are each adapter's ``Options`` dataclass: typed, validated, and the cache's identity.

The identity (``adapter.options``) must be the dict the adapters produced before options were
dataclasses, so that the caches built and the results recorded so far keep their names.
"""

from __future__ import annotations

import pytest

from vadbench import InputSpec
from vadbench.data.avenue import Avenue
from vadbench.data.cache import cache_path
from vadbench.data.folder import Folder
from vadbench.data.shanghaitech import ShanghaiTech
from vadbench.data.synthetic import Synthetic
from vadbench.data.ucsd import Ped1, Ped2
from vadbench.errors import ConfigError


def test_given_options_are_typed_and_normalised(tmp_path):
    assert ShanghaiTech(tmp_path, scenes="4,01").settings.scenes == ("01", "04")
    assert ShanghaiTech(tmp_path, scenes=[1, 4]).settings.scenes == ("01", "04")  # typed values, as from Python
    assert Avenue(tmp_path, labels="mask").settings.labels == "mask"
    assert Folder(tmp_path, labels="gt.csv").settings.labels == "gt.csv"
    settings = Synthetic(seed="3", frames="20").settings
    assert (settings.seed, settings.train_videos, settings.frames) == (3, 12, 20)


@pytest.mark.parametrize("make, identity", [
    (lambda root: ShanghaiTech(root), {}),
    (lambda root: ShanghaiTech(root, scenes="all"), {}),  # spelling out the default is the default
    (lambda root: ShanghaiTech(root, scenes=None), {}),
    (lambda root: ShanghaiTech(root, scenes="4"), {"scenes": "04"}),
    (lambda root: ShanghaiTech(root, scenes="4, 1"), {"scenes": "01,04"}),
    (lambda root: Avenue(root), {}),
    (lambda root: Avenue(root, labels="interval"), {"labels": "interval"}),
    (lambda root: Avenue(root, labels="mask"), {"labels": "mask"}),
    (lambda root: Folder(root, labels="gt.csv"), {"labels": "gt.csv"}),
    (lambda root: Ped2(root), {}),
    (lambda root: Synthetic(), {"scene": 2, "seed": 0, "train_videos": 12, "test_videos": 8, "frames": 150}),
    (lambda root: Synthetic(seed="2"), {"scene": 2, "seed": 2, "train_videos": 12, "test_videos": 8, "frames": 150}),
])
def test_the_identity_is_what_it_was_before_options_were_dataclasses(tmp_path, make, identity):
    assert make(tmp_path).options == identity


def test_existing_cache_names_are_kept(tmp_path):
    """The default synthetic cache, and a scene selection's cache, keep their names."""
    assert cache_path(tmp_path, "synthetic", Synthetic().options, InputSpec(32, 32, "rgb")).name == \
        "synthetic-97890e43-32x32-rgb.h5"  # the defaults of scene 2 (issue 13: 12 training videos, the version recorded)
    selection = ShanghaiTech(tmp_path, scenes="1,4").options
    assert cache_path(tmp_path, "shanghaitech", selection, InputSpec(8, 8, "gray")) == \
        cache_path(tmp_path, "shanghaitech", {"scenes": "01,04"}, InputSpec(8, 8, "gray"))
    assert cache_path(tmp_path, "ped2", Ped2(tmp_path).options, InputSpec(8, 8, "gray")).name == "ped2-8x8-gray.h5"


@pytest.mark.parametrize("make, message", [
    (lambda root: ShanghaiTech(root, scene="4"), "unknown setting 'scene' for ShanghaiTech.Options; valid: scenes, tracks"),
    (lambda root: Avenue(root, label="mask"), "unknown setting 'label' for Avenue.Options; valid: labels, tracks"),
    (lambda root: Synthetic(videos=3),
     "unknown setting 'videos' for Synthetic.Options; valid: scene, seed, train_videos, test_videos, frames"),
    (lambda root: Ped2(root, labels="mask"), "unknown setting 'labels' for Ped2.Options; valid: tracks"),
    (lambda root: Ped1(root, labels="mask"), "unknown setting 'labels' for Ped1; valid: none (this dataset has no options)"),
    (lambda root: Avenue(root, labels="both"), "labels: 'both' is not one of interval, mask"),
    (lambda root: Synthetic(seed="abc"), "seed: expected int, got 'abc'"),
    (lambda root: Synthetic(test_videos="0"), "test_videos=0 is out of range: test_videos must be >= 1"),
    (lambda root: ShanghaiTech(root, scenes="14"), "shanghaitech: scene '14' is not one of 01 to 13"),
])
def test_bad_options_are_refused_saying_what_is_valid(tmp_path, make, message):
    with pytest.raises(ConfigError) as raised:
        make(tmp_path)
    assert str(raised.value) == message


def test_options_are_checked_without_an_adapter(tmp_path):
    """What the CLI does before any work: no root, no scan, just the options."""
    assert ShanghaiTech.parse_options({"scenes": "2"}).scenes == ("02",)
    assert Synthetic.identity(Synthetic.parse_options({"seed": "1"}))["seed"] == 1
    with pytest.raises(ConfigError, match="valid: labels"):
        Folder.parse_options({"label": "x.csv"})


@pytest.mark.parametrize("make", [
    lambda root: ShanghaiTech(root, scenes="4,1"),
    lambda root: Avenue(root, labels="mask"),
    lambda root: Synthetic(seed="5", frames="30"),
])
def test_the_identity_recreates_the_same_adapter(tmp_path, make):
    """A recorded identity, passed back as options (as ``vadbench eval`` does), names the same data."""
    adapter = make(tmp_path)
    again = type(adapter)(tmp_path, **adapter.options)
    assert again.options == adapter.options and again.settings == adapter.settings


def test_the_synthetic_scene_design_is_part_of_its_identity():
    """A redesign of the scene makes other videos from the same options: its version names the
    caches and runs, and only the current design is generated."""
    assert Synthetic().options["scene"] == 2
    with pytest.raises(ConfigError, match="scene"):
        Synthetic(scene="1")
