"""Where a sweep's jobs run, and the table that follows them.

Every executor runs the same :class:`~vadbench.jobs.Job` objects through
:func:`~vadbench.jobs.run_job`; none schedules anything itself beyond a bounded number of local
processes, so clusters are driven by the engines built for them:

* ``local``: one fresh process per job (forked from a fork server, so a worker shares no state
  with the sweep and one that crashes fails its job alone), ``--jobs`` at a time, each job's threads set so that
  jobs × threads ≤ the cores this process may use;
* ``slurm``: a SLURM job array through submitit (``executor.map_array``), with the partition,
  GPUs, time, memory and CPUs per job as options and ``--jobs`` as the array's parallelism;
* ``submitit-local``: submitit's local executor, which runs the same pickled jobs as
  subprocesses (all at once: it has no array throttle); the way the SLURM path is tested;
* ``ray``: one Ray task per job, on the cluster of ``RAY_ADDRESS`` or a local Ray started here
  (``pip install 'vadbench[ray]'``); Ray's CPU and GPU accounting bounds what runs at once.

An executor is a generator of events: a job's name when its work starts, its
:class:`~vadbench.jobs.Outcome` when it ends. :func:`execute` shows them as one rich table
(queued / running / done / failed / skipped / busy, elapsed) on a terminal, and nothing but the
summary elsewhere. Jobs already finished are skipped before anything is submitted.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.live import Live
from rich.table import Table
from rich.text import Text

from vadbench.console import console
from vadbench.errors import ConfigError, one_line
from vadbench.jobs import Job, Outcome, run_job

OPTIONS = {  # executor -> the Resources fields it uses
    "local": ("jobs", "cpus_per_task"),
    "submitit-local": ("cpus_per_task", "gpus", "time"),
    "slurm": ("jobs", "cpus_per_task", "gpus", "time", "mem", "partition"),
    "ray": ("cpus_per_task", "gpus"),
}
EXECUTORS = tuple(OPTIONS)
Event = str | Outcome  # a job's name when it starts, its outcome when it ends
POLL_SECONDS = 0.5  # how often submitit's and Ray's job states are read


@dataclass(frozen=True)
class Resources:
    """What each job gets and how many run at once (``None``: the executor's or the cluster's default)."""

    executor: str = "local"
    jobs: int | None = None  # local: processes at once (default 1); slurm: the array's parallelism
    cpus_per_task: int | None = None  # threads per job (local default: cores // jobs; elsewhere 1)
    gpus: int | None = None  # per job
    time: int | None = None  # minutes per job
    mem: float | None = None  # GB per job
    partition: str | None = None

    def check(self) -> Resources:
        """Refuse options the executor does not use, and an executor that cannot run here, before any work."""
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}; use {', '.join(EXECUTORS)}")
        for option in OPTIONS["slurm"]:
            if getattr(self, option) is not None and option not in OPTIONS[self.executor]:
                users = [name for name, options in OPTIONS.items() if option in options]
                raise ConfigError(f"--{option.replace('_', '-')} does not apply to --executor {self.executor} "
                                  f"(it is an option of {', '.join(users)})")
        if self.executor == "local" and (self.jobs or 1) * self.threads > usable_cores():
            raise ConfigError(f"--jobs {self.jobs or 1} × {self.threads} threads per job exceeds the {usable_cores()} "
                              "CPU cores here (jobs × threads must be ≤ cores)")
        if self.executor == "slurm" and shutil.which("sbatch") is None:
            raise ConfigError("--executor slurm submits with SLURM's sbatch, which is not on PATH here; run the sweep "
                              "on a SLURM login node (or use --executor local)")
        if self.executor == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise ConfigError("--executor ray needs Ray: pip install 'vadbench[ray]'") from None
        return self

    @property
    def here(self) -> bool:
        """Whether the jobs run on this machine (so a CUDA device they ask for must be here too)."""
        return self.executor in ("local", "submitit-local") or (self.executor == "ray" and not os.environ.get("RAY_ADDRESS"))

    @property
    def threads(self) -> int:
        if self.executor == "local":
            return self.cpus_per_task or max(1, usable_cores() // (self.jobs or 1))
        return self.cpus_per_task or 1


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, which a cluster's cgroup sets)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def execute(jobs: list[Job], resources: Resources) -> list[Outcome]:
    """Run every job of ``jobs`` not finished yet on ``resources.executor``; every job's outcome, in order."""
    board = Board(jobs)
    todo = []
    for job in jobs:
        if job.run_dir.finished:
            board.update(Outcome(job.name, "skipped"))
        else:
            todo.append(dataclasses.replace(job, threads=resources.threads))
    run = {"local": _local, "ray": _ray}.get(resources.executor, _submitit)
    live = Live(board, console=console, refresh_per_second=4) if console.is_terminal else nullcontext()
    with live:
        for event in run(todo, resources) if todo else ():
            board.update(event)
    board.summarise()
    return [board.outcomes[job.name] for job in jobs]


