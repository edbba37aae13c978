"""Published track files through the adapters and the real command line: ``vadbench run ... --regions
--data-set tracks=PATH`` on fabricated Ped2, Avenue and ShanghaiTech copies, in both row layouts, good
files and bad ones (one error line naming the file and line, exit code 2, before any training).

The console script runs in a subprocess with a ``--plugin`` file that puts the fabricated datasets'
facts in place of the official ones and registers ``fixed-box``, a detector whose map is bright on
the fabricated anomaly square of every frame (so it finds every ground-truth region, and makes a
false positive on every normal frame)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fabricate as fab
from vadbench.data.avenue import Avenue
from vadbench.data.cache import cache_path
from vadbench.data.shanghaitech import ShanghaiTech
from vadbench.data.ucsd import Ped2
from vadbench.errors import ConfigError, DatasetError
from vadbench.region_eval import recompute, tracks_from_files
from vadbench.runner import RunRequest, run
from vadbench.types import InputSpec

BIN = Path(sys.executable).with_name("vadbench")
TESTS = Path(__file__).resolve().parent

PLUGIN = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from dataclasses import dataclass

import numpy as np

import fabricate as fab
import vadbench
from vadbench.data.avenue import Avenue
from vadbench.data.shanghaitech import ShanghaiTech
from vadbench.data.ucsd import Ped2

Ped2.facts, Avenue.facts, ShanghaiTech.facts = fab.UCSD_FACTS, fab.AVENUE_FACTS, fab.SHANGHAI_FACTS


@dataclass
class BoxConfig:
    height: int = 8
    width: int = 8
    color: str = "gray"


@vadbench.register_detector("fixed-box")
class FixedBox(vadbench.Detector):
    \"\"\"A map bright on the fabricated anomaly square of every frame, scored by the frame's brightness.\"\"\"

    Config = BoxConfig

    def fit(self, data, trainer):
        pass

    def score_video(self, video):
        n = len(video)
        score = video.frames[..., 0].mean(axis=(1, 2)).astype(np.float64)
        maps = np.zeros((n, fab.H, fab.W))
        maps[:, 2:6, 3:9] = 1.0 + score[:, None, None] / 255
        return vadbench.VideoScores(score, maps=maps)
"""

# The fabricated masks mark rows 2..5 and columns 3..8 (fabricate.mask) on the anomalous frames.
CENTRE_ROW = "{track} {frame} 5.5 3.5 6 4"  # centre column, centre row, width, height: the same box
CORNERS_ROW = "{track},{frame},3,2,8,5"  # x_min, y_min, x_max, y_max


def anomalous(labels) -> list[int]:
    return [int(i) for i in np.flatnonzero(np.asarray(labels))]


def centre_files(folder: Path, names: dict[str, str], intervals, lengths) -> Path:
    """MERL-style files (1-based frames), one per test video, named as ``names`` says."""
    folder.mkdir(parents=True)
    for (video, file), iv, n in zip(names.items(), intervals, lengths):
        rows = [CENTRE_ROW.format(track=0, frame=i + 1) for i in anomalous(fab.labels_from(iv, n))]
        (folder / file).write_text("\n".join(rows) + "\n")
    return folder


