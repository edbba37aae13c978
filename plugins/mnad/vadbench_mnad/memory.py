"""MNAD's memory: read, closed-form update, compactness and separateness (docs/mnad.md §4).

The memory P is a plain ``[M, C]`` tensor with unit-norm rows, never a parameter: it changes
only through :func:`update`, and no gradient ever reaches it (docs/mnad.md §4.8). Queries are the
encoder's features, L2-normalised over channels at every position and flattened to ``[N, C]``
in (batch, y, x) order. Everything here is vectorised over queries and items: one matrix
product for the scores, one for the read, one for the update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F


def init_memory(items: int, dim: int, kind: Literal["uniform", "normal"] = "uniform",
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Initial items: uniform in [0, 1) (the official code) or Gaussian (``mem_init='normal'``), rows L2-normalised."""
    draw = torch.rand if kind == "uniform" else torch.randn
    return F.normalize(draw(items, dim, generator=generator), dim=1)


@dataclass
class Read:
    """One memory read of a feature map ``z [B, C, h, w]`` against items ``P [M, C]``.

    ``decoder_input`` is ``[q, r]`` with 2C channels (queries first), laid out as the official
    code lays it out (a view of the ``[N, 2C]`` concatenation). ``scores`` S = Q Pᵀ and
    ``ranked`` holds each query's nearest and second-nearest item indices ``[N, 2]``.
    """

    queries: torch.Tensor
    scores: torch.Tensor
    ranked: torch.Tensor
    decoder_input: torch.Tensor

    @property
    def nearest(self) -> torch.Tensor:
        return self.ranked[:, 0]


def queries(z: torch.Tensor) -> torch.Tensor:
    """``z [B, C, h, w]`` -> unit-norm queries ``[B·h·w, C]``, row order (b, y, x)."""
    return F.normalize(z, dim=1).permute(0, 2, 3, 1).reshape(-1, z.shape[1])


def read(z: torch.Tensor, memory: torch.Tensor) -> Read:
    """Match every query with every item and read: r = softmax_items(S) · P, with the weights detached.

    The nearest items are ranked on the softmax over items, as the official code does
    (identical to ranking S except on float ties).
    """
    b, c, h, w = z.shape
    q = queries(z)
    scores = q @ memory.t()
    weights = F.softmax(scores, dim=1).detach()
    ranked = weights.topk(2, dim=1).indices
    both = torch.cat((q, weights @ memory), dim=1)
    return Read(q, scores, ranked, both.view(b, h, w, 2 * c).permute(0, 3, 1, 2))


def update(q: torch.Tensor, memory: torch.Tensor, scores: torch.Tensor, nearest: torch.Tensor,
           norm: Literal["all", "assigned"] = "all") -> torch.Tensor:
    """The new items after one update (docs/mnad.md §4.5), detached.

    Item m gains Σ over the queries whose nearest item is m of exp(S[n,m] − max S[·,m])·q_n,
    which is the official V[n,m] / max V[·,m] with the softmax over queries cancelled. The max
    runs over all queries (``norm='all'``, the official code) or over the queries assigned to
    m (``'assigned'``, the paper's eq. 5). Items no query chose keep their value.
    """
    q, scores = q.detach(), scores.detach()
    chosen = scores.gather(1, nearest[:, None])  # S[n, a(n)], [N, 1]
    if norm == "all":
        top = scores.max(dim=0).values
    else:
        top = torch.full_like(memory[:, 0], -torch.inf).scatter_reduce(0, nearest, chosen[:, 0], "amax")
    weight = torch.exp(chosen - top[nearest][:, None])
    assign = torch.zeros_like(scores).scatter_(1, nearest[:, None], weight)  # [N, M], one weight per row
    return F.normalize(memory + assign.t() @ q, dim=1)


def compactness(r: Read, memory: torch.Tensor, kind: Literal["mse", "l2"] = "mse") -> torch.Tensor:
    """Distance of each query to its nearest item: the official MSE over N·C elements, or the
    paper's un-squared ‖q − p‖₂ averaged over queries (``'l2'``, eqs. 10 and 14)."""
    nearest = memory[r.nearest]
    if kind == "mse":
        return F.mse_loss(r.queries, nearest)
    return (r.queries - nearest).norm(dim=1).mean()


def separateness(r: Read, memory: torch.Tensor) -> torch.Tensor:
    """Triplet margin loss (margin 1, p = 2, eps 1e-6): anchor q, positive the nearest item, negative the second."""
    pair = memory[r.ranked]
    return F.triplet_margin_loss(r.queries, pair[:, 0], pair[:, 1], margin=1.0)
