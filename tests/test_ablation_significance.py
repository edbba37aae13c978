"""The ablation layout's comparison of every grid row with the grid's reference row (the method
unchanged): Δ micro AUC paired by seed, DeLong's p of each pair and a plain verdict, in every format.

The runs are fabricated with real ``frames.csv`` files (``test_tables``' helpers) so the p values
can be checked against :func:`vadbench.stats.delong` itself; each test takes about a second."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_tables import _frames_run, fake_run, vadbench
from vadbench import AblationRow, MethodCard
from vadbench.stats import EvaluatedRun, delong
from vadbench.tables import render

GRID = MethodCard(name="gridtoy", title="A toy with an ablation grid (tests).", ablations=(
    AblationRow("full", reference=True), AblationRow("worse", {"lr": 1e-3}, reported={"tiny": 50.0}),
    AblationRow("same", {"alpha": 1.0})))
VIDEOS = np.repeat(np.arange(6), 120)
LABELS = ((np.arange(len(VIDEOS)) % 120) >= 70).astype(int)


@pytest.fixture
def grid_card():
    from vadbench import cards, register_card

    register_card(GRID)
    yield
    cards.remove(GRID.name)


def make_grid(root: Path, detector: str = "gridtoy", full: str = "full", worse: str = "worse",
              same: str = "same", same_seeds: tuple[int, ...] = (0, 1)) -> Path:
    """Three seeds of the reference and of a clearly worse row, and a row identical to the reference in
    ``same_seeds`` only (a seed missing: paired on the others)."""
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        good = LABELS + rng.normal(0, 0.5, len(LABELS))
        _frames_run(root, f"full-s{seed}", good, LABELS, VIDEOS, detector, seed=seed, label=full)
        _frames_run(root, f"worse-s{seed}", LABELS + rng.normal(0, 3.0, len(LABELS)), LABELS, VIDEOS, detector,
                    seed=seed, label=worse, config={"lr": 1e-3, "epochs": 1})
        if seed in same_seeds:
            _frames_run(root, f"same-s{seed}", good, LABELS, VIDEOS, detector, seed=seed, label=same,
                        config={"lr": 0.01, "alpha": 1.0, "epochs": 1})
    return root


def direct(root: Path, row: str, seeds: tuple[int, ...]) -> list[dict[str, float]]:
    """DeLong's test of ``row`` against the reference, seed by seed, straight from vadbench.stats."""
    out = []
    for seed in seeds:
        a, b = EvaluatedRun.load(root / f"{row}-s{seed}"), EvaluatedRun.load(root / f"full-s{seed}")
        out.append(delong(a.labels, a.scores, b.scores))
    return out


