"""Tables from run files: seed groups (mean ± sample std, n), every format from one model, intervals,
significance marking, and leaderboard pages that regenerate byte for byte.

Most runs here are written directly (metrics.json, config.json and, where a test needs frames,
frames.csv) with :class:`vadbench.rundir.RunDir`, so each test takes well under a second; the
command line is exercised through the installed console script."""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from vadbench.errors import ConfigError, RunError
from vadbench.protocols import Protocol, get_protocol
from vadbench.rundir import RunDir
from vadbench.tables import group_key, render

BIN = Path(sys.executable).with_name("vadbench")
TESTS = Path(__file__).resolve().parent


def vadbench(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"})


def assert_one_line_error(result: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and pattern in lines[0], result.stderr


def fake_run(root: Path, name: str, *, seed: int = 0, auc: float = 0.8, detector: str = "toy",
             config: dict | None = None, protocol: dict | None = None, epochs: int = 1, ci: dict | None = None,
             dataset: str = "tiny", with_config: bool = True, **fields: object) -> Path:
    """A finished run directory as the runner writes it, with chosen numbers."""
    run = RunDir(root / name)
    run.path.mkdir(parents=True)
    protocol = protocol or get_protocol("raw").record()
    config = {"lr": 0.01, "epochs": epochs} if config is None else config
    common = {"detector": detector, "label": fields.pop("label", None), "profile": fields.pop("profile", None),
              "dataset": dataset, "dataset_options": fields.pop("dataset_options", {}),
              "input": fields.pop("input", {"height": 16, "width": 16, "color": "gray"}), "seed": seed,
              "epochs": epochs, "device": "cpu"}
    if with_config:
        run.write_config({**common, "detector_source": "tests:Toy", "config": config, "protocol": protocol,
                          "epochs": None})
    metrics = {"frames_evaluated": 100, "frames_anomalous": 40, "videos": 2, "auc_micro": auc,
               "auc_micro_raw": auc, "auc_macro": auc - 0.05, "auc_macro_skip": auc - 0.1, "eer": 1 - auc,
               "aupr": auc + 0.01, "protocol": {**protocol, "gt_source": "exact"},
               "timings": {"score_seconds": 1.0, "score_fps": 100.0, "train_seconds": 2.0},
               "epochs_trained": epochs, **common, "deviations": {}, "missing_videos": {}, "comparable": True}
    if ci is not None:
        metrics["ci"] = ci
    run.write_metrics({**metrics, **fields})
    return run.path


def seeds_of(root: Path, aucs: list[float], name: str = "toy", **kw: object) -> list[Path]:
    return [fake_run(root, f"{name}-s{s}", seed=s, auc=a, **kw) for s, a in enumerate(aucs)]


def csv_of(paths: list[Path], **kw: object) -> pd.DataFrame:
    from io import StringIO

    return pd.read_csv(StringIO(render(paths, fmt="csv", **kw)))  # type: ignore[arg-type]


# -- seeds -----------------------------------------------------------------------------------------
def test_runs_that_differ_only_in_seed_are_one_row_with_mean_sample_std_and_n(tmp_path):
    aucs = [0.80, 0.84, 0.87]
    seeds_of(tmp_path, aucs)
    fake_run(tmp_path, "other", detector="other", auc=0.7)
    pct = [100 * a for a in aucs]
    mean, std = statistics.mean(pct), statistics.stdev(pct)  # stdev: the sample std (n − 1)
    text = render([tmp_path])
    assert "| toy | vadbench |" in text and f"{mean:.1f} ± {std:.1f} (n=3)" in text
    assert "| 0,1,2 |" in text  # the seeds of the row
    assert "[toy-s0](" in text and "[toy-s2](" in text
    assert "| other | vadbench |" in text and "| 70.0 |" in text and "70.0 ±" not in text
    assert "mean ± sample std (ddof = 1)" in text
    data = csv_of([tmp_path])
    toy = data[data["method"] == "toy"].iloc[0]
    assert toy["auc_micro"] == pytest.approx(mean, abs=1e-12) and toy["auc_micro_std"] == pytest.approx(std, abs=1e-12)
    assert toy["auc_micro_n"] == 3 and toy["seed"] == "0,1,2"
    eer = [100 * (1 - a) for a in aucs]
    assert toy["eer_std"] == pytest.approx(statistics.stdev(eer), abs=1e-12)


def test_per_seed_shows_every_run_as_its_own_row(tmp_path):
    seeds_of(tmp_path, [0.80, 0.84, 0.87])
    data = csv_of([tmp_path], per_seed=True)
    ours = data[data["kind"] == "ours"]
    assert sorted(ours["seed"]) == [0, 1, 2] and sorted(ours["auc_micro"].round(9)) == [80.0, 84.0, 87.0]
    assert "auc_micro_std" not in data  # single runs: no aggregate columns
    assert "±" not in render([tmp_path], per_seed=True)


@pytest.mark.parametrize("change", [
    {"config": {"lr": 0.001, "epochs": 1}},
    {"protocol": Protocol(name="raw", normalisation="none", drop_first=0).record()},
    {"epochs": 2},
    {"profile": "cpu"},
    {"input": {"height": 32, "width": 32, "color": "gray"}},
    {"dataset_options": {"scenes": "01"}},
    {"label": "slow lr"},
    {"detector": "toy2"},
])
def test_runs_that_differ_in_anything_but_the_seed_are_never_averaged(tmp_path, change):
    fake_run(tmp_path, "a", seed=0, auc=0.80)
    fake_run(tmp_path, "b", seed=1, auc=0.90, **change)
    data = csv_of([tmp_path])
    ours = data[data["kind"] == "ours"]
    assert len(ours) == 2, change
    assert sorted(ours["auc_micro"].round(9)) == [80.0, 90.0] and (ours["auc_micro_n"] == 1).all()


def test_the_group_key_reads_old_and_new_records_of_one_protocol_alike(tmp_path):
    new = get_protocol("raw").record()
    old = {k: v for k, v in new.items() if k not in ("base", "changed")}  # vadbench 0.1.0 wrote no base/changed
    a = fake_run(tmp_path, "a", seed=0, protocol=new)
    b = fake_run(tmp_path, "b", seed=1, protocol=old)
    from vadbench.tables import collect

    ra, rb = sorted(collect([tmp_path]), key=lambda r: r["seed"])
    assert group_key(ra) == group_key(rb)
    assert (csv_of([tmp_path])["kind"] == "ours").sum() == 1
    # the same fields under another protocol's name are another protocol (mnad* is not raw)
    fake_run(tmp_path, "c", seed=2, protocol=Protocol(normalisation="none").record())
    assert (csv_of([tmp_path])["kind"] == "ours").sum() == 2
    assert a.exists() and b.exists()


def test_a_run_whose_config_is_unknown_is_never_averaged(tmp_path):
    fake_run(tmp_path, "a", seed=0)
    fake_run(tmp_path, "b", seed=1, with_config=False)
    fake_run(tmp_path, "c", seed=2, with_config=False)
    assert (csv_of([tmp_path])["kind"] == "ours").sum() == 3


def test_evaluations_group_with_evaluations_of_the_other_seeds_never_with_the_runs(tmp_path):
    for seed in (0, 1):
        run = fake_run(tmp_path, f"toy-s{seed}", seed=seed, auc=0.8 + seed / 100)
        fake_run(run / "evals", "model-raw", seed=seed, auc=0.7 + seed / 100, with_config=False,
                 evaluation_of=str(run), checkpoint=str(run / "model.pt"))  # eval writes no config.json
    data = csv_of([tmp_path])
    assert sorted(data["auc_micro"].round(9)) == [70.5, 80.5] and (data["auc_micro_n"] == 2).all()


def test_a_runs_figures_are_linked_where_it_has_them(tmp_path):
    run = fake_run(tmp_path, "toy-s0")
    assert "| figures |" not in render([tmp_path])
    (run / "figures").mkdir()
    (run / "figures" / "roc.png").write_bytes(b"png")
    text = render([tmp_path], out=tmp_path / "t.md")
    assert "| run | figures |" in text and "[roc](toy-s0/figures/roc.png) |" in text
    assert "roc.png" not in render([tmp_path], fmt="latex")


def test_a_broken_config_is_one_line_naming_the_file(tmp_path):
    run = fake_run(tmp_path, "a")
    (run / "config.json").write_text("{not json")
    with pytest.raises(RunError, match=re.escape(str(run / "config.json"))):
        render([tmp_path])


# -- formats ---------------------------------------------------------------------------------------
def test_csv_and_json_are_tidy_and_read_back(tmp_path, tiny_registered):
    seeds_of(tmp_path, [0.80, 0.84])
    fake_run(tmp_path, "single", detector="other", auc=0.75)
    data = csv_of([tmp_path])
    assert list(data["kind"]) == ["ours", "ours", "reported"]  # toy's card publishes 61.5 on tiny
    reported = data[data["kind"] == "reported"].iloc[0]
    assert reported["source"] == "reported: a test" and reported["auc_micro"] == 61.5
    single = data[data["method"] == "other"].iloc[0]
    assert single["auc_micro"] == 100 * 0.75 and single["frames"] == 100 and single["height"] == 16
    assert pd.api.types.is_float_dtype(data["auc_micro"]) and pd.api.types.is_float_dtype(data["auc_micro_std"])
    doc = json.loads(render([tmp_path], fmt="json", command="vadbench table x --format json"))
    assert doc["generated_by"] == "vadbench table x --format json"
    rows = pd.DataFrame(doc["rows"])
    assert list(rows.columns) == list(data.columns)
    pd.testing.assert_frame_equal(rows.fillna(np.nan).astype(data.dtypes.to_dict()), data, check_dtype=False)


def _tabular_rows(tex: str) -> list[tuple[int, list[str]]]:
    """(columns, rows) of every tabular: the column count from its spec, its rows split off."""
    found = []
    for spec, body in re.findall(r"\\begin\{tabular\}\{([lrc]+)\}(.*?)\\end\{tabular\}", tex, re.S):
        rows = [line for line in body.splitlines() if line.strip().endswith(r"\\")]
        found.append((len(spec), rows))
    return found


def test_latex_uses_booktabs_bolds_the_best_and_balances(tmp_path):
    seeds_of(tmp_path, [0.80, 0.84, 0.87], name="toy")
    fake_run(tmp_path, "b", detector="memae", auc=0.70, eer=0.1)  # worse AUC, but the best (lowest) EER
    tex = render([tmp_path], out=tmp_path / "t.tex", command="vadbench table runs --out t.tex")
    assert tex.startswith("% generated by `vadbench table runs --out t.tex`")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    assert re.findall(r"\\begin\{(\w+)\}", tex) == ["table", "tabular"]
    assert re.findall(r"\\end\{(\w+)\}", tex) == ["tabular", "table"]
    assert tex.count("{") == tex.count("}") + tex.count(r"\}") - tex.count(r"\{")
    tables = _tabular_rows(tex)
    assert len(tables) == 1
    columns, rows = tables[0]
    assert len(rows) == 1 + 2  # header and our two entries (no published numbers without a card)
    for row in rows:
        assert len(re.findall(r"(?<!\\)&", row)) == columns - 1, row
    pct = [80.0, 84.0, 87.0]
    group_cell = rf"$\mathbf{{{statistics.mean(pct):.1f} \pm {statistics.stdev(pct):.1f}}}$"
    assert group_cell in tex  # the best micro AUC, bold, with its ± std
    assert r"$\mathbf{10.0}$" in tex and r"$\mathbf{16.3" not in tex  # the best EER is the lowest
    caption = re.search(r"\\caption\{(.*)\}", tex).group(1)  # type: ignore[union-attr]
    assert "raw, drop 4/0, none" in caption.replace(r"\_", "_") and "Bold: the best of our rows" in caption


def test_latex_compiles_with_pdflatex_where_installed(tmp_path):
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("pdflatex is not installed here; the structural LaTeX checks above still ran")
    seeds_of(tmp_path / "runs", [0.80, 0.84])
    body = render([tmp_path / "runs"], fmt="latex", ci=True)
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + body + "\\end{document}\n")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:]


