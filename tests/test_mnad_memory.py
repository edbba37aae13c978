"""MNAD's memory module against docs/mnad.md §4 and docs/mnad.md §13 checks 3-7."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vadbench_mnad import memory as mem
from vadbench_mnad.network import MNADNet


def unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def read_from_queries(q: torch.Tensor, memory: torch.Tensor) -> mem.Read:
    """A read of N queries given as rows (a 1×N 'image' with C channels)."""
    return mem.read(q.t().reshape(1, q.shape[1], 1, q.shape[0]), memory)


def test_init_is_positive_and_unit_norm() -> None:
    p = mem.init_memory(10, 512, generator=torch.Generator().manual_seed(0))
    assert p.shape == (10, 512)
    assert torch.all(p >= 0)
    assert torch.allclose(p.norm(dim=1), torch.ones(10))
    cos = (p @ p.t())[~torch.eye(10, dtype=bool)]
    assert 0.7 < cos.mean() < 0.8  # the positive orthant: pairwise cosine about 0.75 (docs/mnad.md §4.1)
    g = mem.init_memory(10, 512, "normal", generator=torch.Generator().manual_seed(0))
    assert (g < 0).any() and torch.allclose(g.norm(dim=1), torch.ones(10))


def test_queries_are_normalised_in_batch_y_x_order() -> None:
    z = torch.randn(2, 8, 3, 4)
    q = mem.queries(z)
    assert q.shape == (24, 8)
    assert torch.allclose(q[4 * 1 + 2], F.normalize(z[0, :, 1, 2], dim=0))
    assert torch.allclose(q[12 + 4 * 2 + 3], F.normalize(z[1, :, 2, 3], dim=0))


def test_read_concatenates_query_then_softmax_weighted_items() -> None:
    z, p = torch.randn(2, 16, 3, 5), unit(6, 16, seed=1)
    r = mem.read(z, p)
    q = F.normalize(z, dim=1)
    weights = torch.softmax(torch.einsum("bchw,mc->bhwm", q, p), dim=-1)
    expected_r = torch.einsum("bhwm,mc->bchw", weights, p)
    assert r.decoder_input.shape == (2, 32, 3, 5)
    assert torch.allclose(r.decoder_input[:, :16], q, atol=1e-6)
    assert torch.allclose(r.decoder_input[:, 16:], expected_r, atol=1e-6)
    s = r.scores
    assert torch.equal(r.ranked[:, 0], s.argmax(1))
    assert torch.equal(r.ranked[:, 1], s.topk(2, dim=1).indices[:, 1])


def test_update_hand_computed() -> None:
    """Two items, three queries; the expected items worked out by hand (docs/mnad.md §4.5)."""
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    q = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    r = read_from_queries(q, p)
    assert r.nearest.tolist() == [0, 1, 1]
    new = mem.update(r.queries, p, r.scores, r.nearest)
    # item 0: only q1 (weight exp(1 - 1) = 1) -> [2, 0] -> [1, 0]
    # item 1: column max 1 (q3); q2 weight exp(0.8 - 1), q3 weight 1 -> [0.6 e^-.2, 0.8 e^-.2 + 2]
    w = math.exp(-0.2)
    v = torch.tensor([0.6 * w, 0.8 * w + 2.0])
    assert torch.allclose(new, torch.stack([torch.tensor([1.0, 0.0]), v / v.norm()]), atol=1e-6)


def test_update_assigned_normaliser_differs_when_column_max_is_elsewhere() -> None:
    """Item 0's highest score comes from a query assigned to item 1: eq. 5 and the code disagree."""
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    q = torch.tensor([[0.6, -0.8], [0.7, math.sqrt(1 - 0.49)]])
    r = read_from_queries(q, p)
    assert r.nearest.tolist() == [0, 1]
    code = mem.update(r.queries, p, r.scores, r.nearest, "all")
    paper = mem.update(r.queries, p, r.scores, r.nearest, "assigned")
    expect_code = F.normalize(p[0] + math.exp(0.6 - 0.7) * q[0], dim=0)
    expect_paper = F.normalize(p[0] + 1.0 * q[0], dim=0)
    assert torch.allclose(code[0], expect_code, atol=1e-6)
    assert torch.allclose(paper[0], expect_paper, atol=1e-6)
    assert torch.allclose(code[1], paper[1])  # item 1 holds its own column maximum: same either way


