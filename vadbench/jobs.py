"""One job of a sweep as it runs in its worker: ``vadbench run --resume`` into ``ROOT/<name>``, under a lock.

A :class:`Job` is plain data (its request is the JSON that ``sweep.json`` records), so every
executor ships the same object: a local process, submitit's pickle for SLURM or its local
executor, a Ray task. :func:`run_job` is all a worker calls, and it calls the runner's public
:func:`~vadbench.runner.run`, so a job is exactly the run the command line would make:

* **a lock per run** (``ROOT/.locks/<name>.lock``, an OS file lock, released when its process
  ends however it ends): two sweeps on one root never run a job at the same time; the second
  reports the job ``busy`` and leaves it alone;
* **resume**: under the lock, a finished run is ``skipped`` (nothing recomputed); an interrupted
  one continues from its last checkpoint (the runner's ``--resume``, which also refuses a run
  directory whose identity differs); a new one starts;
* **output** goes to ``ROOT/logs/<name>.log`` (appended per attempt, a traceback included), so
  parallel jobs never write over the sweep's table;
* **threads**: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` and ``torch.set_num_threads`` are set
  before torch does any work, so jobs × threads stays within the cores the executor planned;
* **errors** are data: a job that fails returns its one-line error, and the sweep goes on.

This module imports neither torch nor the runner at import time: a worker started afresh (spawned
where there is no fork server, a submitit task) unpickles a job before the job sets its threads.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from filelock import FileLock, Timeout

from vadbench.errors import VadbenchError, one_line
from vadbench.rundir import RunDir

State = Literal["done", "skipped", "failed", "busy"]


@dataclass(frozen=True)
class Job:
    """One run of a sweep: its directory name under ``root`` and its :class:`~vadbench.runner.RunRequest`
    fields (but ``out``, ``resume`` and ``overwrite``, which the sweep decides) as JSON values."""

    name: str
    request: dict[str, Any]
    root: str
    plugins: tuple[str, ...] = ()  # --plugin files, loaded in the worker (a fresh process knows none)
    threads: int | None = None  # CPU threads of the job (None: torch's default)

    @property
    def run_dir(self) -> RunDir:
        return RunDir(Path(self.root) / self.name)

    @property
    def log(self) -> Path:
        return Path(self.root) / "logs" / f"{self.name}.log"

    @property
    def lock(self) -> Path:
        return Path(self.root) / ".locks" / f"{self.name}.lock"


@dataclass(frozen=True)
class Outcome:
    """What became of a job: ``done`` (run here), ``skipped`` (finished before), ``failed`` (with its
    one-line error) or ``busy`` (another process holds its lock)."""

    name: str
    state: State
    error: str | None = None
    seconds: float = 0.0
    resumed: bool = False  # the run directory held an interrupted run, continued here


def run_job(job: Job, notify: Callable[[str], None] | None = None) -> Outcome:
    """Run ``job`` unless it is finished or running elsewhere; ``notify(name)`` when its work starts."""
    lock = FileLock(job.lock)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return Outcome(job.name, "busy", f"another process holds {job.lock}: the job is running there")
    try:
        run = job.run_dir
        if run.finished:
            return Outcome(job.name, "skipped")
        if notify is not None:
            notify(job.name)
        resumed = run.is_run
        began = time.monotonic()
        with _output_to(job.log):
            error = _run(job)
        return Outcome(job.name, "failed" if error else "done", error, round(time.monotonic() - began, 1), resumed)
    finally:
        lock.release()


def _run(job: Job) -> str | None:
    """The run itself, in this process; its one-line error, or None once it is finished."""
    if job.threads is not None:
        set_threads(job.threads)
    try:
        _load_plugins(job.plugins)
        from vadbench.runner import RunRequest, run

        run(RunRequest(**job.request, out=job.run_dir.path, resume=True))
    except VadbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return one_line(str(exc))
    except Exception as exc:  # a bug (vadbench's or the detector's): this job fails, the sweep goes on
        traceback.print_exc()
        return one_line(f"{type(exc).__name__}: {exc} (a bug, not a setting; the traceback is in {job.log})")
    return None


def set_threads(n: int) -> None:
    """``n`` CPU threads for this process's numerical work. The variables come first: OpenMP reads
    them once, when torch first uses it; ``set_num_threads`` then fixes torch's own pool."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(n)
    import torch

    torch.set_num_threads(n)


_LOADED: set[str] = set()


def _load_plugins(paths: tuple[str, ...]) -> None:
    """Run each ``--plugin`` file once per process (a Ray worker runs many jobs; loading a file twice
    would register its detectors twice, which the registry refuses as a conflict)."""
    from vadbench.registry import detectors

    for path in paths:
        if path not in _LOADED:
            detectors.load_file(path)
            _LOADED.add(path)


@contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """This process's stdout and stderr, Python's and the C libraries' alike, appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "a") as target:
        target.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()} on {platform.node()}\n")
        target.flush()
        os.dup2(target.fileno(), 1)
        os.dup2(target.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, original in zip((1, 2), saved):
                os.dup2(original, fd)
                os.close(original)
