"""`vadbench plot`: every figure kind writes an image of the expected size that shows what it claims
(curves in the run colours, shaded ground truth, heat overlays, memory items); the numbers in a
legend are the runs' own; bad inputs are one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vadbench import plots
from vadbench.errors import ConfigError, RunError
from vadbench.metrics import evaluate
from vadbench.protocols import get_protocol
from vadbench.rundir import RunDir

BIN = Path(sys.executable).parent / "vadbench"
C0, C1 = (0.122, 0.467, 0.706), (1.0, 0.498, 0.055)  # matplotlib's first two cycle colours: run 1, run 2
SHADE = tuple(1 - 0.15 * (1 - c) for c in (0.839, 0.153, 0.157))  # tab:red at alpha 0.15 on white


def vadbench(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"})


def one_line_error(result: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in result.stderr and len(lines) == 1 and pattern in lines[0], result.stderr


def pixels(path: Path) -> np.ndarray:
    """The RGB pixels of a PNG, read back with matplotlib."""
    import matplotlib.image

    return matplotlib.image.imread(path)[..., :3]


def count(image: np.ndarray, colour: tuple[float, ...], tol: float = 0.03) -> int:
    return int((np.abs(image - np.asarray(colour)) <= tol).all(axis=-1).sum())


def distinct(image: np.ndarray) -> int:
    return len(np.unique((image * 255).round().astype(np.uint8).reshape(-1, 3), axis=0))


def write_run(path: Path, protocol: str, seed: int, detector: str, lengths: tuple[int, ...] = (60, 60, 60),
              dataset: str = "tiny") -> RunDir:
    """A finished run written directly: frames.csv (scores = label + noise, the first frame
    unscored; video v anomalous from frame n // 3 + 5v for n // 4 frames) and the metrics.json
    that evaluation under ``protocol`` gives."""
    rng = np.random.default_rng(seed)
    tables, pairs = [], []
    for v, n in enumerate(lengths):
        labels = np.zeros(n, np.int64)
        labels[n // 3 + 5 * v:n // 3 + 5 * v + n // 4] = 1
        scores = labels + rng.normal(0, 0.8, n) + v  # a per-video offset: normalisation matters
        scores[0] = np.nan
        tables.append(pd.DataFrame({"video": f"{v:02d}", "frame": np.arange(n), "label": labels, "score": scores}))
        pairs.append((scores, labels))
    run = RunDir(path)
    run.write_frames(pd.concat(tables, ignore_index=True))
    proto = get_protocol(protocol)
    run.write_metrics({**evaluate(pairs, proto), "detector": detector, "label": None, "dataset": dataset,
                       "input": {"height": 8, "width": 8, "color": "gray"}, "protocol": proto.record(), "seed": 0})
    return run


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    return write_run(tmp_path / "a", "raw", 0, "alpha").path, write_run(tmp_path / "b", "memae", 1, "beta").path


# -- roc, pr, timeline: from frames.csv -------------------------------------------------------
def test_legend_numbers_are_each_runs_own_under_its_own_protocol(two_runs):
    for path in two_runs:
        run = plots.read_run(path)
        stored = run.run.read_metrics()
        assert plots.micro_curve(run, "roc").area == pytest.approx(stored["auc_micro"], abs=1e-12)
        assert plots.micro_curve(run, "pr").area == pytest.approx(stored["aupr"], abs=1e-12)
    # the protocol matters on these runs (per-video offsets), so a curve under the wrong one would differ
    a = RunDir(two_runs[0]).read_frames()
    pairs = [(g["score"].to_numpy(), g["label"].to_numpy()) for _, g in a.groupby("video")]
    assert abs(evaluate(pairs, get_protocol("memae"))["auc_micro"] - RunDir(two_runs[0]).read_metrics()["auc_micro"]) > 0.01


def test_evaluated_frames_follow_the_protocol(two_runs):
    raw, memae = plots.read_run(two_runs[0]), plots.read_run(two_runs[1])
    assert raw.videos["00"].frames.tolist() == list(range(4, 60))  # raw drops the first 4, never normalises
    assert raw.videos["01"].scores.max() > 1.5
    assert memae.videos["00"].frames.tolist() == list(range(8, 53))  # memae drops 8 and 7
    assert memae.videos["01"].scores.min() == 0 and memae.videos["01"].scores.max() == 1  # per-video min-max
    assert len(memae.videos["00"].truth) == 60 and memae.videos["00"].labels.tolist() == memae.videos["00"].truth[8:53].tolist()


def test_synthetic_runs_say_so_in_the_title(two_runs):
    run = RunDir(two_runs[1])
    metrics = run.read_metrics()
    metrics["protocol"]["synthetic"] = True
    run.write_metrics(metrics)
    plain, synthetic = plots.read_runs(two_runs)
    assert not plain.synthetic and synthetic.synthetic
    assert plots._title([plain], "micro ROC") == "micro ROC\ntiny, protocol raw"
    assert plots._title([plain, synthetic], "micro ROC").startswith("SYNTHETIC data: micro ROC\n")


def test_spans_are_the_contiguous_anomalous_runs():
    assert plots.spans(np.array([1, 1, 0, 0, 1, 0, 1, 1, 1])) == [(0, 1), (4, 4), (6, 8)]
    assert plots.spans(np.zeros(5)) == []
    assert plots.spans(np.array([0, 1]), frames=np.array([10, 11])) == [(11, 11)]


def test_roc_and_timeline_through_the_console_script(two_runs):
    a, b = two_runs
    done = vadbench("plot", a, b, "--kind", "roc")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(a / "figures" / "roc.png")]  # default: the first run's figures/
    image = pixels(a / "figures" / "roc.png")
    assert image.shape[1::-1] == plots.figure_size("roc")
    assert count(image, C0) > 150 and count(image, C1) > 150, "both runs' curves are drawn"
    assert distinct(image) > 50

    out = a.parent / "figs"
    done = vadbench("plot", a, b, "--kind", "timeline", "--videos", "00,02", "--out", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(out / "timeline-00.png"), str(out / "timeline-02.png")]
    image = pixels(out / "timeline-02.png")
    assert image.shape[1::-1] == plots.figure_size("timeline")
    assert count(image, C0) > 150 and count(image, C1) > 150
    assert count(image, SHADE, tol=0.02) > 2000, "the anomalous span is shaded"


def test_timeline_is_capped_without_videos_and_pdf_is_reproducible(two_runs, tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "MAX_TIMELINES", 2)
    made = plots.plot([two_runs[0]], "timeline", out=tmp_path / "t")
    assert [p.name for p in made.paths] == ["timeline-00.png", "timeline-01.png"]
    assert made.notes == ["plotted the first 2 of 3 videos; choose others with --videos"]
    first = plots.plot(list(two_runs), "pr", out=tmp_path / "p1", fmt="pdf").paths[0]
    again = plots.plot(list(two_runs), "pr", out=tmp_path / "p2", fmt="pdf").paths[0]
    assert first.name == "pr.pdf" and first.read_bytes()[:5] == b"%PDF-"
    assert first.read_bytes() == again.read_bytes(), "the same runs give the same bytes"


@pytest.mark.parametrize("args, message", [
    (("--kind", "hist"), "unknown plot kind 'hist'; use one of roc, pr, timeline, maps, memory"),
    (("--kind", "timeline", "--videos", "07"), "no test video '07' in frames.csv (it has 00, 01, 02)"),
])
def test_bad_inputs_are_one_line(two_runs, args, message):
    one_line_error(vadbench("plot", two_runs[0], *args), message)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"fmt": "svg"}, ConfigError, "unknown figure format 'svg'; use png or pdf"),
    ({"kind": "maps"}, ConfigError, "--kind maps draws one run's model; got 2 runs"),
    ({"embedding": "umap"}, ConfigError, "unknown embedding 'umap'; use pca or tsne"),
    ({"videos": ["00", "x"]}, RunError, "no test video 'x' in frames.csv"),
    ({"paths": ["nothing"]}, RunError, "nothing is not a finished run"),
])
def test_every_choice_is_checked_before_any_work(two_runs, tmp_path, kwargs, error, message):
    out = tmp_path / "never"
    with pytest.raises(error, match=message):
        plots.plot(**{"paths": list(two_runs), "kind": "timeline", "out": out, **kwargs})
    assert not out.exists()


# -- maps: the model scores the cached video again --------------------------------------------
PLUGIN = """\
# The plot tests' plugin: the shared tiny dataset (pixel masks), the README's example detector
# (per-pixel |z| maps) and the toy autoencoder (no maps), under names of their own.
import sys
sys.path[:0] = [{tests!r}, {example!r}]
import vadbench
from conftest import TinyAdapter, ToyAE
from vadbench_example import PixelZScore

vadbench.register_dataset("plotscene")(TinyAdapter)
vadbench.register_detector("plot-zscore")(PixelZScore)
vadbench.register_detector("plot-toy")(ToyAE)
"""


@pytest.fixture
def plugin_runs(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The plugin file and two finished runs on its dataset, one with maps and one without,
    registered here for the test (the console script loads the file with --plugin)."""
    from conftest import REPO

    from vadbench import datasets, detectors
    from vadbench.runner import RunRequest, run

    plugin = tmp_path / "plotscene.py"
    plugin.write_text(PLUGIN.format(tests=str(REPO / "tests"), example=str(REPO / "examples" / "vadbench-example")))
    detectors.load_file(plugin)
    try:
        for name, settings in (("plot-zscore", {"height": 24, "width": 32, "every": 1}), ("plot-toy", {})):
            run(RunRequest(name, dataset="plotscene", out=tmp_path / name, epochs=1, overrides=settings))
        yield plugin, tmp_path / "plot-zscore", tmp_path / "plot-toy"
    finally:
        for registry, name in ((detectors, "plot-zscore"), (detectors, "plot-toy"), (datasets, "plotscene")):
            registry.remove(name)


def test_maps_overlay_the_top_frames_and_a_run_without_maps_is_one_line(plugin_runs, tmp_path):
    plugin, zscore, toy = plugin_runs
    done = vadbench("plot", zscore, "--kind", "maps", "--plugin", plugin, "--out", tmp_path / "maps")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "maps" / "maps.png")]
    image = pixels(tmp_path / "maps" / "maps.png")
    assert image.shape[1::-1] == plots.figure_size("maps", 2)  # the top frame of each of the 2 test videos
    assert distinct(image) > 1000, "heat overlays on frames"
    one_line_error(vadbench("plot", toy, "--kind", "maps", "--plugin", plugin),
                   "detector 'plot-toy' returns no anomaly maps; --kind maps needs one that does")
    with pytest.raises(RunError, match="this run's detector is 'plot-zscore', not MNAD-P or MNAD-R"):
        plots.plot([zscore], "memory")