class Board:
    """The jobs' states as one table; rich renders it afresh each refresh, so elapsed times run."""

    ORDER = ("running", "busy", "failed", "queued", "done", "skipped")  # what needs eyes first

    def __init__(self, jobs: list[Job]) -> None:
        self.root = jobs[0].root if jobs else ""
        self.names = [job.name for job in jobs]
        self.outcomes: dict[str, Outcome] = {}
        self.began: dict[str, float] = {}

    def update(self, event: Event) -> None:
        if isinstance(event, Outcome):
            self.outcomes[event.name] = event
        else:
            self.began[event] = time.monotonic()

    def state(self, name: str) -> str:
        return self.outcomes[name].state if name in self.outcomes else "running" if name in self.began else "queued"

    def headline(self) -> str:
        """``sweep ROOT: 6 jobs, 1 running, 2 queued, 3 done``."""
        states = [self.state(name) for name in self.names]
        counts = ", ".join(f"{states.count(s)} {s}" for s in self.ORDER if s in states)
        return f"sweep {self.root}: {len(states)} job{'s' * (len(states) != 1)}, {counts}"

    def __rich__(self) -> Table:
        table = Table(title=Text(self.headline()), title_justify="left")
        for column in ("job", "state", "elapsed", "note"):
            table.add_column(column, justify="right" if column == "elapsed" else "left", no_wrap=column != "note")
        style = {"running": "cyan", "done": "green", "failed": "red", "busy": "yellow", "skipped": "dim"}
        for name in sorted(self.names, key=lambda n: self.ORDER.index(self.state(n))):
            outcome = self.outcomes.get(name)
            seconds = outcome.seconds if outcome else time.monotonic() - self.began[name] if name in self.began else 0
            note = (outcome.error or ("resumed" if outcome.resumed else "")) if outcome else ""
            table.add_row(Text(name), self.state(name), _elapsed(seconds) if seconds else "", Text(note),
                          style=style.get(self.state(name)))
        return table

    def summarise(self) -> None:
        """The last word: the counts, then each job not finished with its one-line reason."""
        console.print(self.headline(), highlight=False)
        for name in self.names:
            outcome = self.outcomes.get(name)
            if outcome is not None and outcome.state in ("failed", "busy"):
                console.print(Text.assemble((outcome.state, "red"), f" {name}: {outcome.error}"), soft_wrap=True)


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{seconds:.1f} s" if seconds < 60 else f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


# -- local processes ----------------------------------------------------------------------------
def _local(jobs: list[Job], resources: Resources) -> Iterator[Event]:
    from multiprocessing.connection import wait

    context = _fresh_processes()
    waiting = deque(jobs)
    running: dict[Any, tuple[Job, Any]] = {}  # the pipe a worker reports on -> (its job, its process)
    try:
        with _terminated_by_sigterm():
            while waiting or running:
                while waiting and len(running) < (resources.jobs or 1):
                    job = waiting.popleft()
                    receive, send = context.Pipe(duplex=False)
                    process = context.Process(target=_worker, args=(job, send, dict(os.environ)),
                                              name=f"vadbench {job.name}")
                    process.start()
                    send.close()
                    running[receive] = job, process
                for pipe in wait(list(running)):
                    job, process = running[pipe]
                    try:
                        message = pipe.recv()
                    except EOFError:  # the worker ended without an outcome: killed, out of memory, ...
                        message = Outcome(job.name, "failed", _died(process))
                    yield message
                    if isinstance(message, Outcome):
                        pipe.close()
                        process.join()
                        del running[pipe]
    finally:  # interrupted: the workers stop too (their finished epochs are checkpointed)
        for _, process in running.values():
            process.terminate()
            process.join()


