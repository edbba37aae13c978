"""What a detector needs to run the same computation fast on any device: the numeric settings of a
run's device, a bf16 autocast switch, and a per-step function replayed from a CUDA graph.

Everything here is device-agnostic: on a CPU (or wherever CUDA graphs cannot be captured) the graph
helper hands back the eager function itself, so one step function serves both paths and the
numbers cannot diverge between them.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Literal, Sequence

import torch

Amp = Literal["off", "bf16"]


def configure(device: str) -> None:
    """Apply the numeric settings of a run on ``device``.

    On CUDA, TF32 is switched off for convolutions and matrix products (PyTorch lets cuDNN use it
    by default): TF32 keeps 10 mantissa bits, so "cuda" would silently be a reduced-precision run
    next to a CPU or a pre-Ampere GPU (the official code ran on a TITAN Xp). Reduced precision is
    the explicit ``amp=bf16`` switch instead, which a run records as a deviation. cuDNN picks its
    algorithms by heuristics (``benchmark`` off) among deterministic ones, so two runs with one seed
    on one machine train alike, as on a CPU.
    """
    torch.set_float32_matmul_precision("highest")
    if device.startswith("cuda"):
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def numerics(device: str) -> dict[str, Any]:
    """The numeric settings in effect on ``device`` (what :func:`configure` set), for the run's record."""
    record: dict[str, Any] = {"float32_matmul_precision": torch.get_float32_matmul_precision()}
    if device.startswith("cuda"):
        record.update(cudnn_tf32=torch.backends.cudnn.allow_tf32, cudnn_benchmark=torch.backends.cudnn.benchmark,
                      cudnn_deterministic=torch.backends.cudnn.deterministic, cudnn=torch.backends.cudnn.version())
    return record


def autocast(device: str, amp: Amp) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on ``device`` when ``amp == 'bf16'``, else nothing.

    The cast cache is off: it only pays when one weight is cast twice inside one region, and a
    cached cast must not outlive the CUDA graph it was captured in.
    """
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, cache_enabled=False)


class StepGraph:
    """``fn`` captured once in a CUDA graph on static copies of its example arguments; each call
    copies its arguments into them, replays the graph and returns the static outputs.

    ``fn`` must be pure (it reads its arguments and returns new tensors) and its arguments must keep
    their shapes. The outputs are overwritten by the next call: copy what must outlive it.
    """

    def __init__(self, fn: Callable[..., Any], example: Sequence[torch.Tensor], warmup: int = 3) -> None:
        self.inputs = [a.clone() for a in example]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # lazy initialisations (cuBLAS handles, workspaces) happen outside the capture
            for _ in range(warmup):
                fn(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = fn(*self.inputs)

    def __call__(self, *args: torch.Tensor) -> Any:
        for static, value in zip(self.inputs, args):
            static.copy_(value, non_blocking=True)
        self.graph.replay()
        return self.outputs


def graphed(fn: Callable[..., Any], example: Sequence[torch.Tensor], enabled: bool = True
            ) -> tuple[Callable[..., Any], dict[str, str]]:
    """``fn`` replayed from a CUDA graph where one can be captured, else ``fn`` itself, with the
    record of which: ``{"scoring_graph": "cuda-graph"}`` or ``{"scoring_graph": "eager",
    "scoring_graph_reason": ...}``. A failed capture falls back to eager and says why."""
    if not enabled:
        return fn, {"scoring_graph": "eager", "scoring_graph_reason": "switched off"}
    device = example[0].device.type if example else "no tensor"
    if device != "cuda":
        return fn, {"scoring_graph": "eager", "scoring_graph_reason": f"no CUDA graphs on {device}"}
    try:
        return StepGraph(fn, example), {"scoring_graph": "cuda-graph"}
    except Exception as error:  # any capture failure: the eager function computes the same step
        torch.cuda.synchronize()
        return fn, {"scoring_graph": "eager", "scoring_graph_reason": f"capture failed: {type(error).__name__}: {error}"}
