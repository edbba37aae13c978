"""``run --regions`` in the harness: a detector's own regions or its maps' regions, the record of
which, refusals of a mix, ``regions.csv`` and what is recomputed from it (``metrics``,
``plot --kind regions``) without the detector (docs/protocols.md §6.7)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ToyAE
from vadbench import Regions, VideoScores
from vadbench import plots
from vadbench.data.cache import ClipCache
from vadbench.errors import EvaluationError, RunError
from vadbench.rbdc import curve_to_one, evaluate_videos
from vadbench.region_eval import recompute
from vadbench.rundir import RunDir
from vadbench.runner import RunRequest, run
from vadbench.tracks import tracks_from_masks

SQUARE = (5.0, 5.0, 11.0, 11.0)  # TinyAdapter's anomaly: rows and columns 5..11, from frame n // 2 on


def square_regions(video) -> Regions:
    """One box per frame: the anomaly square where it is, a decoy corner box elsewhere, scored by the
    mean brightness of the frame's square (bright where the anomaly is)."""
    n = len(video)
    inside = video.frames[:, 5:12, 5:12, 0].astype(np.float64).mean(axis=(1, 2))
    boxes = np.array([SQUARE if t >= n // 2 else (20.0, 15.0, 31.0, 23.0) for t in range(n)])
    return Regions(np.arange(n), boxes, inside / 255)


def with_regions(self, video):
    return VideoScores(video.frames[..., 0].mean(axis=(1, 2)).astype(np.float64), regions=square_regions(video))


def with_maps(self, video):
    maps = video.frames[..., 0].astype(np.float64)
    return VideoScores(maps.mean(axis=(1, 2)), maps=maps)


def cached_videos(out):
    """The run's test videos, their masks read (they are read lazily, while the cache is open)."""
    with ClipCache(json.loads((out / "config.json").read_text())["cache"]["path"]) as cache:
        videos = list(cache.iter_videos("test"))
        return [(v, v.masks()) for v in videos]


# -- VideoScores.check --------------------------------------------------------------------------
@pytest.mark.parametrize("regions, size, message", [
    (Regions([0, 5], [(0, 0, 1, 1)] * 2, [1, 2]), None,
     "detector returned region 1 of video 'v7' in frame 5, beyond its 5 frames (0..4)"),
    (Regions([1], [(0, 0, 16, 3)], [1]), (12, 16),
     "detector returned region 0 of video 'v7' with box [0.0, 0.0, 16.0, 3.0] outside its 16×12 source frames "
     "(x 0..15, y 0..11, inclusive corners)"),
    (Regions([1], [(-1, 0, 3, 3)], [1]), (12, 16), "with box [-1.0, 0.0, 3.0, 3.0] outside its 16×12"),
    ({"frame": [0]}, None, "detector returned regions of type dict for video 'v7'; expected vadbench.Regions"),
])
def test_bad_regions_are_one_line_naming_the_video(regions, size, message):
    scores = VideoScores(np.zeros(5), regions=regions)  # type: ignore[arg-type]
    with pytest.raises(EvaluationError) as info:
        scores.check(5, "v7", size)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_regions_inside_the_frames_pass_and_the_size_is_checked_only_when_known():
    VideoScores(np.zeros(5), regions=Regions([0, 4], [(0, 0, 15, 11), (3, 3, 3, 3)], [1, 2])).check(5, "v", (12, 16))
    VideoScores(np.zeros(5), regions=Regions([0], [(0, 0, 99, 99)], [1])).check(5, "v")
    VideoScores(np.zeros(5), regions=Regions.empty()).check(5, "v", (12, 16))


# -- a detector's own regions ----------------------------------------------------------------------
def test_a_detector_that_returns_regions_is_evaluated_on_them(tmp_path, tiny_registered, monkeypatch):
    monkeypatch.setattr(ToyAE, "score_video", with_regions)
    out = tmp_path / "r"
    m = run(RunRequest("toy", dataset="tiny", out=out, epochs=0, regions=True))
    record = m["regions"]
    assert record["region_source"] == "detector" and "region_rule" not in record
    assert record["gt_source"] == "masks" and record["video_names"] == ["00", "01"] and record["n_detections"] == 24
    videos = cached_videos(out)
    direct = evaluate_videos([square_regions(v) for v, _ in videos], [tracks_from_masks(k) for _, k in videos],
                             [len(v) for v, _ in videos])
    assert m["rbdc"] == pytest.approx(direct.rbdc) and m["tbdc"] == pytest.approx(direct.tbdc)
    assert 0.5 < m["rbdc"] <= 1.0  # the square's boxes carry the highest scores
    table = RunDir(out).read_regions()
    assert list(table.columns) == ["video", "frame", "x0", "y0", "x1", "y1", "score"] and len(table) == 24
    first = table[table["video"] == "01"].iloc[10]
    assert (first["frame"], first["x0"], first["y1"]) == (10, 5.0, 11.0)
    again = recompute(out)  # from regions.csv and the cache's masks: the run's own numbers, exactly
    assert (again.rbdc, again.tbdc) == (m["rbdc"], m["tbdc"])


def test_regions_for_some_videos_only_are_an_error(tmp_path, tiny_registered, monkeypatch):
    def some(self, video):
        result = with_maps(self, video)
        result.regions = square_regions(video) if video.name == "00" else None
        return result

    monkeypatch.setattr(ToyAE, "score_video", some)
    with pytest.raises(EvaluationError, match=r"the detector returned regions for 1 of the 2 test videos \(none for "
                                              r"'01'\); return regions for every video"):
        run(RunRequest("toy", dataset="tiny", out=tmp_path / "r", epochs=0, regions=True))
    assert not (tmp_path / "r" / "frames.csv").exists() and not (tmp_path / "r" / "metrics.json").exists()


def test_maps_for_some_videos_only_are_an_error(tmp_path, tiny_registered, monkeypatch):
    def some(self, video):
        result = with_maps(self, video)
        result.maps = result.maps if video.name == "01" else None
        return result

    monkeypatch.setattr(ToyAE, "score_video", some)
    with pytest.raises(EvaluationError, match="the detector returned maps for 1 of the 2 evaluated test videos"):
        run(RunRequest("toy", dataset="tiny", out=tmp_path / "r", epochs=0, regions=True))


def test_maps_record_their_rule_and_the_run_keeps_its_regions(tmp_path, tiny_registered, monkeypatch):
    monkeypatch.setattr(ToyAE, "score_video", with_maps)
    out = tmp_path / "r"
    m = run(RunRequest("toy", dataset="tiny", out=out, epochs=0, regions=True))
    record = m["regions"]
    assert record["region_source"] == "maps" and record["region_rule"]["rule"] == "top_fraction"
    assert record["region_rule"]["threshold"] is not None and record["region_rule"]["uses_test_statistics"]
    assert len(RunDir(out).read_regions()) == record["n_detections"]
    assert recompute(out).rbdc == m["rbdc"]


def test_a_run_without_regions_has_no_regions_file(tmp_path, tiny_registered, monkeypatch):
    monkeypatch.setattr(ToyAE, "score_video", with_maps)
    out = tmp_path / "r"
    m = run(RunRequest("toy", dataset="tiny", out=out, epochs=0))
    assert "rbdc" not in m and "regions" not in m and not RunDir(out).regions_file.exists()
    with pytest.raises(RunError, match="has no region results \\(no regions.csv\\): rerun it with --regions"):
        recompute(out)
    with pytest.raises(RunError, match="has no region results"):
        plots.plot([out], "regions")


def test_a_detector_without_maps_or_regions_gets_a_note_not_numbers(tmp_path, tiny_registered, capsys):
    m = run(RunRequest("toy", dataset="tiny", out=tmp_path / "r", epochs=0, regions=True))
    assert "rbdc" not in m and not (tmp_path / "r" / "regions.csv").exists()


# -- what is recomputed from the run files -----------------------------------------------------
@pytest.fixture
def region_run(tmp_path, tiny_registered, monkeypatch):
    monkeypatch.setattr(ToyAE, "score_video", with_regions)
    out = tmp_path / "r"
    return out, run(RunRequest("toy", dataset="tiny", out=out, epochs=0, regions=True))


def test_plot_regions_draws_both_curves_with_the_runs_own_areas(region_run, tmp_path):
    out, m = region_run
    made = plots.plot([out], "regions", out=tmp_path / "fig")
    assert [p.name for p in made.paths] == ["regions.png"]
    image = plots_pixels(made.paths[0])
    assert image.shape[1::-1] == plots.figure_size("regions")
    fig = plots._regions_figure(plots.read_runs([out]))
    legends = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert legends == [f"toy: RBDC {100 * m['rbdc']:.1f} %", f"toy: TBDC {100 * m['tbdc']:.1f} %"]
    line = fig.axes[0].get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    assert x[0] == 0 and y[0] == 0 and x[-1] == 1  # from the origin to FPR = 1, as the area is taken
    assert float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2)) == pytest.approx(m["rbdc"])


