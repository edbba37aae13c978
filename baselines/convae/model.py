"""The ConvAE network of Hasan et al. (CVPR 2016) as described in ``docs/baselines.md`` §3.2.

Ten stacked grayscale frames go through three tanh convolutions of the paper's widths
(512, 256, 128) with two 2x2 max-pools, and back through mirrored transposed convolutions whose
max-unpooling puts every value back where its pool took it from (the stored indices). The widths
are mirrored (deconv3 widens 128 -> 256, deconv2 256 -> 512) because unpooling by indices needs
the channel count of the pooled tensor; that is the one reading of the paper's figure under
which its switch-based unpooling is well defined. At 227x227 it has 8,384,138 parameters.

Every size is taken from the input, so the same layers run at the CPU profiles' smaller
resolutions (any side of at least 23 pixels).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

CUBOID = 10  # frames per cuboid, stacked as channels
MIN_SIDE = 23  # smallest frame side whose conv1 output (4 pixels) survives both pools


class ConvAENet(nn.Module):
    """Fully convolutional AE: ``[B, 10, H, W]`` -> ``[B, 10, H, W]``.

    ``tanh_output`` puts a tanh on the reconstruction (the released Caffe model does); the
    default output is linear because mean-subtracted inputs reach about -0.6 .. 1.
    """

    def __init__(self, tanh_output: bool = False) -> None:
        super().__init__()
        self.tanh_output = tanh_output
        self.conv1 = nn.Conv2d(CUBOID, 512, 11, stride=4)
        self.conv2 = nn.Conv2d(512, 256, 5, padding=2)
        self.conv3 = nn.Conv2d(256, 128, 3, padding=1)
        self.deconv3 = nn.ConvTranspose2d(128, 256, 3, padding=1)
        self.deconv2 = nn.ConvTranspose2d(256, 512, 5, padding=2)
        self.deconv1 = nn.ConvTranspose2d(512, CUBOID, 11, stride=4)
        for layer in (self.conv1, self.conv2, self.conv3, self.deconv3, self.deconv2, self.deconv1):
            nn.init.xavier_uniform_(layer.weight)  # Caffe's xavier filler, constant (zero) biases
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = torch.tanh(self.conv1(x))
        p1, i1 = F.max_pool2d(h1, 2, return_indices=True)
        h2 = torch.tanh(self.conv2(p1))
        p2, i2 = F.max_pool2d(h2, 2, return_indices=True)
        z = torch.tanh(self.conv3(p2))
        u2 = F.max_unpool2d(torch.tanh(self.deconv3(z)), i2, 2, output_size=h2.shape[-2:])
        u1 = F.max_unpool2d(torch.tanh(self.deconv2(u2)), i1, 2, output_size=h1.shape[-2:])
        out = self.deconv1(u1, output_size=x.shape[-2:])
        return torch.tanh(out) if self.tanh_output else out
