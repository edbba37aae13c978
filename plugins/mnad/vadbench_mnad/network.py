"""MNAD's encoder and decoder (docs/mnad.md §3), with the official module names.

The names (``encoder.moduleConv1.0.weight``, ``decoder.moduleUpsample4.0.weight``, ...) and the
``nn.Sequential`` indices are those of the official networks, so an official state dict maps
onto ours by name (see :mod:`plugins.mnad.official`). The encoder's ``moduleBatchNorm`` and
``moduleReLU``, which the official code builds and never calls, are left out (docs/mnad.md §9).

One class serves both tasks: MNAD-P's decoder is a U-Net with skips (each upsampling halves
the channels and the skip restores them), MNAD-R's has no skips (each upsampling keeps the
channels). With the memory removed (the ``*-nomem`` baselines) the decoder reads ``z``
itself, so its first convolution takes C channels instead of 2C.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv(i: int, o: int) -> nn.Conv2d:
    return nn.Conv2d(i, o, kernel_size=3, stride=1, padding=1)


def basic(i: int, o: int) -> nn.Sequential:
    """conv, BN, ReLU, conv, BN, ReLU (state-dict indices 0, 1, 3, 4)."""
    return nn.Sequential(_conv(i, o), nn.BatchNorm2d(o), nn.ReLU(), _conv(o, o), nn.BatchNorm2d(o), nn.ReLU())


def basic_open(i: int, o: int) -> nn.Sequential:
    """conv, BN, ReLU, conv: the encoder's last block, whose output z is neither normalised nor rectified."""
    return nn.Sequential(_conv(i, o), nn.BatchNorm2d(o), nn.ReLU(), _conv(o, o))


def generate(i: int, o: int, nc: int) -> nn.Sequential:
    """conv, BN, ReLU, conv, BN, ReLU, conv, tanh: the output head (indices 0, 1, 3, 4, 6)."""
    return nn.Sequential(_conv(i, nc), nn.BatchNorm2d(nc), nn.ReLU(), _conv(nc, nc), nn.BatchNorm2d(nc), nn.ReLU(),
                         _conv(nc, o), nn.Tanh())


def upsample(i: int, o: int) -> nn.Sequential:
    """Transposed conv (k 3, stride 2, padding 1, output padding 1: exactly doubles H and W), BN, ReLU."""
    return nn.Sequential(nn.ConvTranspose2d(i, o, kernel_size=3, stride=2, padding=1, output_padding=1),
                         nn.BatchNorm2d(o), nn.ReLU())


class Encoder(nn.Module):
    """Four blocks with three max-pools: [B, in, H, W] -> z [B, C, H/8, W/8] and the three skips."""

    def __init__(self, in_channels: int, feature_dim: int = 512) -> None:
        super().__init__()
        self.moduleConv1 = basic(in_channels, 64)
        self.modulePool1 = nn.MaxPool2d(2, 2)
        self.moduleConv2 = basic(64, 128)
        self.modulePool2 = nn.MaxPool2d(2, 2)
        self.moduleConv3 = basic(128, 256)
        self.modulePool3 = nn.MaxPool2d(2, 2)
        self.moduleConv4 = basic_open(256, feature_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        skip1 = self.moduleConv1(x)
        skip2 = self.moduleConv2(self.modulePool1(skip1))
        skip3 = self.moduleConv3(self.modulePool2(skip2))
        z = self.moduleConv4(self.modulePool3(skip3))
        return z, (skip1, skip2, skip3)


class Decoder(nn.Module):
    """[B, in, H/8, W/8] (+ skips) -> frame [B, 3, H, W] in [-1, 1].

    With ``skips`` (MNAD-P) the skip is concatenated *before* the upsampled map, as in the
    official code; the order matters (docs/mnad.md §13 check 2).
    """

    def __init__(self, in_channels: int, skips: bool, out_channels: int = 3) -> None:
        super().__init__()
        self.skips = skips
        up = (lambda c: c // 2) if skips else (lambda c: c)
        self.moduleConv = basic(in_channels, 512)
        self.moduleUpsample4 = upsample(512, up(512))
        self.moduleDeconv3 = basic(512, 256)
        self.moduleUpsample3 = upsample(256, up(256))
        self.moduleDeconv2 = basic(256, 128)
        self.moduleUpsample2 = upsample(128, up(128))
        self.moduleDeconv1 = generate(128, out_channels, 64)

    def forward(self, x: torch.Tensor, skips: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
                ) -> torch.Tensor:
        stages = ((self.moduleUpsample4, self.moduleDeconv3), (self.moduleUpsample3, self.moduleDeconv2),
                  (self.moduleUpsample2, self.moduleDeconv1))
        x = self.moduleConv(x)
        for level, (up, conv) in enumerate(stages):
            x = up(x)
            if self.skips:
                assert skips is not None, "the prediction decoder needs the encoder's skips"
                x = torch.cat((skips[2 - level], x), dim=1)
            x = conv(x)
        return x


class MNADNet(nn.Module):
    """Encoder + decoder of MNAD-P (``frames_in=4``, skips) or MNAD-R (``frames_in=1``, no skips).

    The memory is not a module: it has no parameters and lives beside the network
    (:mod:`plugins.mnad.memory`), exactly as in the official code, where it is a plain tensor.
    ``memory=False`` builds the no-memory baseline's network, whose decoder reads z directly.
    """

    def __init__(self, frames_in: int, skips: bool, feature_dim: int = 512, memory: bool = True) -> None:
        super().__init__()
        self.encoder = Encoder(3 * frames_in, feature_dim)
        self.decoder = Decoder(2 * feature_dim if memory else feature_dim, skips)
