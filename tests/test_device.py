"""Device-agnostic execution (vadbench/device.py) and MNAD's use of it: the CUDA-graph step falls back to
the one eager step function, channels-last weights compute what contiguous ones do, bf16 autocast runs
and is recorded as a deviation. The CUDA-only checks run where a GPU is (benchmarks/gpu_check.sh)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vadbench import autocast, graphed
from vadbench.data.cache import CachedVideo
from vadbench_mnad import MNADP, MNADR
from vadbench_mnad.detector import make_optimizer

SIZE = 16
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def small(cls: type, seed: int = 0, device: str = "cpu", **overrides: object):  # type: ignore[no-untyped-def]
    det = cls(cls.Config(height=SIZE, width=SIZE, feature_dim=64, **overrides))
    det.to(device)
    det.build(seed)
    return det


def video(cls: type, frames: int = 10) -> CachedVideo:
    rng = np.random.default_rng(1)
    base = rng.integers(60, 200, (1, SIZE, SIZE, 3))
    noise = rng.integers(-6, 7, (cls.history + frames, SIZE, SIZE, 3))
    return CachedVideo("v", np.clip(base + noise, 0, 255).astype(np.uint8), None)


def streams(det, v: CachedVideo) -> np.ndarray:  # type: ignore[no-untyped-def]
    det.reset()
    extras = det.score_video(v).extras
    return np.stack([extras[c] for c in ("psnr", "feature_distance", "regular_score", "memory_updated")])


def split_threshold(det, v: CachedVideo) -> float:  # type: ignore[no-untyped-def]
    """A threshold γ that about half the frames of ``v`` pass: the median ε of a pass without updates."""
    det.config.threshold = -float("inf")
    return float(np.nanmedian(streams(det, v)[2]))


def test_graphed_hands_back_the_function_itself_without_cuda() -> None:
    def step(x: torch.Tensor) -> torch.Tensor:
        return x + 1

    fn, record = graphed(step, (torch.zeros(3),))
    assert fn is step and record == {"scoring_graph": "eager", "scoring_graph_reason": "no CUDA graphs on cpu"}
    fn, record = graphed(step, (torch.zeros(3),), enabled=False)
    assert fn is step and record["scoring_graph_reason"] == "switched off"


def test_autocast_switch() -> None:
    a = torch.randn(4, 4)
    with autocast("cpu", "off"):
        assert (a @ a).dtype == torch.float32
    with autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16


@pytest.mark.parametrize("cls", [MNADP, MNADR])
def test_scoring_runs_the_one_eager_step_and_records_it(cls: type) -> None:
    det = small(cls, threshold=float("inf"))
    rows = streams(det, video(cls))
    assert det._step is not None and det._step[0] == det._frame_step  # the step a graph would wrap, itself
    assert det.execution() == {"memory_format": "channels_last", "scoring_graph": "eager",
                               "scoring_graph_reason": "no CUDA graphs on cpu"}
    assert np.nansum(rows[3]) == len(video(cls)) - cls.history  # the forced update ran every frame


@pytest.mark.parametrize("cls", [MNADP, MNADR])
def test_channels_last_scoring_computes_what_contiguous_does_and_training_stays_contiguous(cls: type) -> None:
    last, plain = small(cls), small(cls, memory_format="contiguous")
    v = video(cls)
    last.config.threshold = plain.config.threshold = split_threshold(plain, v)
    a, b = streams(last, v), streams(plain, v)
    conv = last.net.encoder.moduleConv1[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()  # scored so
    assert plain.net.encoder.moduleConv1[0].weight.is_contiguous()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert 0 < np.nansum(a[3]) < len(v) - cls.history  # the threshold splits the frames: the decisions agree too
    rng = np.random.default_rng(2)
    clips = last._frames(torch.from_numpy(rng.integers(0, 256, (4, cls.history + 1, SIZE, SIZE, 3), np.uint8)))
    losses = []
    for det in (last, plain):
        det.net.train()
        losses.append(det.train_step(*det._split(clips), make_optimizer(det.net.parameters(), 2e-4)))
    for key, value in losses[0].items():
        assert value.item() == losses[1][key].item(), key  # training runs contiguous in both: the same kernels
    assert last.net.encoder.moduleConv1[0].weight.is_contiguous()
    torch.testing.assert_close(last.memory, plain.memory, rtol=0, atol=0)


def test_bf16_autocast_runs_and_is_a_recorded_deviation() -> None:
    fp32, bf16 = small(MNADP), small(MNADP, amp="bf16")
    assert fp32.deviations() == {} and bf16.deviations() == {"amp": "bf16"}
    dtypes = []
    bf16.net.decoder.moduleDeconv1[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    v = video(MNADP)
    a, b = streams(fp32, v), streams(bf16, v)
    assert set(dtypes) == {torch.bfloat16}  # the convolutions ran in bf16 ...
    assert np.isfinite(b[:3, MNADP.history:]).all() and not np.array_equal(a[:3], b[:3])
    np.testing.assert_allclose(b[0], a[0], atol=0.5)  # ... and the PSNR moved by float noise of bf16 only
    assert bf16.test_memory.dtype == torch.float32  # the memory stays float32
    clips = bf16._frames(torch.from_numpy(np.random.default_rng(3).integers(0, 256, (4, 5, SIZE, SIZE, 3), np.uint8)))
    bf16.net.train()
    losses = bf16.train_step(*bf16._split(clips), make_optimizer(bf16.net.parameters(), 2e-4))
    assert all(torch.isfinite(v) for v in losses.values()) and bf16.memory.dtype == torch.float32


@CUDA
@pytest.mark.parametrize("cls", [MNADP, MNADR])
def test_the_cuda_graph_computes_what_eager_does_and_cuda_what_the_cpu_does(cls: type) -> None:
    v = video(cls, frames=20)
    cpu, graph, eager = small(cls), small(cls, device="cuda"), small(cls, device="cuda", scoring_graph="eager")
    cpu.config.threshold = graph.config.threshold = eager.config.threshold = split_threshold(cpu, v)
    a, b = streams(graph, v), streams(eager, v)
    assert graph.execution()["scoring_graph"] == "cuda-graph", graph.execution()
    np.testing.assert_array_equal(a, b)
    torch.testing.assert_close(graph.test_memory, eager.test_memory, rtol=0, atol=0)
    np.testing.assert_allclose(a, streams(cpu, v), rtol=1e-4, atol=1e-5)
