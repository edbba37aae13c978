"""MemAE (Gong et al. 2019) and AE-Conv3D: network, memory addressing, clip alignment, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import TinyAdapter

from vadbench_baselines.memae import MemAE, MemAEConfig
from vadbench_baselines.memae.model import Memory, MemAENet, address, entropy, hard_shrink
from vadbench import InputSpec, detectors
from vadbench.data.cache import CachedVideo as Video, ClipCache, build_cache
from vadbench.errors import ConfigError
from vadbench.registry import card_of, create_detector, resolve_detector
from vadbench.training import Trainer

SMALL = MemAEConfig(height=16, width=16, memory_items=50, epochs=1, batch_size=8, stride=2)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_registered_with_cpu_profiles_and_ablation_rows():
    assert detectors.get("memae") is MemAE and resolve_detector("memae-nomem")[0] is MemAE  # a variant: a config
    for name in ("memae", "memae-nomem"):
        card = resolve_detector(name)[1]
        assert card.auto_profile.choose(1200, "cpu") == "cpu" and card.auto_profile.choose(1200, "cuda") is None
        assert set(card.profiles["cpu"]) <= {"height", "width", "stride", "epochs"}
        assert create_detector(name, "cpu").input_spec().color == "gray"
    nomem = create_detector("memae-nomem")
    assert nomem.net.memory is None and not nomem.config.memory
    assert card_of("memae").reported_auc("ped2") == 94.1 and card_of("memae-nomem").reported_auc("ped2") == 91.7
    (row,) = [r for r in card_of("memae").ablations if r.label == "AE-Conv3D"]
    assert resolve_detector(row.detector)[1].name == "memae-nomem"


def test_full_size_parameter_counts_match_the_spec():
    memae, ae = MemAENet(), MemAENet(memory_items=0)
    assert _count(memae) == 6_492_801 and _count(ae) == 5_980_801
    assert (_count(memae.encoder), _count(memae.memory), _count(memae.decoder)) == (2_990_784, 512_000, 2_990_017)


@pytest.mark.parametrize("items", [40, 0])
def test_shapes_through_the_network(items):
    net = MemAENet(memory_items=items).eval()
    x = torch.randn(2, 1, 16, 16, 32)
    with torch.inference_mode():
        assert net.encoder(x).shape == (2, 256, 2, 1, 2)
        recon, w = net(x)
    assert recon.shape == x.shape
    if items:
        assert w.shape == (2 * 2 * 1 * 2, items)
        torch.testing.assert_close(w.sum(dim=1), torch.ones(len(w)))
    else:
        assert w is None


def test_hard_shrinkage_and_renormalisation_by_hand():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    items = torch.log(probs)[:, None]  # one-dimensional items: query 1 gives logits log p -> softmax p
    query = torch.ones(1, 1)
    torch.testing.assert_close(address(query, items, shrink=0.0), probs[None])
    # lambda = 0.2: 0.15 and 0.05 are cut, 0.5 and 0.3 kept as they are, then divided by 0.8
    torch.testing.assert_close(address(query, items, shrink=0.2), torch.tensor([[0.625, 0.375, 0.0, 0.0]]))

    w = torch.tensor([0.5, 0.3, 0.2, 0.0], requires_grad=True)
    shrunk = hard_shrink(w, 0.25)
    torch.testing.assert_close(shrunk, torch.tensor([0.5, 0.3, 0.0, 0.0]))
    shrunk.sum().backward()  # the ReLU form passes gradient 1 through kept weights, 0 elsewhere
    torch.testing.assert_close(w.grad, torch.tensor([1.0, 1.0, 0.0, 0.0]))


def test_all_weights_below_the_threshold_give_zeros_not_nan():
    items = torch.zeros(5, 3)  # uniform attention 0.2 < lambda
    assert address(torch.ones(2, 3), items, shrink=0.25).eq(0).all()


def test_entropy_by_hand():
    w = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5]])
    expected = (math.log(2) + 0.0 + (0.5 * math.log(4) + 0.5 * math.log(2))) / 3
    assert entropy(w).item() == pytest.approx(expected, rel=1e-5)


def test_memory_read_out_is_each_feature_vector_addressed_on_its_own():
    torch.manual_seed(0)
    memory = Memory(items=7, dim=8, shrink=0.05)
    z = torch.randn(2, 8, 2, 3, 4)
    out, w = memory(z)
    assert out.shape == z.shape and w.shape == (2 * 2 * 3 * 4, 7)
    for b, t, h, x in [(0, 0, 0, 0), (1, 1, 2, 3), (0, 1, 1, 2)]:
        wq = address(z[b, :, t, h, x][None], memory.items, 0.05)
        torch.testing.assert_close(out[b, :, t, h, x], (wq @ memory.items)[0])


def test_bad_sizes_are_config_errors():
    with pytest.raises(ConfigError, match="multiples of 16"):
        MemAE(MemAEConfig(height=40))
    with pytest.raises(ConfigError, match="shrink"):
        MemAE(MemAEConfig(shrink=1.5))


def _video(n: int) -> Video:
    """Frame t is flat with brightness t, so a clip tells its start frame."""
    frames = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 16, 16, 1)).copy()
    return Video("v", frames, np.zeros(n, np.uint8))


@pytest.mark.parametrize("memory", [True, False])
def test_clip_scores_belong_to_the_centre_frame(memory):
    det = MemAE(MemAEConfig(height=16, width=16, score_batch=5, memory=memory))
    det._errors = lambda clips: clips[:, 0, 0, 0, 0].double()  # a clip's "error" = its first frame
    n = 40
    scores = det.score_video(_video(n)).scores
    starts = np.arange(n - 15)
    np.testing.assert_array_equal(scores[starts + 8], starts)  # labels[8:-7] of the released code
    assert np.isnan(scores[:8]).all() and np.isnan(scores[n - 7:]).all()
    assert np.isnan(det.score_video(_video(15)).scores).all()


def test_clip_error_is_the_mean_absolute_residual():
    det = MemAE(SMALL)
    video = Video("v", np.random.default_rng(0).integers(0, 255, (20, 16, 16, 1), dtype=np.uint8), None)
    scores = det.score_video(video).scores
    det.net.eval()
    with torch.inference_mode():
        x = torch.from_numpy(video.frames[2:18, :, :, 0]).float().div(127.5).sub(1)[None, None]
        recon, _ = det.net(x)
    assert scores[10] == pytest.approx((recon - x).abs().mean().item(), rel=1e-5)


@pytest.fixture
def tiny_train(isolated_cache):
    """A cached tiny dataset at 16x16 gray: (training data, test videos)."""
    adapter = TinyAdapter(lengths=(20, 24), test_lengths=(20,))
    path = build_cache(adapter, "tiny", InputSpec(16, 16, "gray"), isolated_cache)
    with ClipCache(path) as cache:
        yield cache.train_data(), cache.video("test", cache.videos("test")[0])


def test_same_seed_same_model_and_scores(tiny_train):
    data, video = tiny_train

    def fit(seed: int, epochs: int | None = None) -> MemAE:
        det = MemAE(SMALL)
        det.fit(data, Trainer(seed=seed, epochs=epochs))
        return det

    a, b = fit(0), fit(0)
    for key, value in a.state_dict()["net"].items():
        assert torch.equal(value, b.state_dict()["net"][key]), key
    first = "encoder.0.0.weight"
    assert not torch.equal(a.state_dict()["net"][first], fit(1, epochs=0).state_dict()["net"][first])
    scores = a.score_video(video).scores
    np.testing.assert_array_equal(scores, b.score_video(video).scores)
    c = MemAE(a.config)
    c.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(c.score_video(video).scores, scores)
