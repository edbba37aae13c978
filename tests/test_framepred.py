"""Frame-Pred (plugins/framepred): losses against hand-worked cases, network shapes, training,
persistence, scoring semantics, the cards, and one run through the console script."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TinyAdapter
from vadbench import ConfigError
from vadbench.data.cache import ClipCache, build_cache
from vadbench.registry import resolve_detector
from vadbench.training import Trainer
from vadbench.types import InputSpec
from vadbench_framepred import (Discriminator, FramePred, Generator, adversarial_loss, discriminator_loss,
                                farneback_warp, gradient_loss, intensity_loss, warp_loss)

BIN = Path(sys.executable).with_name("vadbench")
SIZE = 16
TINY = {"height": SIZE, "width": SIZE, "channels": 4, "d_channels": 4}


def t(rows: list[list[float]]) -> torch.Tensor:
    """A one-channel image ``[1, 1, H, W]``."""
    return torch.tensor(rows, dtype=torch.float64)[None, None]


# -- losses ------------------------------------------------------------------------------------
def test_intensity_loss() -> None:
    # squared errors 1 and 4: mean 2.5
    assert intensity_loss(t([[0.0, 1.0]]), t([[1.0, -1.0]])).item() == pytest.approx(2.5)


def test_gradient_loss_zero_target() -> None:
    # pred [[1, 2], [3, 5]], zero beyond the right/bottom border:
    # |dx| = [[1, 2], [2, 5]], |dy| = [[2, 3], [3, 5]]; target 0 -> mean of the sums (3 + 5 + 5 + 10) / 4
    assert gradient_loss(t([[1.0, 2.0], [3.0, 5.0]]), torch.zeros(1, 1, 2, 2, dtype=torch.float64)).item() \
        == pytest.approx(23 / 4)


def test_gradient_loss_compares_absolute_gradients() -> None:
    # target [[2, 1], [3, 5]]: |dx| = [[1, 1], [2, 5]], |dy| = [[1, 4], [3, 5]]
    # pred as above:          |dx| = [[1, 2], [2, 5]], |dy| = [[2, 3], [3, 5]]
    # | |dx_t| - |dx_p| | + | |dy_t| - |dy_p| | = [[0 + 1, 1 + 1], [0, 0]] -> mean 3 / 4
    # (signed gradients would differ: row 0's dx is +1 in pred, -1 in target)
    value = gradient_loss(t([[1.0, 2.0], [3.0, 5.0]]), t([[2.0, 1.0], [3.0, 5.0]])).item()
    assert value == pytest.approx(0.75)
    assert gradient_loss(t([[1.0, 2.0]]), t([[1.0, 2.0]])).item() == 0.0


def test_adversarial_losses_on_sigmoids() -> None:
    log3 = math.log(3.0)  # sigmoid(log 3) = 0.75, sigmoid(0) = 0.5, sigmoid(-log 3) = 0.25
    # L_D = 1/2 mean((0.75-1)^2, (0.5-1)^2) + 1/2 mean(0.25^2) = 1/2 (0.0625 + 0.25)/2 + 1/2 0.0625
    real, fake = torch.tensor([log3, 0.0]), torch.tensor([-log3])
    assert discriminator_loss(real, fake).item() == pytest.approx(0.078125 + 0.03125)
    # L_G,adv = 1/2 mean((D - 1)^2): (0.5 (0.25^2) + 0.5 (0.5^2)) / 2
    assert adversarial_loss(torch.tensor([log3, 0.0])).item() == pytest.approx((0.03125 + 0.125) / 2)


def test_warp_loss_and_its_gradient() -> None:
    pred = torch.tensor([0.5, -0.5, 0.0], requires_grad=True)
    loss = warp_loss(pred, torch.tensor([0.0, 0.0, 1.0]))
    assert loss.item() == pytest.approx(2 / 3)
    loss.backward()  # the target is a constant: the gradient reaches the prediction, sign(pred - W) / N
    assert pred.grad.tolist() == pytest.approx([1 / 3, -1 / 3, -1 / 3])


def blob(cx: float, size: int = 32) -> np.ndarray:
    """A smooth bright blob on grey at column ``cx``, RGB uint8 ``[size, size, 3]``."""
    y, x = np.mgrid[:size, :size]
    img = 60 + 150 * np.exp(-((x - cx) ** 2 + (y - size / 2) ** 2) / 18.0)
    return np.repeat(img[..., None], 3, axis=2).round().astype(np.uint8)


def test_farneback_warp() -> None:
    same = blob(14.0)[None]
    assert np.array_equal(farneback_warp(same, same), same)  # no motion: the frame itself
    last, target = blob(14.0)[None], blob(16.0)[None]
    warped = farneback_warp(last, target)
    err = lambda a: np.abs(a.astype(float) - target.astype(float)).mean()  # noqa: E731
    assert err(warped) < 0.5 * err(last)  # the real motion carries the last frame most of the way


# -- networks ----------------------------------------------------------------------------------
def test_paper_sized_networks() -> None:
    g, d = Generator(), Discriminator()
    assert sum(p.numel() for p in g.parameters()) == 7_704_195  # docs/framepred.md §2
    assert sum(p.numel() for p in d.parameters()) == 6_831_489
    with torch.no_grad():
        assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 35, 35)
    assert all(not m.bias.detach().any() for m in g.modules() if isinstance(m, torch.nn.Conv2d))


def test_small_shapes() -> None:
    g, d = Generator(4, channels=4), Discriminator(d_channels=4)
    out = g(torch.randn(2, 12, 32, 32))
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    assert d(out).shape == (2, 1, 7, 7) and d(torch.zeros(1, 3, 16, 16)).shape == (1, 1, 5, 5)


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="flow=farneback"):
        FramePred.Config(lambda_op=2.0)
    with pytest.raises(ConfigError, match="no effect"):
        FramePred.Config(flow="farneback")
    with pytest.raises(ConfigError, match="multiples of 8"):
        FramePred.Config(height=8, width=8)


# -- training, persistence, scoring --------------------------------------------------------------
@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> ClipCache:
    """TinyAdapter at 16×16: 24 training windows of 5 frames (6 batches), test videos of 10 and 14 frames."""
    path = build_cache(TinyAdapter(), "tiny", InputSpec(SIZE, SIZE, "rgb"), tmp_path_factory.mktemp("cache"))
    with ClipCache(path) as c:
        yield c


def trained(cache: ClipCache, name: str = "frame-pred-noflow", seed: int = 0, **overrides: object
            ) -> tuple[FramePred, Trainer]:
    cls, _, preset = resolve_detector(name)
    det = cls(dataclasses.replace(cls.Config(), **{**preset, **TINY, "epochs": 1, **overrides}))
    trainer = Trainer(seed=seed)
    det.fit(cache.train_data(), trainer)
    return det, trainer


def weights(det: FramePred) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in det.state_dict()["generator"].items()} | \
        {f"d.{k}": v.clone() for k, v in det.state_dict()["discriminator"].items()}


def test_training_is_deterministic_under_a_seed(cache: ClipCache) -> None:
    a, b, c = (weights(trained(cache, seed=s)[0]) for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    start = FramePred(FramePred.Config(**TINY))
    start.build(0)
    assert not all(torch.equal(a[k], v) for k, v in weights(start).items())  # training moved them


def test_training_length_and_losses(cache: ClipCache) -> None:
    _, one = trained(cache, epochs=0, iterations=6)  # 6 batches per epoch: one epoch
    _, two = trained(cache, epochs=0, iterations=7)  # one more step: a second, partial epoch
    assert len(one.history) == 1 and len(two.history) == 2
    assert {"loss_g", "int", "gd", "adv", "loss_d"} <= set(one.history[0])
    _, flow = trained(cache, "frame-pred-cvflow")
    row = flow.history[0]
    assert row["op"] > 0
    assert row["loss_g"] == pytest.approx(row["int"] + row["gd"] + 2.0 * row["op"] + 0.05 * row["adv"], rel=1e-5)


def test_scores_nan_first_frames_psnr_and_raw(cache: ClipCache) -> None:
    det, _ = trained(cache, score_batch=3)  # chunks of 3 windows: the 10-frame video needs 2 passes
    det.reset()
    for name in cache.videos("test"):
        video = cache.video("test", name)
        out = det.score_video(video)
        assert np.isnan(out.scores[:4]).all() and np.isfinite(out.scores[4:]).all()
        # independently: each window on its own, PSNR on the [0, 1] scale
        frames = torch.from_numpy(video.frames).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            psnr = []
            for i in range(4, len(video)):
                pred = (det.generator(frames[i - 4:i].reshape(1, 12, SIZE, SIZE) * 2 - 1) + 1) / 2
                psnr.append(10 * math.log10(1 / float(((pred[0] - frames[i]) ** 2).mean())))
        psnr = np.array(psnr)
        np.testing.assert_allclose(out.extras["psnr"][4:], psnr, rtol=1e-5)
        np.testing.assert_allclose(out.raw[4:], -psnr, rtol=1e-5)
        np.testing.assert_allclose(out.scores[4:], (psnr.max() - psnr) / (psnr.max() - psnr.min()), atol=1e-4)


def test_save_load_gives_identical_scores(cache: ClipCache, tmp_path: Path) -> None:
    det, _ = trained(cache)
    torch.save(det.state_dict(), tmp_path / "model.pt")
    fresh = FramePred(FramePred.Config(**TINY))
    fresh.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    video = cache.video("test", cache.videos("test")[1])
    a, b = det.score_video(video), fresh.score_video(video)
    assert np.array_equal(a.scores, b.scores, equal_nan=True) and np.array_equal(a.raw, b.raw, equal_nan=True)


def test_deviations() -> None:
    assert "lambda_op=0" in FramePred(FramePred.Config()).deviations()["flow_loss"]
    assert "Farneback" in FramePred(FramePred.Config(flow="farneback", lambda_op=2.0)).deviations()["flow_loss"]
    assert "recipe" not in FramePred(FramePred.Config(lambda_int=0.001, lr_g=2e-4, lr_d=2e-5,
                                                      lr_step=100_000)).deviations()  # Avenue's recipe
    off = FramePred(FramePred.Config(lr_g=3e-4, batch_size=8)).deviations()
    assert off["recipe"]["lr_g"] == 3e-4 and off["batch_size"] == 8


# -- registration and the console script ---------------------------------------------------------
def test_listed_from_its_cards() -> None:
    out = subprocess.run([str(BIN), "list"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    lines = {line.split("│")[1].strip(): line for line in (out.stdout + out.stderr).splitlines() if line.count("│") > 2}
    assert "vadbench-framepred" in lines["frame-pred-noflow"] and "PatchGAN" in lines["frame-pred-noflow"]
    assert "Farneback warping loss" in lines["frame-pred-cvflow"]


@pytest.mark.slow
def test_run_end_to_end(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    sets = [a for k, v in {**TINY, "epochs": 1}.items() for a in ("--set", f"{k}={v}")]
    data = [a for s in ("train_videos=2", "test_videos=2", "frames=20") for a in ("--data-set", s)]
    proc = subprocess.run([str(BIN), "run", "frame-pred-noflow", *sets, *data, "--out", str(out_dir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["protocol"]["normalisation"] == "none"
    assert metrics["protocol"]["detector_normalisation"] == "per_video_minmax (PSNR)"
    frames = pd.read_csv(out_dir / "frames.csv", dtype={"video": str})
    assert len(frames) == 40
    for _, video in frames.groupby("video"):
        assert video["psnr"].iloc[:4].isna().all() and video["psnr"].iloc[4:].notna().all()
        psnr = video["psnr"].iloc[4:]
        np.testing.assert_allclose(video["raw_score"].iloc[4:], -psnr, rtol=1e-6)
        np.testing.assert_allclose(video["score"].iloc[4:], (psnr.max() - psnr) / (psnr.max() - psnr.min()), atol=1e-6)
    assert "lambda_op=0" in metrics["deviations"]["flow_loss"] and metrics["profile"] == "cpu"


def test_a_flow_weight_without_a_flow_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run([str(BIN), "run", "frame-pred-noflow", "--set", "lambda_op=2", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "set flow=farneback" in lines[0]
    assert not (tmp_path / "r" / "config.json").exists()
