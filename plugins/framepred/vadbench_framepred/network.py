"""Frame-Pred's generator (a U-Net) and discriminator (a PatchGAN), docs/framepred.md §2.

Written from the specification, not from the TensorFlow code. Widths scale with one number
each (``channels`` for the generator, ``d_channels`` for the discriminator) so tests can train
a tiny copy of exactly the same graph; the defaults are the paper's (64 and 128), for which the
parameter counts are 7,704,195 and 6,831,489.
"""

from __future__ import annotations

import torch
from torch import nn


def _double_conv(i: int, o: int) -> nn.Sequential:
    """Two 3×3 'same' convolutions with bias and ReLU, no normalisation (every U-Net level)."""
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.Conv2d(o, o, 3, padding=1), nn.ReLU())


def glorot_(module: nn.Module) -> None:
    """TensorFlow's defaults, which the reference trained with: Glorot-uniform kernels, zero biases.

    PyTorch's own default (Kaiming-uniform with a=√5) draws other scales; the fan sum of a
    transposed convolution is the same either way round, so ``xavier_uniform_`` matches TF's.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """U-Net: ``[B, 3·frames_in, H, W]`` in [−1, 1] -> the next frame ``[B, 3, H, W]`` in [−1, 1].

    Encoder levels of c, 2c, 4c, 8c features with three 2×2 max-pools; each decoder level is a
    2×2 stride-2 transposed convolution (+ ReLU) to half the channels, the concatenation
    [skip, upsampled] (skip first) and two 3×3 convolutions; a 3×3 head to 3 channels and tanh.
    """

    def __init__(self, frames_in: int = 4, channels: int = 64) -> None:
        super().__init__()
        widths = [channels * 2**k for k in range(4)]
        self.down = nn.ModuleList(_double_conv(i, o) for i, o in zip([3 * frames_in, *widths[:-1]], widths))
        self.pool = nn.MaxPool2d(2, 2)
        self.up = nn.ModuleList(nn.Sequential(nn.ConvTranspose2d(w, w // 2, 2, stride=2), nn.ReLU())
                                for w in reversed(widths[1:]))
        self.merge = nn.ModuleList(_double_conv(w, w // 2) for w in reversed(widths[1:]))
        self.head = nn.Conv2d(widths[0], 3, 3, padding=1)
        glorot_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat((skips.pop(), up(x)), dim=1))
        return torch.tanh(self.head(x))


class Discriminator(nn.Module):
    """PatchGAN: a frame ``[B, 3, H, W]`` -> patch logits ``[B, 1, h, w]`` (35×35 at 256²).

    Four 4×4 convolutions (d, 2d, 4d, 4d filters; strides 2, 2, 2, 1) and a 4×4 stride-1
    convolution to one channel, each after a reflect padding of 2 and without padding of its
    own; leaky ReLU 0.2 between them and no normalisation. The logits are returned; the
    least-squares losses act on their sigmoid (:mod:`vadbench_framepred.losses`).
    """

    def __init__(self, d_channels: int = 128) -> None:
        super().__init__()
        widths = [3, d_channels, 2 * d_channels, 4 * d_channels, 4 * d_channels]
        layers: list[nn.Module] = []
        for i, o, stride in zip(widths[:-1], widths[1:], (2, 2, 2, 1)):
            layers += [nn.ReflectionPad2d(2), nn.Conv2d(i, o, 4, stride=stride), nn.LeakyReLU(0.2)]
        layers += [nn.ReflectionPad2d(2), nn.Conv2d(widths[-1], 1, 4, stride=1)]
        self.net = nn.Sequential(*layers)
        glorot_(self)

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        return self.net(frame)