def test_update_equals_softmax_ratio_form() -> None:
    """Closed form vs the official V[n, m] / max_n V[n, m] over the softmax over queries (13.4)."""
    q, p = unit(300, 32, seed=2).abs(), unit(7, 32, seed=3).abs()
    p[6] = -p[6]  # every score with this item is negative, with the others positive: nobody picks it
    r = read_from_queries(q, p)
    v = torch.softmax(r.scores, dim=0)
    ratio = v / v.max(dim=0).values
    u = torch.zeros_like(p)
    for m in range(p.shape[0]):  # the official per-item loop, as the reference
        chosen = r.nearest == m
        u[m] = (ratio[chosen, m:m + 1] * q[chosen]).sum(0)
    expected = F.normalize(p + u, dim=1)
    new = mem.update(r.queries, p, r.scores, r.nearest)
    assert 6 not in r.nearest.tolist()
    assert torch.allclose(new, expected, atol=1e-6)
    assert torch.equal(new[6], F.normalize(p[6], dim=0))  # unassigned item unchanged
    assert torch.allclose(new.norm(dim=1), torch.ones(7))
    assert not new.requires_grad


def test_compactness_and_separateness() -> None:
    q, p = unit(50, 16, seed=4), unit(5, 16, seed=5)
    r = read_from_queries(q, p)
    p1, p2 = p[r.ranked[:, 0]], p[r.ranked[:, 1]]
    lc = mem.compactness(r, p)
    assert torch.allclose(lc, (2 - 2 * (q * p1).sum(1).mean()) / 16, atol=1e-6)
    assert torch.allclose(mem.compactness(r, p, "l2"), (q - p1).norm(dim=1).mean(), atol=1e-6)
    d = lambda a, b: (a - b + 1e-6).pow(2).sum(1).sqrt()  # noqa: E731 - pairwise distance, eps inside
    expected = torch.clamp(d(q, p1) - d(q, p2) + 1.0, min=0).mean()
    assert torch.allclose(mem.separateness(r, p), expected, atol=1e-6)


def test_gradient_flow() -> None:
    """No gradient to the items; the read sends none to the encoder; q and the losses do (4.8, 13.6)."""
    torch.manual_seed(0)
    net = MNADNet(frames_in=1, skips=False, feature_dim=32)
    p = unit(4, 32, seed=6)
    x = torch.randn(2, 3, 16, 16)
    z, skips = net.encoder(x)
    r = mem.read(z, p)
    dec_in = r.decoder_input
    out = net.decoder(dec_in)
    pixel = F.mse_loss(out, torch.zeros_like(out))
    loss = pixel + 0.1 * mem.compactness(r, p) + 0.1 * mem.separateness(r, p)
    grads = torch.autograd.grad(loss, [z, dec_in], retain_graph=True)
    assert p.grad is None and not p.requires_grad
    # everything z receives comes through q: the q half of the decoder input and the losses
    q_map = F.normalize(z, dim=1)
    via_q = torch.autograd.grad(q_map, z, grads[1][:, :32], retain_graph=True)[0]
    via_losses = torch.autograd.grad(0.1 * mem.compactness(r, p) + 0.1 * mem.separateness(r, p), z,
                                     retain_graph=True)[0]
    assert torch.allclose(grads[0], via_q + via_losses, atol=1e-7)
    assert via_losses.abs().sum() > 0 and via_q.abs().sum() > 0
    assert grads[1][:, 32:].abs().sum() > 0  # the decoder does use r ...
    # ... but replacing r by a constant of the same value leaves the encoder's gradients unchanged
    enc = list(net.encoder.parameters())
    g1 = torch.autograd.grad(loss, enc, retain_graph=True, allow_unused=True)
    const = torch.cat((dec_in[:, :32], dec_in[:, 32:].detach().clone()), dim=1)
    loss2 = F.mse_loss(net.decoder(const), torch.zeros_like(out)) + 0.1 * mem.compactness(r, p) \
        + 0.1 * mem.separateness(r, p)
    g2 = torch.autograd.grad(loss2, enc, allow_unused=True)
    for a, b in zip(g1, g2):
        assert (a is None and b is None) or torch.allclose(a, b, atol=1e-7)


@pytest.mark.parametrize("norm", ["all", "assigned"])
def test_update_is_order_free_over_items(norm: str) -> None:
    """Permuting the items permutes the updated items: no item-order dependence in the closed form."""
    q, p = unit(64, 8, seed=7), unit(5, 8, seed=8)
    perm = torch.tensor([3, 0, 4, 1, 2])
    r, rp = read_from_queries(q, p), read_from_queries(q, p[perm])
    a = mem.update(r.queries, p, r.scores, r.nearest, norm)
    b = mem.update(rp.queries, p[perm], rp.scores, rp.nearest, norm)
    assert torch.allclose(a[perm], b, atol=1e-6)