def line_of(text: str, row: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {row} |"))


def test_each_row_is_compared_with_the_reference_seed_by_seed(tmp_path, grid_card):
    root = make_grid(tmp_path)
    text = render([root], "ablation")
    assert "| Δ vs reference | DeLong p | vs reference |" in text
    assert "| reference | reference | reference | [full-s0](" in line_of(text, "full")
    worse = direct(root, "worse", (0, 1, 2))
    assert all(t["p"] < 1e-6 and t["delta"] < -0.1 for t in worse)
    deltas = [100 * t["delta"] for t in worse]
    mean, std = np.mean(deltas), np.std(deltas, ddof=1)
    ps = ", ".join(f"{t['p']:.2g}" for t in worse)
    assert f"| {mean:.1f} ± {std:.1f} (n=3) | {ps} | significant: lower in 3/3 seeds, significant in 3/3 |" \
        in line_of(text, "worse")
    same = direct(root, "same", (0, 1))
    assert [t["p"] for t in same] == [1.0, 1.0] and [t["delta"] for t in same] == [0.0, 0.0]
    assert ("| 0.0 ± 0.0 (n=2) | s0: 1, s1: 1 | not significant: equal in 2/2 seeds, significant in 0/2; "
            "n=2 pairs, seed 2: only the reference has it |") in line_of(text, "same")
    assert "DeLong's p < 0.05 **and** a paired video-bootstrap 95 % interval of ΔAUC" in text
    assert "`vadbench compare ROW_SEED_RUN REFERENCE_SEED_RUN`" in text

    data = pd.read_csv(io.StringIO(render([root], "ablation", fmt="csv"))).set_index("row")
    assert data.loc["full", "vs_reference"] == "reference" and pd.isna(data.loc["full", "delta_auc_micro"])
    assert data.loc["worse", "vs_reference"] == "full" and data.loc["worse", "paired_seeds"] == "0,1,2"
    assert data.loc["worse", "delta_auc_micro"] == pytest.approx(mean, abs=1e-9)
    assert data.loc["worse", "delta_auc_micro_std"] == pytest.approx(std, abs=1e-9)
    assert data.loc["worse", "delta_auc_micro_n"] == 3 and data.loc["same", "delta_auc_micro_n"] == 2
    assert [float(p) for p in data.loc["worse", "delong_p_values"].split(",")] == [t["p"] for t in worse]
    assert data.loc["worse", "pairs_lower"] == 3 and data.loc["worse", "pairs_significant"] == 3
    assert data.loc["same", "pairs_lower"] == 0 and data.loc["same", "pairs_significant"] == 0
    assert pd.api.types.is_float_dtype(data["delta_auc_micro"]) and "verdict" not in data  # numbers, not prose
    rows = {r["row"]: r for r in json.loads(render([root], "ablation", fmt="json"))["rows"]}
    assert rows["same"]["paired_seeds"] == "0,1" and rows["same"]["delta_auc_micro"] == 0.0


def test_per_seed_rows_are_each_compared_with_the_reference_run_of_their_seed(tmp_path, grid_card):
    root = make_grid(tmp_path)
    data = pd.read_csv(io.StringIO(render([root], "ablation", fmt="csv", per_seed=True)))
    worse = data[data["row"] == "worse"].set_index("seed")
    for seed, test in zip((0, 1, 2), direct(root, "worse", (0, 1, 2))):
        assert worse.loc[seed, "delong_p_values"] == test["p"]  # a number, at full precision
        assert worse.loc[seed, "delta_auc_micro"] == pytest.approx(100 * test["delta"], abs=1e-9)
        assert worse.loc[seed, "paired_seeds"] == seed
    assert "significant: lower in 1/1 seed, significant in 1/1 |" in render([root], "ablation", per_seed=True)


def test_a_row_with_a_seed_the_reference_lacks_is_paired_on_the_others(tmp_path, grid_card):
    root = make_grid(tmp_path, same_seeds=(0, 1, 2))
    good = LABELS + np.random.default_rng(3).normal(0, 0.5, len(LABELS))
    _frames_run(root, "same-s3", good, LABELS, VIDEOS, "gridtoy", seed=3, label="same",
                config={"lr": 0.01, "alpha": 1.0, "epochs": 1})
    text = render([root], "ablation")
    assert "| 0.0 ± 0.0 (n=3) | s0: 1, s1: 1, s2: 1 |" in line_of(text, "same")
    assert "n=3 pairs, seed 3: no reference run |" in line_of(text, "same")


def test_every_format_carries_the_columns_and_renders_byte_for_byte_again(tmp_path, grid_card):
    root = make_grid(tmp_path)
    for fmt, title in (("md", "| Δ vs reference |"), ("html", "<th>Δ vs reference</th>"),
                       ("latex", r"$\Delta$ vs reference"), ("csv", "delta_auc_micro,delta_auc_micro_std"),
                       ("json", '"delta_auc_micro_n": 3')):
        first = render([root], "ablation", fmt=fmt, command="vadbench table x --layout ablation")
        assert title in first, fmt
        assert first == render([root], "ablation", fmt=fmt, command="vadbench table x --layout ablation"), fmt
    tex = "\n".join(line for line in render([root], "ablation", fmt="latex").splitlines()
                    if not line.startswith("%"))  # the notes are comments, left as written
    assert "significant: lower in 3/3 seeds, significant in 3/3" in tex and "Δ" not in tex


def test_a_grid_without_a_reference_row_gets_no_comparison_columns(tmp_path, tiny_registered):
    fake_run(tmp_path, "full", label="full")
    fake_run(tmp_path, "slow", label="slow lr", config={"lr": 0.001, "epochs": 1})
    text = render([tmp_path], "ablation")
    assert "vs reference" not in text and "DeLong" not in text
    assert "delta_auc_micro" not in render([tmp_path], "ablation", fmt="csv")


def test_rows_that_cannot_be_paired_say_why(tmp_path, grid_card):
    fake_run(tmp_path, "full-s0", detector="gridtoy", label="full")  # no frames.csv
    fake_run(tmp_path, "worse-s0", detector="gridtoy", label="worse", config={"lr": 1e-3, "epochs": 1})
    assert "| not compared (seed 0: not comparable (" in line_of(render([tmp_path], "ablation"), "worse")


def test_a_card_marks_at_most_one_reference_row():
    with pytest.raises(ValueError, match="marks 2 reference rows"):
        MethodCard(name="x", title="", ablations=(AblationRow("a", reference=True), AblationRow("b", reference=True)))


def test_the_command_line_states_mnad_p_rows_against_the_full_model(tmp_path):
    """MNAD-P's card marks "7 full model"; row 1 runs another detector (mnad-p-nomem) and is still its grid's."""
    root = make_grid(tmp_path, detector="mnad-p", full="7 full model", worse="2 memory, no compactness or "
                     "separateness loss", same="6 full model, PSNR-only score")
    for seed in (0, 1, 2):
        noisy = LABELS + np.random.default_rng(10 + seed).normal(0, 3.0, len(LABELS))
        _frames_run(root, f"nomem-s{seed}", noisy, LABELS, VIDEOS, "mnad-p-nomem", seed=seed, label="1 no memory")
    done = vadbench("table", root, "--layout", "ablation")
    assert done.returncode == 0, done.stderr
    assert "| Δ vs reference | DeLong p | vs reference |" in done.stdout
    assert "| 7 full model | mnad-p |" in done.stdout and "| reference | reference | reference |" in done.stdout
    for row in ("1 no memory", "2 memory, no compactness or separateness loss"):
        assert "significant: lower in 3/3 seeds, significant in 3/3 |" in line_of(done.stdout, row)
