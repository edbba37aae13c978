"""The MemAE network of Gong et al. (ICCV 2019), video variant, as described in ``docs/baselines.md`` §4.

A 3-D convolutional encoder turns a 16-frame grayscale clip into a 2xH/16xW/16 grid of
256-dimensional features. With the memory, every feature vector is a query that is replaced by a
sparse convex combination of 2000 learned memory items (softmax attention, hard shrinkage, L1
renormalisation), so the decoder can only rebuild what the memory holds: normal patterns.
Without it (``memory_items = 0``) the same encoder and decoder form the "AE-Conv3D" baseline.

At 256x256 MemAE has 6,492,801 parameters and AE-Conv3D 5,980,801.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

CLIP = 16  # frames per clip
FEATURES = 256  # width of the encoder output = memory item size
SIDE_MULTIPLE = 16  # the encoder halves height and width four times
EPS = 1e-12  # the released code's epsilon in the shrinkage, renormalisation and entropy


def hard_shrink(w: torch.Tensor, lam: float) -> torch.Tensor:
    """Hard shrinkage in the ReLU form: ``w`` where ``w > lam``, else 0.

    ``relu(w - lam) * w / (|w - lam| + eps)`` equals ``w`` above the threshold, so gradients flow
    through the retained weights themselves, not through a step function.
    """
    return F.relu(w - lam) * w / ((w - lam).abs() + EPS)


def address(queries: torch.Tensor, items: torch.Tensor, shrink: float) -> torch.Tensor:
    """Addressing weights ``[Q, N]`` of ``queries [Q, C]`` over memory ``items [N, C]``.

    Softmax of the dot products; with ``shrink > 0`` the weights are hard-shrunk and then
    renormalised to sum 1 (divided by ``max(L1 norm, eps)``). All queries at once.
    """
    w = torch.softmax(queries @ items.T, dim=-1)
    if shrink > 0:
        w = F.normalize(hard_shrink(w, shrink), p=1, dim=-1, eps=EPS)
    return w


def entropy(w: torch.Tensor) -> torch.Tensor:
    """Mean over queries of the addressing entropy ``-sum_i w_i log(w_i + eps)``."""
    return -(w * torch.log(w + EPS)).sum(dim=-1).mean()


class Memory(nn.Module):
    """``N`` learnable items of size ``C``; replaces each feature vector by its memory read-out."""

    def __init__(self, items: int, dim: int, shrink: float) -> None:
        super().__init__()
        self.shrink = shrink
        bound = 1.0 / math.sqrt(dim)
        self.items = nn.Parameter(torch.empty(items, dim).uniform_(-bound, bound))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z [B, C, T, H, W]`` -> (read-out of the same shape, weights ``[B*T*H*W, N]``)."""
        queries = z.movedim(1, -1)
        w = address(queries.reshape(-1, queries.shape[-1]), self.items, self.shrink)
        return (w @ self.items).view_as(queries).movedim(-1, 1), w


def _down(cin: int, cout: int, stride: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm3d(cout),
                         nn.LeakyReLU(0.2, inplace=True))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose3d(cin, cout, 3, stride=2, padding=1, output_padding=1),
                         nn.BatchNorm3d(cout), nn.LeakyReLU(0.2, inplace=True))


class MemAENet(nn.Module):
    """``[B, 1, 16, H, W]`` -> (reconstruction ``[B, 1, 16, H, W]``, addressing weights or None).

    ``memory_items = 0`` removes the memory (AE-Conv3D). H and W must be multiples of 16.
    """

    def __init__(self, memory_items: int = 2000, shrink: float = 0.0025) -> None:
        super().__init__()
        self.encoder = nn.Sequential(_down(1, 96, (1, 2, 2)), _down(96, 128, (2, 2, 2)),
                                     _down(128, 256, (2, 2, 2)), _down(256, FEATURES, (2, 2, 2)))
        self.memory = Memory(memory_items, FEATURES, shrink) if memory_items > 0 else None
        self.decoder = nn.Sequential(
            _up(FEATURES, 256), _up(256, 128), _up(128, 96),
            nn.ConvTranspose3d(96, 1, 3, stride=(1, 2, 2), padding=1, output_padding=(0, 1, 1)),
        )
        # the released initialisation: conv weights N(0, 0.02) (biases keep PyTorch's default),
        # batch-norm weights N(1, 0.02) and biases 0; the memory initialises itself
        for module in self.modules():
            if isinstance(module, (nn.Conv3d, nn.ConvTranspose3d)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = self.encoder(x)
        w = None
        if self.memory is not None:
            z, w = self.memory(z)
        return self.decoder(z), w
