"""MNAD-P trained in float64 through the Trainer's loader, ``parallel`` and epochs, on 2 ranks and
then, after the process group is gone, in rank 0 alone: run by ``tests/test_distributed.py`` under
torchrun.

In float64 the rounding differences between a batch of 4 and two slices of 2 stay near 1e-16
instead of being amplified by Adam's first steps and by near-ties of the nearest memory item, as
they are in float32, so the two runs agree to ~1e-12 and any difference of semantics (a wrong
slice, unsynchronised BatchNorm, a memory updated from local queries, gradients not averaged)
stands out. Rank 0 saves both runs to ``argv[1]``.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import TensorDataset

from vadbench import RunError, Trainer, rank
from vadbench.distributed import mean_over_ranks, setup
from vadbench_mnad import MNADP
from vadbench_mnad.detector import make_optimizer


def train() -> dict[str, Any]:
    """3 epochs of 2 global batches of 4 (reshuffled each epoch) from fresh seeded weights."""
    detector = MNADP(dataclasses.replace(MNADP.Config(), height=16, width=16, feature_dim=32))
    detector.build(0)
    draw = torch.Generator().manual_seed(1)
    clips = TensorDataset(torch.randn(10, 12, 16, 16, generator=draw), torch.rand(10, 3, 16, 16, generator=draw) * 2 - 1)
    try:  # a fit that never calls trainer.parallel: refused on several ranks, fine in one process
        next(Trainer(seed=0).epochs(detector, 1))
        refused = ""
    except RunError as exc:
        refused = str(exc)
    trainer = Trainer(seed=0)
    loader = trainer.loader(clips, batch_size=4, drop_last=True)
    optimizer = make_optimizer(detector.net.parameters(), detector.config.lr)
    network = trainer.parallel(detector.net, forward=detector._network)
    steps = []
    for _ in trainer.epochs(detector, 3, optimizer=optimizer):
        detector.net.train()
        for x, target in loader:
            losses = detector.train_step(x, target, optimizer, network)
            trainer.log(**losses)
            steps.append(mean_over_ranks(torch.stack([v.detach() for v in losses.values()])))
    return {"steps": torch.stack(steps), "history": trainer.history, "memory": detector.memory,
            "network": detector.net.state_dict(), "refused": refused}


setup("cpu")
torch.set_default_dtype(torch.float64)
ranked = train()
dist.destroy_process_group()
if rank() == 0:
    torch.save({"ranked": ranked, "single": train()}, sys.argv[1])