def plots_pixels(path):
    import matplotlib.image

    return matplotlib.image.imread(path)[..., :3]


def test_curve_to_one_is_the_integrated_curve():
    x, y = curve_to_one(np.array([0.5, 2.0]), np.array([0.4, 0.8]))  # crosses FPR = 1 between its points
    assert x.tolist() == [0.0, 0.5, 1.0] and y.tolist() == pytest.approx([0.0, 0.4, 0.4 + 0.4 / 3])
    x, y = curve_to_one(np.array([0.25]), np.array([0.5]))  # short of 1: extended at its last rate
    assert x.tolist() == [0.0, 0.25, 1.0] and y.tolist() == [0.0, 0.5, 0.5]


def test_metrics_recomputes_rbdc_and_tbdc_from_regions_csv(region_run, monkeypatch):
    from vadbench.cli import app

    out, m = region_run
    monkeypatch.setenv("COLUMNS", "160")
    done = CliRunner().invoke(app, ["metrics", str(out)])
    assert done.exit_code == 0, done.output
    assert f"{100 * m['rbdc']:.2f} %" in done.output and f"{100 * m['tbdc']:.2f} %" in done.output
    # regions.csv is what is read: change a score and the recomputed number moves
    table = pd.read_csv(out / "regions.csv", dtype={"video": str})
    table.loc[table["score"].idxmax(), "score"] = -1.0
    table.to_csv(out / "regions.csv", index=False)
    assert recompute(out).rbdc != m["rbdc"]


def test_a_damaged_regions_csv_is_one_line(region_run):
    out, _ = region_run
    (out / "regions.csv").write_text("video,frame,x0,y0,x1,y1,score\n00,1,5,5,4,11,0.5\n")
    with pytest.raises(RunError, match="regions.csv has a non-numeric or non-finite value.*x1 < x0"):
        recompute(out)
    (out / "regions.csv").write_text("video,frame,x0,y0,x1,y1,score\n07,1,5,5,6,11,0.5\n")
    with pytest.raises(RunError, match="regions of video '07', which the run's region record does not list"):
        recompute(out)
