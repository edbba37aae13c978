"""Training on several processes under ``torchrun``: the process group, what each rank sees of a
global batch, synchronised BatchNorm, and the collectives the harness and plugins use.

``torchrun`` starts one process per device and tells each its place through the environment
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``); :func:`setup` joins them into a process group (NCCL on
GPUs, gloo on CPUs). The aim is that a run on W processes with global batch B follows the run of
one process with batch B (docs/distributed.md): every rank draws the same seeded order and takes
its consecutive slice of each global batch (:class:`RankSlices`), BatchNorm normalises with the
statistics of the whole global batch (:func:`data_parallel`), and DDP averages the gradients of
the equal local batches, which is the gradient of the batch-mean loss of the single process.

Every function here is correct in one process as well: a collective over one rank is the
identity, so callers use them unconditionally.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn

from vadbench.errors import ConfigError

# How long a rank waits for the others at a collective. Long, because the ranks other than 0 wait
# at the next run's start (or the end of this one) while rank 0 alone scores the test set.
WAIT = timedelta(hours=2)


def launched() -> bool:
    """Started by torchrun with more than one process (torchrun sets WORLD_SIZE; srun alone does not)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_distributed() -> bool:
    """This process belongs to a process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank: 0 in one process, and the one that writes the run directory."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def setup(device: str) -> str:
    """Join the process group torchrun described (once per process) and return this rank's device.

    On GPUs each process takes the one of its ``LOCAL_RANK`` (``--device cuda`` becomes
    ``cuda:<local rank>``). The ranks other than 0 print nothing: rank 0 speaks for the run.
    """
    if not launched():
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        if device != "cuda":
            raise ConfigError(f"under torchrun pass --device cuda, not {device}: each process takes the GPU of its "
                              "LOCAL_RANK")
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local} has no GPU: torch sees {torch.cuda.device_count()}; start at "
                              "most that many processes per node (--nproc_per_node)")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=WAIT)
    if rank() != 0:
        from vadbench.console import console

        console.quiet = True
    return device


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` concatenated along dim 0 in rank order; ``tensor`` itself in one process.

    Ranks hold consecutive slices of a global batch (:class:`RankSlices`), so the result is what
    one process computes on the whole batch, in the same order. Shapes must agree on every rank
    (equal slices do); no gradient flows through it.
    """
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def mean_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over the ranks (itself in one process): a batch mean of equal slices."""
    if not is_distributed():
        return tensor
    total = tensor.clone()
    dist.all_reduce(total)
    return total / world_size()


class RankSlices(torch.utils.data.Sampler[list[int]]):
    """This rank's part of each global batch: the ``rank``-th of ``world`` equal consecutive slices.

    ``batches`` is the single process's batch sampler (its seeded order is drawn identically on
    every rank), so the concatenation of the slices in rank order is the batch one process would
    see. Consecutive rather than strided slices keep that order, which the gathers of
    :func:`all_gather_cat` rely on.
    """

    def __init__(self, batches: torch.utils.data.BatchSampler, rank: int, world: int) -> None:
        self.batches, self.rank, self.world = batches, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            k = len(batch) // self.world
            yield batch[self.rank * k:(self.rank + 1) * k]

    def __len__(self) -> int:
        return len(self.batches)


def check_split(n_items: int, batch_size: int, drop_last: bool, world: int) -> None:
    """Refuse global batches that do not split into ``world`` equal slices, before any work.

    With unequal local batches DDP's average of the local batch means is no longer the mean over
    the global batch, and the run would silently train on something else.
    """
    if batch_size % world:
        raise ConfigError(f"a global batch of {batch_size} does not split over {world} processes: use a batch size "
                          f"that is a multiple of {world} (or another --nproc_per_node)")
    last = 0 if drop_last else n_items % batch_size
    if last % world:
        raise ConfigError(f"the last batch holds {last} of {n_items} training items (batch {batch_size}), which does "
                          f"not split over {world} processes; use a number of processes that divides {last}, or "
                          "train this run in one process")


class _SumOverRanks(torch.autograd.Function):
    """The sum of a tensor over the ranks, differentiable: every rank's loss depends on every
    rank's input through the sum, so the gradient is the sum over the ranks of the gradients."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        total = x.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _SumOverRanks.forward(ctx, grad)


class _CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm with the statistics of the whole global batch, on CPUs, where torch's
    :class:`~torch.nn.SyncBatchNorm` refuses to run (2.13: its forward wants a GPU tensor, and DDP
    refuses a CPU module holding one).

    Training mode normalises with the mean and (biased) variance over every rank's slice, two
    passes as one process computes them, each summed over the ranks by :class:`_SumOverRanks`
    (as torch's SyncBatchNorm sums its statistics and their gradients); the running statistics take the unbiased variance. Eval mode is plain BatchNorm. It has the
    attributes of every ``BatchNorm*d``, so a layer becomes one by changing its class.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = (1, -1) + (1,) * (x.dim() - 2)
        n = x.numel() // x.shape[1] * world_size()
        mean = _SumOverRanks.apply(x.sum(dims)) / n
        centred = x - mean.view(shape)
        var = _SumOverRanks.apply(centred.square().sum(dims)) / n
        if self.track_running_stats:
            assert self.running_mean is not None and self.running_var is not None
            assert self.num_batches_tracked is not None
            self.num_batches_tracked.add_(1)
            momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * n / max(n - 1, 1), momentum)
        y = centred * (var + self.eps).rsqrt().view(shape)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def sync_batchnorm(module: nn.Module, device: str) -> None:
    """Make the BatchNorm layers inside ``module`` normalise with the whole global batch's statistics, in
    place: torch's SyncBatchNorm on GPUs, :class:`_CPUSyncBatchNorm` on CPUs. Parameters, buffers
    and state-dict names stay as they are."""
    if device.startswith("cuda"):
        nn.SyncBatchNorm.convert_sync_batchnorm(module)  # replaces the layers below a non-BatchNorm module in place
        return
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.__class__ = _CPUSyncBatchNorm


class _Replica(nn.Module):
    """``module`` with ``forward`` as its forward pass: what DDP wraps. DDP averages gradients only
    of the passes that go through its own forward, and a network may have none that fits (MNAD
    reads its memory between encoder and decoder)."""

    def __init__(self, module: nn.Module, forward: Callable[..., Any]) -> None:
        super().__init__()
        self.module = module
        self.run = forward

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.run(*args, **kwargs)


def data_parallel(module: nn.Module, device: str, forward: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """``forward`` (default: ``module`` itself) as DDP trains it, with ``module``'s BatchNorm layers
    synchronised over the ranks. Only ``module``'s submodules change, in place and keeping their
    parameters and state-dict names, so the caller's references, optimiser and checkpoints stay as
    they are; in eval mode a synchronised BatchNorm is a plain one."""
    replica = _Replica(module, forward or module.__call__)
    sync_batchnorm(replica, device)
    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return nn.parallel.DistributedDataParallel(replica, device_ids=ids)