def _fresh_processes() -> Any:
    """Workers that share nothing with the sweep's process, started cheaply: a fork server that has
    imported what every job imports (the runner, with torch) forks each one, so a job starts at once
    instead of spending seconds of CPU on imports; ``spawn`` where there is no fork server. Each
    worker's threads are set by its job."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["vadbench.runner"])
    return context


def _worker(job: Job, pipe: Any, environ: dict[str, str]) -> None:
    """A local worker process: one job, its start and then its outcome sent back. The environment is
    the sweep's at this job's start (a fork server keeps the one it started with)."""
    os.environ.clear()
    os.environ.update(environ)
    try:
        pipe.send(run_job(job, notify=pipe.send))
    except KeyboardInterrupt:
        sys.exit(130)


def _died(process: Any) -> str:
    process.join()
    code = process.exitcode
    how = f"by signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"with exit code {code}"
    return f"its worker process ended {how} before reporting (killed, or out of memory?)"


@contextmanager
def _terminated_by_sigterm() -> Iterator[None]:
    """SIGTERM ends the sweep as Ctrl-C does, through ``finally`` (which stops the workers), rather than
    at once with the workers left running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- submitit: SLURM, and its local executor ------------------------------------------------------
def _submitit(jobs: list[Job], resources: Resources) -> Iterator[Event]:
    import submitit

    cluster = "slurm" if resources.executor == "slurm" else "local"
    executor = submitit.AutoExecutor(folder=Path(jobs[0].root) / "submitit" / "%j", cluster=cluster)
    # the local executor's own default time limit is 2 minutes; a run is allowed a week there
    minutes = resources.time or (None if cluster == "slurm" else 7 * 24 * 60)
    executor.update_parameters(name="vadbench-sweep", timeout_min=minutes, mem_gb=resources.mem,
                               gpus_per_node=resources.gpus, cpus_per_task=resources.cpus_per_task,
                               slurm_partition=resources.partition, slurm_array_parallelism=resources.jobs)
    pending = dict(zip(executor.map_array(run_job, jobs), jobs))
    started: set[str] = set()
    while pending:
        for handle, job in list(pending.items()):
            if handle.done():
                del pending[handle]
                yield _result(lambda: handle.result(), job, f"submitit job {handle.job_id}")
            elif job.name not in started and handle.state == "RUNNING":
                started.add(job.name)
                yield job.name
        if pending:
            time.sleep(POLL_SECONDS)


def _result(get: Callable[[], Outcome], job: Job, what: str) -> Outcome:
    """The outcome a job returned; a job that could not return one (its process killed, a node lost)
    fails with the engine's last word on it."""
    try:
        return get()
    except Exception as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        return Outcome(job.name, "failed", one_line(f"{what} ended without an outcome: {lines[-1]}"))


# -- Ray ------------------------------------------------------------------------------------------
def _ray(jobs: list[Job], resources: Resources) -> Iterator[Event]:
    import logging

    import ray
    from ray.util.queue import Queue

    ours = not ray.is_initialized()
    if ours:  # RAY_ADDRESS names a running cluster; without it Ray starts one here
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        news = Queue()
        task = ray.remote(run_job).options(num_cpus=resources.threads, num_gpus=resources.gpus or 0,
                                           max_retries=0)  # a job that dies fails, as on every executor
        pending = {task.remote(job, news.put): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
            while not news.empty():
                yield news.get_nowait()
            for ref in done:
                job = pending.pop(ref)
                yield _result(lambda: ray.get(ref), job, "Ray task")
    finally:
        if ours:
            ray.shutdown()