def test_maps_of_chosen_videos_show_their_frames(plugin_runs, tmp_path):
    made = plots.plot([plugin_runs[1]], "maps", out=tmp_path / "m", videos=["01"])
    assert [p.name for p in made.paths] == ["maps-01.png"]
    image = pixels(made.paths[0])
    assert image.shape[1::-1] == plots.figure_size("maps", plots.MAP_FRAMES)
    assert count(image, (1.0, 1.0, 1.0), tol=0.01) < image.shape[0] * image.shape[1] * 0.8


def test_top_frames_are_spread_over_the_video():
    curve = plots.VideoCurve("v", np.arange(4, 24), np.r_[np.linspace(0, 1, 10), np.linspace(1, 0, 10)],
                             np.zeros(20, np.int64), np.zeros(24, np.int64))
    assert plots.top_frames(curve, 2).tolist() == [13, 14]  # the peak of each half, not two neighbours of one
    assert plots.top_frames(curve, 4).tolist() == [8, 13, 14, 19]


# -- memory: MNAD's items and queries ---------------------------------------------------------
@pytest.fixture
def mnad_run(tmp_path, tiny_registered):  # type: ignore[no-untyped-def]
    """An MNAD-P run on the tiny dataset, written directly: a small untrained model (16×16, 64
    feature channels) in model.pt, its config.json, and frames.csv / metrics.json of the tiny
    dataset's test videos (00: 10 frames, 01: 14)."""
    import dataclasses

    from vadbench_mnad import MNADP

    from vadbench.config import to_dict
    from vadbench.store import atomic_torch_save

    out = tmp_path / "mnad"
    det = MNADP(dataclasses.replace(MNADP.Config(), height=16, width=16, feature_dim=64))
    det.build(0)
    run = write_run(out, "mnad", 0, "mnad-p", lengths=(10, 14))
    atomic_torch_save(det.state_dict(), run.model)
    run.write_config({"detector": "mnad-p", "detector_source": "vadbench_mnad.detector:MNADP",
                      "config": to_dict(det.config), "dataset": "tiny", "dataset_options": {},
                      "input": dataclasses.asdict(det.input_spec()), "seed": 0, "epochs": 0, "device": "cpu",
                      "protocol": get_protocol("mnad").record()})
    return out


