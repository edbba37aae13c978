"""Uncertainty and significance: video-bootstrap intervals in every metrics record, DeLong's test,
the paired bootstrap of ΔAUC and `vadbench compare` (docs/protocols.md §8)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from vadbench import metrics as M
from vadbench.errors import ConfigError, RunError
from vadbench.protocols import Protocol, get_protocol
from vadbench.rundir import RunDir
from vadbench.stats import compare_all, compare_runs, delong, delong_components, delong_covariance, paired_bootstrap

BIN = Path(sys.executable).parent / "vadbench"
RAW = Protocol(name="t", drop_first=0, normalisation="none")


def fake_videos(rng: np.random.Generator, n_videos: int, length: int = 60, shift: float = 1.0,
                decimals: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Videos of one distribution: an anomalous stretch at a random place, a per-video offset (so
    frames of a video are correlated), scores rounded so that ties occur."""
    videos = []
    for _ in range(n_videos):
        y = np.zeros(length, np.int64)
        start = rng.integers(0, length // 2)
        y[start:start + rng.integers(0, length // 2)] = 1
        s = rng.normal(size=length) + shift * y + rng.normal(scale=0.7)
        videos.append((np.round(s, decimals), y))
    return videos


def concat(videos, weights=None):
    """Scores and labels of the videos, each repeated its multiplicity times (the explicit resample)."""
    weights = np.ones(len(videos), int) if weights is None else weights
    s = np.concatenate([np.tile(v[0], k) for v, k in zip(videos, weights)])
    y = np.concatenate([np.tile(v[1], k) for v, k in zip(videos, weights)])
    return s, y


# -- the video bootstrap -----------------------------------------------------------------------
def test_pair_counts_give_sklearns_micro_auc_exactly_with_ties():
    videos = fake_videos(np.random.default_rng(0), 12, decimals=0)  # integer scores: many ties
    s, y = concat(videos)
    assert len(np.unique(s)) < len(s) / 5
    counts, pos, neg = M.pair_counts(videos)
    identity = M.micro_auc_of_resamples(counts, pos, neg, np.ones((1, len(videos))))[0]
    assert abs(identity - roc_auc_score(y, s)) < 1e-12
    padded = [M.padded_auc(v[1], v[0]) for v in videos]
    assert np.allclose(M.padded_aucs(counts, pos, neg), padded, atol=1e-12, rtol=0)


def test_a_resample_equals_the_metrics_of_its_explicit_copies():
    videos = fake_videos(np.random.default_rng(1), 9)
    counts, pos, neg = M.pair_counts(videos)
    weights = M.resample_videos(len(videos), 5, seed=3)
    assert (weights.sum(axis=1) == len(videos)).all() and (weights == 0).any()  # some videos left out
    micro = M.micro_auc_of_resamples(counts, pos, neg, weights)
    eers = M.eer_of_resamples(videos, weights)
    for w, got_auc, got_eer in zip(weights, micro, eers):
        s, y = concat(videos, w)
        assert abs(got_auc - roc_auc_score(y, s)) < 1e-12
        assert abs(got_eer - M.eer(y, s)) < 1e-9  # brentq's tolerance, the closed form is exact


def test_every_metrics_record_has_a_video_bootstrap_interval_containing_the_estimate():
    m = M.evaluate(fake_videos(np.random.default_rng(2), 20), RAW)
    ci = m["ci"]
    assert ci["level"] == 0.95 and ci["resamples"] == 1000 and ci["seed"] == 0 and ci["unit"] == "video"
    for key in ("auc_micro", "auc_macro", "eer"):
        lo, hi = ci[key]
        assert lo < m[key] < hi, (key, lo, m[key], hi)
    again = M.evaluate(fake_videos(np.random.default_rng(2), 20), RAW)["ci"]
    other = M.evaluate(fake_videos(np.random.default_rng(2), 20), RAW, ci_seed=1)["ci"]
    assert again == ci and other["seed"] == 1 and other["auc_micro"] != ci["auc_micro"]
    assert "ci" not in M.evaluate(fake_videos(np.random.default_rng(2), 20), RAW, ci_resamples=0)


def test_the_interval_shrinks_as_videos_are_added():
    few, many = (M.video_bootstrap(fake_videos(np.random.default_rng(4), n), resamples=300) for n in (10, 80))
    for key in ("auc_micro", "auc_macro", "eer"):
        assert np.diff(many[key])[0] < 0.7 * np.diff(few[key])[0], key  # ~1/sqrt(8) = 0.35 expected


def test_identical_videos_give_a_zero_width_interval():
    video = fake_videos(np.random.default_rng(5), 1)[0]
    m = M.evaluate([video] * 7, RAW)
    for key in ("auc_micro", "auc_macro", "eer"):
        lo, hi = m["ci"][key]
        assert lo == pytest.approx(m[key], abs=1e-12) and hi == pytest.approx(m[key], abs=1e-12), key


def test_resamples_of_one_class_are_counted_and_left_out():
    one_class = (np.array([0.1, 0.2, 0.3]), np.array([0, 0, 0]))
    two_class = (np.array([0.1, 0.5, 0.9]), np.array([0, 1, 1]))
    ci = M.video_bootstrap([one_class, two_class], resamples=200)
    assert 0 < ci["undefined"] < 200  # about a quarter of the draws take the normal video twice
    assert all(np.isfinite(ci["auc_micro"])) and all(np.isfinite(ci["eer"]))


# -- DeLong ------------------------------------------------------------------------------------
def delong_by_definition(labels, scores_a, scores_b):
    """DeLong et al. (1988) from explicit pairwise comparisons: ψ(x, y) = 1, ½, 0 for x >, =, < y."""
    pos, neg = labels == 1, labels == 0
    components = []
    for s in (scores_a, scores_b):
        x, y = s[pos][:, None], s[neg][None, :]
        psi = (x > y) + 0.5 * (x == y)
        components.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    aucs = np.array([c[0] for c in components])
    s10 = np.cov(np.vstack([c[1] for c in components]))
    s01 = np.cov(np.vstack([c[2] for c in components]))
    cov = s10 / pos.sum() + s01 / neg.sum()
    return aucs, cov


def test_fast_delong_equals_the_quadratic_definition_with_ties():
    rng = np.random.default_rng(6)
    labels = (rng.random(70) < 0.4).astype(int)
    a = np.round(rng.normal(size=70) + labels, 1)
    b = np.round(0.6 * a + rng.normal(size=70) * 0.8, 1)  # correlated with a, as two detectors are
    aucs, v10, v01 = delong_components(labels, np.vstack([a, b]))
    ref_aucs, ref_cov = delong_by_definition(labels, a, b)
    assert np.allclose(aucs, ref_aucs, atol=1e-10, rtol=0)
    assert np.allclose(delong_covariance(v10, v01), ref_cov, atol=1e-10, rtol=0)
    result = delong(labels, a, b)
    z = (ref_aucs[0] - ref_aucs[1]) / math.sqrt(ref_cov[0, 0] + ref_cov[1, 1] - 2 * ref_cov[0, 1])
    assert result["z"] == pytest.approx(z, abs=1e-9)
    assert result["p"] == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)  # 2·(1 − Φ(|z|))
    assert result["auc_a"] == pytest.approx(roc_auc_score(labels, a), abs=1e-12)
    assert 0 < result["p"] < 1


def test_delong_of_identical_scores_is_no_difference():
    labels = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    assert delong(labels, s, s) == {"auc_a": pytest.approx(roc_auc_score(labels, s)),
                                    "auc_b": pytest.approx(roc_auc_score(labels, s)),
                                    "delta": 0.0, "z": 0.0, "p": 1.0}


def test_delong_finds_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(7)
    labels = (rng.random(2000) < 0.5).astype(int)
    noise = rng.normal(size=2000)
    assert delong(labels, labels + noise, labels + 2 * noise)["p"] < 1e-6
    assert delong(labels, labels + noise, labels + noise + 1e-3 * rng.normal(size=2000))["p"] > 0.05


# -- the paired bootstrap ----------------------------------------------------------------------
def test_paired_bootstrap_draws_the_same_videos_for_both_runs():
    videos_a = fake_videos(np.random.default_rng(8), 15)
    rng = np.random.default_rng(9)
    videos_b = [(np.round(s + rng.normal(size=len(s)), 1), y) for s, y in videos_a]
    boot = paired_bootstrap(videos_a, videos_b, resamples=300, seed=2)
    weights = M.resample_videos(15, 300, 2)
    ca, pos, neg = M.pair_counts(videos_a)
    cb, _, _ = M.pair_counts(videos_b)
    delta = M.micro_auc_of_resamples(ca, pos, neg, weights) - M.micro_auc_of_resamples(cb, pos, neg, weights)
    assert np.allclose(boot["delta_micro"], np.percentile(delta, [2.5, 97.5]), atol=1e-12, rtol=0)
    point = roc_auc_score(*concat(videos_a)[::-1]) - roc_auc_score(*concat(videos_b)[::-1])
    assert boot["delta_micro"][0] < point < boot["delta_micro"][1]
    assert paired_bootstrap(videos_a, videos_a)["delta_micro"] == [0.0, 0.0]
    assert paired_bootstrap(videos_a, videos_a)["delta_macro"] == [0.0, 0.0]


# -- run directories and `vadbench compare` ----------------------------------------------------
def write_run(path: Path, table: pd.DataFrame, protocol: Protocol | None = None, dataset: str = "synthetic") -> Path:
    """A finished run directory written directly: frames.csv, config.json and metrics.json."""
    protocol = protocol or get_protocol("raw")
    run = RunDir(path)
    path.mkdir(parents=True)
    record = {**protocol.record(), "video_order": "sorted"}
    run.write_config({"detector": "framediff", "detector_source": "test", "config": {}, "dataset": dataset,
                      "dataset_options": {}, "input": {}, "seed": 0, "epochs": 0, "device": "cpu",
                      "protocol": record})
    run.write_frames(table)
    groups = [g for _, g in table.groupby("video", sort=True)]
    metrics = M.evaluate([(g["score"].to_numpy(np.float64), g["label"].to_numpy()) for g in groups], protocol)
    run.write_metrics({**metrics, "protocol": record, "detector": "framediff", "dataset": dataset,
                       "dataset_options": {}, "input": {}})
    return path


def frames_table(seed: int, noise: float, videos: int = 6, length: int = 40) -> pd.DataFrame:
    """frames.csv rows of a fabricated detector: the same labels for every seed, scores = label + noise."""
    labels = np.zeros((videos, length), int)
    for v in range(videos):
        labels[v, 10 + 3 * v: 25 + 2 * v] = 1
    rng = np.random.default_rng(seed)
    scores = np.round(labels + noise * rng.normal(size=labels.shape), 2)
    scores[:, 0] = np.nan  # an undecided first frame, filled by the protocol
    return pd.DataFrame({"video": np.repeat([f"{v:02d}" for v in range(videos)], length),
                         "frame": np.tile(np.arange(length), videos), "label": labels.ravel(),
                         "score": scores.ravel()})


@pytest.fixture
def two_runs(tmp_path):
    return write_run(tmp_path / "a", frames_table(0, 0.6)), write_run(tmp_path / "b", frames_table(1, 0.9))


def processed(table: pd.DataFrame, protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    pairs = [M.process_video(g["score"].to_numpy(np.float64), g["label"].to_numpy(), protocol)
             for _, g in table.groupby("video", sort=True)]
    return np.concatenate([s for s, _ in pairs]), np.concatenate([y for _, y in pairs])


def test_compare_runs_pairs_the_processed_frames(two_runs):
    a, b = two_runs
    result = compare_runs(a, b)
    raw = get_protocol("raw")
    (sa, y), (sb, _) = processed(frames_table(0, 0.6), raw), processed(frames_table(1, 0.9), raw)
    assert len(y) == 6 * 36  # drop_first = 4
    expected = delong(y, sa, sb)
    assert {k: result[k] for k in expected} == expected
    assert result["auc_a"] == pytest.approx(json.loads((a / "metrics.json").read_text())["auc_micro"], abs=1e-12)
    lo, hi = result["delta_ci"]
    assert lo < result["delta"] < hi and result["delta"] > 0  # less noise, better AUC
    assert result["significant"] == (result["p"] < 0.05 and not lo <= 0 <= hi)


def test_compare_runs_under_one_named_protocol(two_runs, tmp_path):
    a, _ = two_runs
    same = write_run(tmp_path / "same-mnad", frames_table(0, 0.6), protocol=get_protocol("mnad"))
    with pytest.raises(RunError, match="different protocols"):
        compare_runs(a, same)
    result = compare_runs(a, same, protocol="raw")  # the same scores, now processed alike
    assert (result["delta"], result["p"], result["delta_ci"], result["significant"]) == (0.0, 1.0, [0.0, 0.0], False)
    under_mnad = compare_runs(a, same, protocol="mnad")
    assert under_mnad["auc_a"] == pytest.approx(json.loads((same / "metrics.json").read_text())["auc_micro"], abs=1e-12)
    with pytest.raises(ConfigError, match="unknown protocol"):
        compare_all([a, same], protocol="nosuch")


def vadbench(*args, cwd=None):
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, cwd=cwd, check=False,
                          env={**os.environ, "COLUMNS": "250"})


@pytest.mark.usefixtures("two_runs")
def test_compare_command_prints_delongs_p_and_writes_json(tmp_path):
    write_run(tmp_path / "c", frames_table(2, 0.6))
    r = vadbench("compare", "a", "b", "c", "--json", "cmp.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [line.split("│") for line in r.stderr.splitlines() if line.startswith(("│ a ", "│ b "))]
    assert len(rows) == 3  # a-b, a-c, b-c
    raw = get_protocol("raw")
    y = processed(frames_table(0, 0.6), raw)[1]
    scores = {name: processed(frames_table(seed, noise), raw)[0] for name, seed, noise in
              (("a", 0, 0.6), ("b", 1, 0.9), ("c", 2, 0.6))}
    for row in rows:
        first, second, p = row[1].strip(), row[2].strip(), row[-2].strip()
        assert p == f"{delong(y, scores[first], scores[second])['p']:.4g}", row
    saved = json.loads((tmp_path / "cmp.json").read_text())["comparisons"]
    assert [(s["run_a"], s["run_b"]) for s in saved] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert saved[0]["p"] == delong(y, scores["a"], scores["b"])["p"]


def one_error_line(result, *fragments: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_compare_refuses_runs_that_cannot_be_paired(two_runs, tmp_path):
    """Each refusal through the API; the command's one-line form of it through the console script."""
    table = frames_table(3, 0.6)
    write_run(tmp_path / "ped2", table, dataset="ped2")
    write_run(tmp_path / "mnad", table, protocol=get_protocol("mnad"))
    write_run(tmp_path / "short", table[~((table.video == "02") & (table.frame == 39))])
    flipped = table.copy()
    flipped.loc[(flipped.video == "03") & (flipped.frame == 5), "label"] = 1
    write_run(tmp_path / "labels", flipped)
    write_run(tmp_path / "fewer", table[table.video != "05"])
    cases = [("ped2", ("different datasets", "synthetic vs ped2")),
             ("mnad", ("different protocols", "raw vs mnad", "normalisation 'none' vs 'per_video_minmax'")),
             ("short", ("different frames of video 02",)),
             ("labels", ("different labels in video 03",)),
             ("fewer", ("different test videos", "05"))]
    for other, fragments in cases:
        with pytest.raises(RunError) as caught:
            compare_runs(tmp_path / "a", tmp_path / other)
        message = str(caught.value)
        assert f"{tmp_path / 'a'} and {tmp_path / other}" in message and all(f in message for f in fragments), message
    one_error_line(vadbench("compare", "a", "b", "mnad", cwd=tmp_path), "a and mnad", "different protocols")
    with pytest.raises(RunError, match="at least two"):
        compare_all([tmp_path / "a"])
    one_error_line(vadbench("compare", "a", "nowhere", cwd=tmp_path), "nowhere")
