"""Frame-Pred's training losses (docs/framepred.md §3) and the OpenCV-flow warping target (§6).

All image losses act on frames in [−1, 1], as the reference trains. The adversarial losses are
the least-squares ones on the *sigmoid* of the discriminator's logits (not on the logits, as
LSGAN usually is): the reference squares its "predictions", which are sigmoids.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def intensity_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_int = mean (Î − I)²: the L2 intensity term (p = 2)."""
    return (pred - target).pow(2).mean()


def abs_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """|∂ₓx| and |∂ᵧx| per channel: differences of neighbouring pixels, with a zero pixel beyond the
    right and bottom borders (a 2-tap filter under TensorFlow's 'same' padding), so the last
    column and row see |x| itself and the maps keep the input's size."""
    padded = F.pad(x, (0, 1, 0, 1))
    return (padded[..., :-1, 1:] - x).abs(), (padded[..., 1:, :-1] - x).abs()


def gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_gd = mean over pixels and channels of | |∂ₓI| − |∂ₓÎ| | + | |∂ᵧI| − |∂ᵧÎ| | (exponent 1)."""
    (pdx, pdy), (tdx, tdy) = abs_gradients(pred), abs_gradients(target)
    return ((tdx - pdx).abs() + (tdy - pdy).abs()).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = mean ½(D(I) − 1)² + mean ½·D(Î)², D = sigmoid of the patch logits."""
    return 0.5 * (torch.sigmoid(real_logits) - 1).pow(2).mean() + 0.5 * torch.sigmoid(fake_logits).pow(2).mean()


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_G,adv = mean ½(D(Î) − 1)²: the generator's side of the least-squares game."""
    return 0.5 * (torch.sigmoid(fake_logits) - 1).pow(2).mean()


def warp_loss(pred: torch.Tensor, warped: torch.Tensor) -> torch.Tensor:
    """L_op' = mean |W − Î|, W the last real input frame carried along the real pair's OpenCV flow.

    Equal to mean |(W − I_t) − (Î − I_t)|: the motion the prediction adds to the last input frame
    must agree with the real motion. W comes from real frames only (a constant), so the gradient
    reaches the generator through Î directly; the flow itself is never differentiated.
    """
    return (warped - pred).abs().mean()


# Farnebäck's parameters: OpenCV's documented example values (pyramid scale 0.5, 3 levels, window
# 15, 3 iterations, polynomial neighbourhood 5 with sigma 1.2); nothing in the paper to follow.
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def farneback_warp(last: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The last input frames warped onto the next ones: uint8 ``[B, H, W, 3]`` each -> the same shape.

    The dense flow is computed from the next frame back to the last (grayscale), so each pixel of
    the next frame knows where to sample the last one (a backward warp, bilinear, borders
    replicated). A loop over the batch (4 pairs), which OpenCV's API requires; it runs on the CPU
    beside the training step.
    """
    out = np.empty_like(last)
    h, w = last.shape[1:3]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)
    for i in range(len(last)):
        flow = cv2.calcOpticalFlowFarneback(cv2.cvtColor(target[i], cv2.COLOR_RGB2GRAY),
                                            cv2.cvtColor(last[i], cv2.COLOR_RGB2GRAY), None, **FARNEBACK)
        where = grid + flow
        out[i] = cv2.remap(last[i], where[..., 0], where[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out