def test_memory_draws_items_and_queries_coloured_by_nearest_item(mnad_run, tmp_path):
    from matplotlib import colormaps

    made = plots.plot([mnad_run], "memory")
    assert made.paths == [mnad_run / "figures" / "memory.png"]
    image = pixels(made.paths[0])
    assert image.shape[1::-1] == plots.figure_size("memory")
    items = colormaps["tab10"].resampled(10)(np.arange(10))[:, :3]
    drawn = [count(image, tuple(c), tol=0.02) > 30 for c in items]
    assert sum(drawn) >= 8, f"the items' colours are drawn: {drawn}"  # a star each, some maybe overlapping
    tsne = plots.plot([mnad_run], "memory", out=tmp_path / "t", videos=["01"], embedding="tsne")
    assert [p.name for p in tsne.paths] == ["memory-01.png"] and distinct(pixels(tsne.paths[0])) > 50


def test_memory_frames_mix_normal_and_anomalous():
    truth = np.r_[np.zeros(10, np.int64), np.ones(6, np.int64)]
    curve = plots.VideoCurve("v", np.arange(16), np.zeros(16), truth, truth)
    assert plots.memory_frames(curve, 4, 4).tolist() == [4, 9, 10, 15]
    assert plots.memory_frames(curve, 12, 4).tolist() == [12, 13, 14, 15]  # one class left: all from it


def test_pca_embedding_matches_scikit_learn():
    from sklearn.decomposition import PCA

    points = np.random.default_rng(0).normal(size=(40, 6)) * np.arange(1, 7)
    xy, labels = plots.embed(points)
    reference = PCA(2).fit_transform(points)
    np.testing.assert_allclose(np.abs(xy), np.abs(reference), atol=1e-9)  # components are defined up to sign
    assert labels[0].startswith("PC 1 (")


def test_importing_the_plot_code_imports_neither_matplotlib_nor_torch():
    """`vadbench list` and `table` share the CLI module with `plot`: matplotlib loads only when a figure is drawn."""
    code = ("import sys, vadbench.cli, vadbench.tables, vadbench.plots\n"
            "heavy = [m for m in ('matplotlib', 'torch') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