def corners_files(folder: Path) -> Path:
    """Georgescu-style files (0-based frames, comma-separated), ``<video>.txt``."""
    folder.mkdir(parents=True)
    for video, labels in fab.SH_LABELS.items():
        rows = [CORNERS_ROW.format(track=0, frame=i) for i in anomalous(labels)]
        (folder / f"{video}.txt").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The plugin, the fabricated copies and one cache folder for the module (tracks never change a cache)."""
    base = tmp_path_factory.mktemp("tracks")
    plugin = base / "fixed_box.py"
    plugin.write_text(PLUGIN)
    roots = {"ped2": fab.ucsd_repackaged(base / "ped2"), "avenue": fab.avenue_repackaged(base / "avenue"),
             "shanghaitech": fab.shanghaitech(base / "sh")}
    return base, plugin, roots


def vadbench(world, dataset: str, out: Path, *extra: object) -> subprocess.CompletedProcess[str]:
    base, plugin, roots = world
    env = {**os.environ, "COLUMNS": "200", "VADBENCH_CACHE": str(base / "cache"),
           "VADBENCH_CONFIG": str(base / "config.toml")}
    return subprocess.run([str(BIN), "run", "fixed-box", "--dataset", dataset, "--root", str(roots[dataset]),
                           "--plugin", str(plugin), "--epochs", "0", "--out", str(out), *map(str, extra)],
                          capture_output=True, text=True, env=env, timeout=300)


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def ped2_tracks(folder: Path, names: dict[str, str] | None = None) -> Path:
    names = names or {f"Test{v:03d}": f"Test{v:03d}.txt" for v in (1, 2, 3)}
    return centre_files(folder, names, fab.INTERVALS, fab.TEST)


# -- the adapters' track option, in process -----------------------------------------------------------
def test_tracks_are_an_option_of_the_three_datasets_and_never_name_a_cache(tmp_path):
    folder = ped2_tracks(tmp_path / "merl")
    for cls, layout in ((Ped2, "centre"), (Avenue, "centre"), (ShanghaiTech, "corners")):
        adapter = cls(tmp_path, tracks=str(folder))
        assert adapter.options == {} and adapter.tracks().layout == layout and adapter.tracks().path == folder
        assert cls(tmp_path).tracks() is None
    spec = InputSpec(8, 8, "gray")
    assert cache_path(tmp_path, "ped2", Ped2(tmp_path, tracks=str(folder)).options, spec).name == "ped2-8x8-gray.h5"
    assert ShanghaiTech(tmp_path, scenes="4", tracks=str(folder)).options == {"scenes": "04"}


def test_file_names_each_dataset_accepts(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    assert Ped2(tmp_path, tracks=str(folder)).track_names("Test007") == ("Test007.txt", "07.txt", "7.txt")
    assert Avenue(tmp_path, tracks=str(folder)).track_names("08") == ("08.txt", "8.txt")
    assert ShanghaiTech(tmp_path, tracks=str(folder)).track_names("01_0014") == ("01_0014.txt",)
    (folder / "7.txt").write_text("0 1 5.5 3.5 6 4\n")
    truth = tracks_from_files(Ped2(tmp_path, tracks=str(folder)).tracks(), [("Test007", 3, (12, 16))])
    assert truth.record["gt_source"] == "track_file" and truth.record["tracks"]["files"] == {"Test007": "7.txt"}
    assert truth.tracks["Test007"].boxes.tolist() == [[3.0, 2.0, 8.0, 5.0]]  # 1-based frame 1 -> 0
    assert truth.record["tracks"]["image_sizes"] == {"Test007": [12, 16]}
    with pytest.raises(DatasetError, match="ped2: tracks: .* is not a directory"):
        Ped2(tmp_path, tracks=str(folder / "7.txt")).tracks()


def test_tracks_without_regions_are_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="add --regions to compute them"):
        run(RunRequest("framediff", dataset="ped2", root=str(tmp_path), dataset_options={"tracks": str(tmp_path)},
                       out=tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_the_config_file_names_a_track_folder(tmp_path, monkeypatch):
    from vadbench.runner import with_configured_tracks

    (tmp_path / "config.toml").write_text(f'[tracks]\nped2 = "{tmp_path / "merl"}"\n')
    monkeypatch.setenv("VADBENCH_CONFIG", str(tmp_path / "config.toml"))
    assert with_configured_tracks(RunRequest("x", dataset="ped2", regions=True)) == {"tracks": str(tmp_path / "merl")}
    assert with_configured_tracks(RunRequest("x", dataset="ped2")) == {}  # not read without --regions
    given = {"tracks": "elsewhere"}
    assert with_configured_tracks(RunRequest("x", dataset="ped2", regions=True, dataset_options=given)) == given
    assert with_configured_tracks(RunRequest("x", dataset="synthetic", regions=True)) == {}  # no such option


# -- the command line: good files (slow: one console-script process each) -------------------------
@pytest.mark.slow
def test_ped2_centre_rows_are_the_ground_truth_and_do_not_change_the_cache(world, tmp_path):
    base, _, _ = world
    tracks = ped2_tracks(tmp_path / "merl", {"Test001": "Test001.txt", "Test002": "02.txt", "Test003": "3.txt"})
    done = vadbench(world, "ped2", tmp_path / "t", "--regions", "--data-set", f"tracks={tracks}")
    assert done.returncode == 0, done.stderr
    m = json.loads((tmp_path / "t" / "metrics.json").read_text())
    record = m["regions"]
    assert record["gt_source"] == "track_file" and record["region_source"] == "maps"
    assert record["tracks"]["dir"] == str(tracks) and record["tracks"]["layout"] == "centre"
    assert record["tracks"]["files"] == {"Test001": "Test001.txt", "Test002": "02.txt", "Test003": "3.txt"}
    assert record["n_tracks"] == 3 and record["n_gt_regions"] == 3 + 4 + 5  # one track (id 0) per file
    assert 0 < m["rbdc"] < 1 and 0 < m["tbdc"] <= 1  # every box is found; the normal frames' are false positives
    assert m["dataset_options"] == {} and "tracks" in json.loads((tmp_path / "t" / "config.json").read_text())
    again = recompute(tmp_path / "t")  # from regions.csv and the recorded files
    assert (again.rbdc, again.tbdc) == (m["rbdc"], m["tbdc"])
    # without tracks: the masks' tracks, and the same cache (tracks are read at evaluation, never cached)
    done = vadbench(world, "ped2", tmp_path / "m", "--regions")
    assert done.returncode == 0, done.stderr
    masks = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert masks["regions"]["gt_source"] == "masks" and masks["regions"]["n_tracks"] == 4  # Test002's two events
    assert masks["rbdc"] == m["rbdc"]  # the files give the masks' own boxes, frame for frame
    assert len(list((base / "cache").glob("ped2-*.h5"))) == 1


@pytest.mark.slow
def test_avenue_tracks_give_region_criteria_to_a_copy_without_masks(world, tmp_path):
    names = {f"{v:02d}": f"{v}.txt" for v in (1, 2)}
    tracks = centre_files(tmp_path / "merl", names, fab.AV_INTERVALS, fab.AV_TEST)
    done = vadbench(world, "avenue", tmp_path / "t", "--regions", "--data-set", f"tracks={tracks}",
                    "--protocol-set", "drop_first=0")  # videos of 6 and 5 frames: keep them all
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "t" / "metrics.json").read_text())["regions"]
    assert record["gt_source"] == "track_file" and record["video_names"] == ["01", "02"]
    plotted = subprocess.run([str(BIN), "plot", str(tmp_path / "t"), "--kind", "regions", "--out", str(tmp_path / "f")],
                             capture_output=True, text=True)
    assert plotted.returncode == 0, plotted.stderr
    assert plotted.stdout.split() == [str(tmp_path / "f" / "regions.png")]


@pytest.mark.slow
def test_shanghaitech_corner_rows_are_the_ground_truth(world, tmp_path):
    tracks = corners_files(tmp_path / "georgescu")
    done = vadbench(world, "shanghaitech", tmp_path / "t", "--regions", "--data-set", f"tracks={tracks}",
                    "--protocol-set", "drop_first=0")  # videos of 5 and 4 frames: keep them all
    assert done.returncode == 0, done.stderr
    m = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert m["regions"]["gt_source"] == "track_file" and m["regions"]["tracks"]["layout"] == "corners"
    assert m["regions"]["n_gt_regions"] == 6 and 0 < m["rbdc"] <= 1


# -- bad files: one line naming the file and line, before any training ---------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("video, line, fragment", [
    ("Test001", "0 8 5.5 3.5 6 4", "Test001.txt:4: frame 8 is outside the video's frames 1..7"),
    ("Test002", "0 2 100 100 6 4", "Test002.txt:5: the box lies entirely outside the 16×12 image"),
    ("Test003", "0 2 5.5 x 6 4", "Test003.txt:6: not a number in '0 2 5.5 x 6 4'"),
])
def test_bad_centre_rows_are_one_line(world, tmp_path, video, line, fragment):
    tracks = ped2_tracks(tmp_path / "merl")
    with open(tracks / f"{video}.txt", "a") as f:
        f.write(line + "\n")
    error = one_line_error(vadbench(world, "ped2", tmp_path / "r", "--regions", "--data-set", f"tracks={tracks}"),
                           str(tracks / f"{video}.txt"), fragment)
    assert "training" not in error
    assert not (tmp_path / "r" / "model.pt").exists()  # refused before training


@pytest.mark.slow
@pytest.mark.parametrize("line, fragment", [
    ("0,5,3,2,8,5", "01_0014.txt:3: frame 5 is outside the video's frames 0..4"),
    ("0,1,3,2,16,5", "01_0014.txt:3: the box is outside the 16×12 image (columns 0..15, rows 0..11)"),
    ("0,one,3,2,8,5", "01_0014.txt:3: not a number"),
])
def test_bad_corner_rows_are_one_line(world, tmp_path, line, fragment):
    tracks = corners_files(tmp_path / "georgescu")
    with open(tracks / "01_0014.txt", "a") as f:
        f.write(line + "\n")
    one_line_error(vadbench(world, "shanghaitech", tmp_path / "r", "--regions", "--data-set", f"tracks={tracks}"),
                   fragment)
    assert not (tmp_path / "r" / "model.pt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("dataset, make, missing, looked_for", [
    ("ped2", ped2_tracks, "Test003", "looked for Test003.txt or 03.txt or 3.txt"),
    ("shanghaitech", corners_files, "04_0011", "looked for 04_0011.txt"),
])
def test_a_test_video_without_a_track_file_is_named(world, tmp_path, dataset, make, missing, looked_for):
    tracks = make(tmp_path / "tracks")
    (tracks / f"{missing}.txt").unlink()
    one_line_error(vadbench(world, dataset, tmp_path / "r", "--regions", "--data-set", f"tracks={tracks}"),
                   f"no track file for test video {missing!r} in {tracks}", looked_for)


@pytest.mark.slow
def test_two_files_for_one_video_and_a_missing_folder_are_refused(world, tmp_path):
    tracks = ped2_tracks(tmp_path / "merl")
    (tracks / "1.txt").write_text((tracks / "Test001.txt").read_text())
    one_line_error(vadbench(world, "ped2", tmp_path / "r", "--regions", "--data-set", f"tracks={tracks}"),
                   "track files Test001.txt and 1.txt", "both name test video 'Test001'")
    one_line_error(vadbench(world, "ped2", tmp_path / "r", "--regions", "--data-set", f"tracks={tmp_path / 'nope'}"),
                   f"ped2: tracks: track directory {tmp_path / 'nope'} not found")
    one_line_error(vadbench(world, "ped2", tmp_path / "r", "--data-set", f"tracks={tracks}"),
                   "--data-set tracks=PATH gives the ground truth of the region criteria; add --regions")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