class _Cells(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "table":
            self.tables += 1
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.rows[-1].append(tag)


def test_html_is_a_plain_table_with_one_cell_per_column(tmp_path):
    seeds_of(tmp_path, [0.80, 0.84])
    fake_run(tmp_path, "x", dataset="other-set", auc=0.6)
    text = render([tmp_path], fmt="html")
    parser = _Cells()
    parser.feed(text)
    assert parser.tables == 2  # one per dataset
    header = parser.rows[0]
    assert set(header) == {"th"} and all(len(r) == len(header) for r in parser.rows)
    assert "82.0 ± 2.8 (n=2)" in text


def test_the_format_follows_the_out_suffix_and_a_bad_one_is_one_line(tmp_path):
    runs = tmp_path / "runs"
    seeds_of(runs, [0.80, 0.84])
    for suffix, first in ((".csv", "dataset,kind,method"), (".tex", "% generated by"), (".md", "<!-- generated by"),
                          (".html", "<!-- generated by"), (".json", "{")):
        out = tmp_path / f"t{suffix}"
        done = vadbench("table", runs, "--out", out)
        assert done.returncode == 0, done.stderr
        assert out.read_text().startswith(first), suffix
    assert pd.read_csv(tmp_path / "t.csv")["auc_micro_n"].tolist() == [2]
    assert_one_line_error(vadbench("table", runs, "--out", tmp_path / "t.txt"), "from its suffix '.txt'")
    assert_one_line_error(vadbench("table", runs, "--format", "pdf"), "unknown table format 'pdf'")
    assert_one_line_error(vadbench("table", runs, "--format", "md", "--out", tmp_path / "u.csv"),
                          "--format md does not match")
    assert not (tmp_path / "t.txt").exists() and not (tmp_path / "u.csv").exists()
    done = vadbench("table", runs, "--format", "csv")
    assert done.returncode == 0 and done.stdout.startswith("dataset,kind,method")


def test_a_note_file_goes_right_under_the_table_and_its_command_remakes_the_page(tmp_path):
    runs = tmp_path / "runs"
    seeds_of(runs, [0.80, 0.84])
    note = tmp_path / "note.txt"
    note.write_text("What it shows: two seeds\nof a toy.\n  \nWhat it does not: anything real.\n")  # a blank line of spaces
    out = tmp_path / "t.md"
    done = vadbench("table", runs, "--note", note, "--out", out)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert f"--note {note} --out {out}`" in page.splitlines()[0]
    table_end = page.index("\n\n", page.index("| toy"))
    assert page[table_end:].startswith("\n\nWhat it shows: two seeds of a toy.\n\nWhat it does not: anything real.\n\nAUC")
    html_page = render([runs], fmt="html", note=note)
    assert "<p>What it shows: two seeds of a toy.</p>" in html_page
    assert_one_line_error(vadbench("table", runs, "--note", tmp_path / "absent.txt"), "--note")
    (tmp_path / "empty.txt").write_text("\n \n")
    assert_one_line_error(vadbench("table", runs, "--note", tmp_path / "empty.txt"), "is empty")


# -- intervals -------------------------------------------------------------------------------------
def _ci(lo: float, hi: float) -> dict:
    return {"auc_micro": [lo, hi], "auc_macro": [lo - 0.05, hi - 0.05], "eer": [1 - hi, 1 - lo], "level": 0.95,
            "resamples": 1000, "seed": 0, "unit": "video"}


def test_ci_shows_each_seeds_interval_per_seed_and_the_mean_interval_for_a_group(tmp_path):
    fake_run(tmp_path, "s0", seed=0, auc=0.80, ci=_ci(0.70, 0.88))
    fake_run(tmp_path, "s1", seed=1, auc=0.84, ci=_ci(0.76, 0.90))
    per_seed = render([tmp_path], per_seed=True, ci=True)
    assert "80.0 [70.0, 88.0]" in per_seed and "84.0 [76.0, 90.0]" in per_seed
    grouped = render([tmp_path], ci=True)
    assert "82.0 ± 2.8 (n=2) [73.0, 89.0]" in grouped  # mean of the lower and of the upper bounds
    assert "not a combined interval" in grouped
    data = csv_of([tmp_path], ci=True)
    assert data["auc_micro_ci_lo"].tolist() == [pytest.approx(73.0)] and data["eer_ci_hi"].tolist() == [pytest.approx(27.0)]
    assert not re.search(r"\d \[\d", render([tmp_path]))  # no --ci: no intervals


def test_a_run_without_ci_shows_none_and_a_group_with_one_such_seed_none_either(tmp_path):
    fake_run(tmp_path, "s0", seed=0, auc=0.80, ci=_ci(0.70, 0.88))
    fake_run(tmp_path, "s1", seed=1, auc=0.84)  # an older run: no "ci" in its metrics.json
    assert "[70.0, 88.0]" in render([tmp_path], per_seed=True, ci=True)
    assert "82.0 ± 2.8 (n=2) |" in render([tmp_path], ci=True)
    assert csv_of([tmp_path], ci=True)["auc_micro_ci_lo"].isna().all()


# -- significance ----------------------------------------------------------------------------------
@pytest.fixture
def fake_stats(monkeypatch):
    """vadbench.stats replaced by a recorder with a chosen p (the real one is tested below)."""
    calls: list[tuple[str, str]] = []
    state = SimpleNamespace(p=0.01, ci=[0.05, 0.15], calls=calls, error=None)

    def compare_runs(a: Path, b: Path) -> dict:
        calls.append((a.name, b.name))
        if state.error:
            raise state.error
        return {"auc_a": 0.9, "auc_b": 0.8, "delta": 0.1, "delta_ci": state.ci, "z": 2.5, "p": state.p}

    import vadbench

    module = SimpleNamespace(compare_runs=compare_runs)
    monkeypatch.setitem(sys.modules, "vadbench.stats", module)
    monkeypatch.setattr(vadbench, "stats", module, raising=False)
    return state


def test_mark_best_bolds_only_a_significant_winner_against_the_runner_up(tmp_path, fake_stats):
    fake_run(tmp_path, "best", detector="a", auc=0.90)
    fake_run(tmp_path, "second", detector="b", auc=0.85)
    fake_run(tmp_path, "third", detector="c", auc=0.60)
    text = render([tmp_path], mark_best=True)
    assert fake_stats.calls == [("best", "second")]
    assert "| **90.0** |" in text and "marked: a vs b, DeLong p = 0.01, video-bootstrap ΔAUC [+5.0, +15.0]" in text
    fake_stats.p = 0.2
    text = render([tmp_path], mark_best=True)
    assert "**" not in text.split("\n\n")[3] and "not marked: a vs b, DeLong p = 0.2" in text
    fake_stats.p, fake_stats.ci = 1e-7, [-0.02, 0.15]  # DeLong alone would mark it; the video bootstrap does not
    text = render([tmp_path], mark_best=True)
    assert "**" not in text.split("\n\n")[3] and "not marked: a vs b, DeLong p = 1e-07, video-bootstrap ΔAUC [-2.0" in text
    fake_stats.p, fake_stats.ci = 0.2, [0.05, 0.15]
    fake_stats.error = RunError("different protocols")
    assert "not marked: a vs b cannot be compared (different protocols)" in render([tmp_path], mark_best=True)
    assert "**90.0**" not in render([tmp_path])  # without --mark-best nothing is bold in Markdown


def test_mark_best_compares_seed_groups_through_their_lowest_common_seed(tmp_path, fake_stats):
    seeds_of(tmp_path, [0.90, 0.92, 0.94], name="a", detector="a")
    fake_run(tmp_path, "b-s1", detector="b", seed=1, auc=0.85)
    fake_run(tmp_path, "b-s2", detector="b", seed=2, auc=0.86)
    text = render([tmp_path], mark_best=True)
    assert fake_stats.calls == [("a-s1", "b-s1")] and "(seed 1)" in text
    assert "**92.0 ± 2.0** (n=3)" in text
    fake_run(tmp_path / "c", "c-s5", detector="c", seed=5, auc=0.93)  # the runner-up now, sharing no seed with a
    fake_stats.calls.clear()
    text = render([tmp_path], mark_best=True)
    assert fake_stats.calls == [] and "share no seed to compare" in text and "**" not in text.split("## tiny")[1][:2000]


def _frames_run(root: Path, name: str, scores: np.ndarray, labels: np.ndarray, videos: np.ndarray,
                detector: str, **fields: object) -> Path:
    """A run with a real frames.csv and the metrics evaluate() gives it under the raw protocol
    (``fields``: :func:`fake_run`'s, e.g. ``seed`` and ``label``)."""
    from vadbench.metrics import evaluate

    protocol = get_protocol("raw")
    pairs = [(scores[videos == v], labels[videos == v]) for v in np.unique(videos)]
    m = evaluate(pairs, protocol)
    path = fake_run(root, name, detector=detector, auc=m["auc_micro"], **fields)
    frame = np.concatenate([np.arange((videos == v).sum()) for v in np.unique(videos)])
    RunDir(path).write_frames(pd.DataFrame({"video": [f"{v:02d}" for v in videos], "frame": frame, "label": labels,
                                            "score": scores}))
    return path


def test_mark_best_with_the_real_delong_test_through_the_command_line(tmp_path):
    pytest.importorskip("vadbench.stats")
    rng = np.random.default_rng(0)
    videos = np.repeat(np.arange(6), 120)
    labels = ((np.arange(len(videos)) % 120) >= 70).astype(int)
    good = labels + rng.normal(0, 0.5, len(labels))
    noisy = labels + rng.normal(0, 3.0, len(labels))
    clear, close = tmp_path / "clear", tmp_path / "close"
    _frames_run(clear, "good", good, labels, videos, "good")
    _frames_run(clear, "noisy", noisy, labels, videos, "noisy")
    _frames_run(close, "good", good, labels, videos, "good")
    _frames_run(close, "twin", good + rng.normal(0, 1e-3, len(labels)), labels, videos, "twin")  # all but equal
    from vadbench.stats import compare_runs

    assert compare_runs(clear / "good", clear / "noisy")["p"] < 0.05
    p_close = compare_runs(close / "good", close / "twin")["p"]
    assert p_close >= 0.05
    done = vadbench("table", clear, "--mark-best")
    assert done.returncode == 0, done.stderr
    assert re.search(r"\| good \| vadbench \|[^\n]*\| \*\*\d+\.\d\*\* \|", done.stdout) and "marked: good vs noisy" in done.stdout
    done = vadbench("table", close, "--mark-best")
    assert done.returncode == 0, done.stderr
    assert "**" not in done.stdout.split("## tiny")[1].split("\n\n")[1] and "not marked" in done.stdout


# -- the command line: seeds and leaderboards --------------------------------------------------------
PLUGIN = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import vadbench
from conftest import TOY_CARD, TinyAdapter, ToyAE

vadbench.register_dataset("tiny")(TinyAdapter)
vadbench.register_detector("toy")(ToyAE)
vadbench.register_card(TOY_CARD)
"""


@pytest.mark.slow
def test_run_seeds_makes_one_run_per_seed_and_the_table_averages_them(tmp_path):
    plugin = tmp_path / "toy_plugin.py"
    plugin.write_text(PLUGIN)
    common = ["--dataset", "tiny", "--plugin", plugin, "--epochs", "1"]
    assert_one_line_error(vadbench("run", "toy", *common, "--seed", "1", "--seeds", "0,1"), "exclusive")
    assert_one_line_error(vadbench("run", "toy", *common, "--seeds", "0,1", "--out", tmp_path / "x"), "{seed}")
    assert not (tmp_path / "x").exists()
    done = vadbench("run", "toy", *common, "--seeds", "0-1", "--out", tmp_path / "runs" / "toy-s{seed}")
    assert done.returncode == 0, done.stderr
    records = [json.loads((tmp_path / "runs" / f"toy-s{s}" / "metrics.json").read_text()) for s in (0, 1)]
    assert [r["seed"] for r in records] == [0, 1]
    pct = [100 * r["auc_micro"] for r in records]
    assert f"{statistics.mean(pct):.2f} ± {statistics.stdev(pct):.2f} %" in done.stderr  # the closing summary
    done = vadbench("table", tmp_path / "runs", "--format", "csv")
    row = pd.read_csv(__import__("io").StringIO(done.stdout)).iloc[0]
    assert row["auc_micro_n"] == 2 and row["auc_micro"] == pytest.approx(statistics.mean(pct), abs=1e-9)
    # an ablation grid takes --seeds too: one grid per seed, each grid row averaged over the seeds
    done = vadbench("ablate", "toy", *common, "--seeds", "0,1", "--out", tmp_path / "grid-s{seed}")
    assert done.returncode == 0, done.stderr
    assert sorted(p.parent.name for p in tmp_path.glob("grid-s*/*/metrics.json")) == ["full", "full", "slow_lr", "slow_lr"]


def test_ablation_layout_groups_grid_rows_over_seeds(tmp_path, tiny_registered):
    for s, (full, slow) in enumerate([(0.80, 0.70), (0.84, 0.72)]):
        fake_run(tmp_path / f"grid-s{s}", "full", seed=s, auc=full, label="full")
        fake_run(tmp_path / f"grid-s{s}", "slow_lr", seed=s, auc=slow, label="slow lr", config={"lr": 0.001, "epochs": 1})
    text = render([tmp_path], "ablation")
    assert "| full | toy | 16×16 | 1 | 0,1 | 82.0 ± 2.8 (n=2) |" in text
    assert "| slow lr | toy | 16×16 | 1 | 0,1 | 71.0 ± 1.4 (n=2) | 50.0 |" in text
    assert text.index("| full |") < text.index("| slow lr |")  # the card's grid order


def test_rendering_is_deterministic_in_every_format(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    names = [("x-s0", 0, 0.8), ("x-s1", 1, 0.83), ("y", 0, 0.7)]
    for name, seed, auc in names:
        fake_run(a, name, seed=seed, auc=auc, detector=name[0], ci=_ci(auc - 0.1, auc + 0.05))
    for name, seed, auc in reversed(names):  # created in the other order
        fake_run(b, name, seed=seed, auc=auc, detector=name[0], ci=_ci(auc - 0.1, auc + 0.05))
    for fmt in ("md", "csv", "latex", "html", "json"):
        first = render([a], fmt=fmt, ci=True, command="vadbench table a")
        assert first == render([a], fmt=fmt, ci=True, command="vadbench table a")
        assert first == render([b], fmt=fmt, ci=True, command="vadbench table a").replace(str(b), str(a))


def _regenerate(folder: Path) -> dict[str, bytes]:
    """`make leaderboard-tables` (the pages; `make leaderboards` draws the figures first) in ``folder``
    (a copy): every page's bytes afterwards."""
    venv = Path(sys.executable).parent.parent
    done = subprocess.run(["make", "-s", "-o", str(venv / "bin" / "vadbench"), "leaderboard-tables", f"VENV={venv}"],
                          cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return _pages(folder)


def _pages(folder: Path) -> dict[str, bytes]:
    """The bytes of the Makefile's pages (.md .tex .html) in ``folder``/leaderboards; the sweep specs
    (.toml) beside them are not pages."""
    return {p.name: p.read_bytes() for p in sorted((folder / "leaderboards").glob("*.*"))
            if p.suffix in (".md", ".tex", ".html")}


def test_make_leaderboards_regenerates_every_page_byte_for_byte(tmp_path):
    """Each page starts with the command that makes it; `make leaderboards` runs them all. On the
    committed run files (``git archive HEAD``, so that a rerun in progress in this checkout does not
    count) it must give back the committed pages exactly, twice over, and the README links each."""
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.skip("needs make and git to copy the committed leaderboards")
    archive = subprocess.run(["git", "archive", "HEAD", "leaderboards"], cwd=REPO, capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"not a git checkout with a HEAD: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(REPO / name, tmp_path / name)
    committed = _pages(tmp_path)
    pages = [name for name in committed if name != "README.md"]
    assert len(pages) >= 2
    readme = committed["README.md"].decode()
    for name in pages:
        head = committed[name].decode().splitlines()[0]
        assert re.search(r"generated by `vadbench table [^`]*--out leaderboards/" + re.escape(name) + "`", head), name
        assert f"({name})" in readme, f"leaderboards/README.md does not link {name}"
    first = _regenerate(tmp_path)
    assert first == committed, [n for n in committed if first.get(n) != committed[n]]
    assert _regenerate(tmp_path) == first


def test_the_seed_grouping_refuses_nothing_silently_on_bad_layouts(tmp_path):
    fake_run(tmp_path, "a")
    with pytest.raises(ConfigError, match="unknown layout"):
        render([tmp_path], "grid")


# -- pixel and region criteria ------------------------------------------------------------------------
REGION_RECORD = {"alpha": 0.1, "beta": 0.1, "iou": "inclusive", "gt_source": "masks", "region_source": "maps",
                 "region_rule": {"rule": "top_fraction", "top_fraction": 0.01, "threshold": 0.7, "score": "max"}}


def test_pixel_and_region_columns_appear_when_a_run_has_them_and_are_blank_otherwise(tmp_path):
    fake_run(tmp_path, "plain", detector="plain", auc=0.8)
    fake_run(tmp_path, "located", detector="located", auc=0.7, pixel_auc_ucsd=0.6, rbdc=0.42, tbdc=0.855,
             regions=REGION_RECORD)
    text = render([tmp_path])
    assert "| pixel AUC | RBDC | TBDC | region protocol |" in text and "| pixel AUROC |" not in text
    protocol = "α=0.1, β=0.1, IoU inclusive, gt_source=masks, regions from maps (top 1 %, max score)"
    assert f"| 60.0 | 42.0 | 85.5 | {protocol} |" in text
    plain = next(line for line in text.splitlines() if line.startswith("| plain |"))
    assert "| 80.0 | 75.0 | 20.0 | 81.0 | 80.0 |  |  |  |  | 100 |" in plain  # blank, never 0
    assert "*RBDC*/*TBDC*: region- and track-based detection criteria" in text
    table = csv_of([tmp_path]).set_index("method")
    assert table.loc["located", "rbdc"] == pytest.approx(42.0) and table.loc["located", "region_protocol"] == protocol
    assert pd.isna(table.loc["plain", "rbdc"]) and pd.isna(table.loc["plain", "pixel_auc_ucsd"])
    latex = render([tmp_path], fmt="latex")
    assert r"Region protocol of RBDC and TBDC (in \%): $\alpha$=0.1, $\beta$=0.1, IoU inclusive, gt\_source=masks" in latex
    assert "& pixel AUC & RBDC & TBDC & frames" in latex
    only_plain = render([tmp_path / "plain"])
    assert "RBDC" not in only_plain and "pixel AUC" not in only_plain and "region protocol" not in only_plain


def test_runs_of_different_region_protocols_are_never_averaged(tmp_path):
    fake_run(tmp_path, "toy-s0", seed=0, rbdc=0.4, tbdc=0.8, regions=REGION_RECORD)
    fake_run(tmp_path, "toy-s1", seed=1, rbdc=0.5, tbdc=0.9, regions={**REGION_RECORD, "gt_source": "track_file"})
    fake_run(tmp_path, "toy-s2", seed=2, rbdc=0.6, tbdc=0.9, regions={**REGION_RECORD, "region_source": "detector"})
    text = render([tmp_path])
    assert "(n=" not in text and text.count("| toy | vadbench |") == 3
    assert "gt_source=track_file, regions from maps" in text and "gt_source=masks, the detector's regions" in text
    fake_run(tmp_path / "same", "toy-s0", seed=0, rbdc=0.4, tbdc=0.8, regions=REGION_RECORD)
    fake_run(tmp_path / "same", "toy-s1", seed=1, rbdc=0.5, tbdc=0.9, regions=REGION_RECORD)
    assert "45.0 ± 7.1 (n=2)" in render([tmp_path / "same"])
