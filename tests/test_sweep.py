"""`vadbench sweep` as a user meets it: the console script on the synthetic scene, its executors,
resume after a kill, failed jobs, the sweep record, and the errors that come before any work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vadbench.executors import usable_cores

BIN = Path(sys.executable).parent / "vadbench"
TINY = ["--data-set", "train_videos=2", "--data-set", "test_videos=2", "--data-set", "frames=20"]
COMMON = ["--seeds", "0,1", "--set", "height=16", "--set", "width=16", "--epochs", "1", *TINY]
TWO_BY_TWO = ["--detectors", "framediff,mnad-p", "--set", "mnad-p.feature_dim=64", *COMMON]
RUNS = {"framediff-synthetic-s0", "framediff-synthetic-s1", "mnad-p-synthetic-cpu-s0", "mnad-p-synthetic-cpu-s1"}

# A detector that records each epoch it trains (MARKS/<run>.epochs, one line per epoch) and, for the
# runs and epochs named in HANG (run:epoch,...), stops at the start of that epoch until it is killed;
# a run whose name holds BREAK divides by zero (a bug, as a detector may have one).
MARKED = '''
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import vadbench


@dataclass
class MarkedConfig:
    height: int = 16
    width: int = 16
    color: str = "gray"
    epochs: int = 2


@vadbench.register_detector("marked")
class Marked(vadbench.Detector):
    """Mean brightness; counts its epochs and hangs where the test says."""

    Config = MarkedConfig

    def fit(self, data, trainer):
        run = trainer.checkpoint.parent.name
        marks = Path(os.environ["MARKS"])
        for epoch in trainer.epochs(self, trainer.n_epochs(self.config.epochs)):
            if os.environ.get("BREAK", "/") in run:
                1 / 0
            if f"{run}:{epoch}" in os.environ.get("HANG", "").split(","):
                (marks / f"{run}.hung").write_text("")
                time.sleep(600)
            with open(marks / f"{run}.epochs", "a") as f:
                f.write(f"{epoch}\\n")

    def score_video(self, video):
        return vadbench.VideoScores(video.frames.astype(np.float64).mean(axis=(1, 2, 3)))
'''


def vadbench(*args, env=None, cwd=None):
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "COLUMNS": "250", **(env or {})})


def lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def table_rows(root: Path) -> list[dict]:
    """`vadbench table ROOT` as JSON rows, less the timings (a property of the machine, not of the results)."""
    r = vadbench("table", ".", "--format", "json", cwd=root)
    assert r.returncode == 0, r.stderr
    return [{k: v for k, v in row.items() if k not in ("train_s", "score_fps")} for row in json.loads(r.stdout)["rows"]]


@pytest.fixture
def marked(tmp_path):
    plugin = tmp_path / "marked.py"
    plugin.write_text(MARKED)
    (tmp_path / "marks").mkdir()
    return plugin, {"MARKS": str(tmp_path / "marks")}


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The two-by-two sweep through the local executor, once for the tests that compare executors with it
    (its own cache and config: the per-test ones of conftest do not exist yet at module scope)."""
    base = tmp_path_factory.mktemp("local")
    env = {"VADBENCH_CACHE": str(base / "cache"), "VADBENCH_CONFIG": str(base / "config.toml")}
    r = vadbench("sweep", *TWO_BY_TWO, "--out", base / "sweep", "--jobs", "2", env=env)
    assert r.returncode == 0, r.stderr
    assert lines(r)[-1] == f"sweep {base / 'sweep'}: 4 jobs, 4 done"
    return base / "sweep"


def test_local_and_submitit_local_make_the_same_runs_and_table(tmp_path, local_sweep):
    local, submitted = local_sweep, tmp_path / "submitit"
    r = vadbench("sweep", *TWO_BY_TWO, "--out", submitted, "--executor", "submitit-local")
    assert r.returncode == 0, r.stderr
    for root in (local, submitted):
        assert {p.parent.name for p in root.glob("*/metrics.json")} == RUNS
        assert {job["name"] for job in json.loads((root / "sweep.json").read_text())["jobs"]} == RUNS
    assert (submitted / "submitit").is_dir() and not (local / "submitit").exists()
    for run in RUNS:  # the same run, whichever executor: every frame's score to the byte
        assert (local / run / "frames.csv").read_bytes() == (submitted / run / "frames.csv").read_bytes(), run
        config = json.loads((local / run / "config.json").read_text())
        assert config["seed"] == int(run[-1]) and config["input"]["height"] == 16
        assert ("feature_dim" in config["config"]) == run.startswith("mnad-p")
        threads = {root: json.loads((root / run / "env.json").read_text())["torch_threads"] for root in (local, submitted)}
        assert threads == {local: max(1, usable_cores() // 2), submitted: 1}  # jobs x threads <= cores; 1 per task
    rows = table_rows(local)
    assert rows == table_rows(submitted)
    assert [(row["detector"], row["seed"], row["auc_micro_n"]) for row in rows] == [("framediff", "0,1", 2),
                                                                                    ("mnad-p", "0,1", 2)]


def test_ray_runs_the_same_jobs(tmp_path, local_sweep):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'vadbench[ray]')")
    on_ray = tmp_path / "ray"
    r = vadbench("sweep", "--detectors", "framediff", *COMMON, "--out", on_ray, "--executor", "ray",
                 env={"RAY_ADDRESS": ""})
    assert r.returncode == 0, r.stderr
    for run in ("framediff-synthetic-s0", "framediff-synthetic-s1"):
        assert (local_sweep / run / "frames.csv").read_bytes() == (on_ray / run / "frames.csv").read_bytes()
    assert table_rows(on_ray) == table_rows(local_sweep)[:1]


def test_two_sweeps_never_run_one_job_and_a_killed_one_finishes_on_restart_with_nothing_run_twice(tmp_path, marked):
    plugin, env = marked
    marks, root = Path(env["MARKS"]), tmp_path / "sweep"
    args = ["sweep", "--detectors", "marked", "--seeds", "0-3", "--plugin", plugin, *TINY, "--out", root, "--jobs", "2"]
    hang = {"HANG": "marked-synthetic-s1:1,marked-synthetic-s2:1"}
    first = subprocess.Popen([str(BIN), *map(str, args)], env={**os.environ, **env, **hang}, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not all((marks / f"marked-synthetic-s{s}.hung").exists() for s in (1, 2)):
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.poll() else "slow"
            time.sleep(0.05)
        # s0 is finished, s1 and s2 are held (after their first epoch) by the first sweep: a second one on the
        # same root leaves those two alone and runs what is left
        second = vadbench(*args, env=env)
        assert second.returncode == 1, second.stderr
        assert lines(second)[-3] == f"sweep {root}: 4 jobs, 2 busy, 1 done, 1 skipped"
        assert all(line.startswith(f"busy marked-synthetic-s{s}: another process holds")
                   for s, line in zip((1, 2), lines(second)[-2:]))
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the first sweep and its workers, all at once
        first.wait()
    assert all((root / f"marked-synthetic-s{s}" / "checkpoint.pt").exists() for s in (1, 2))
    assert not any((root / f"marked-synthetic-s{s}" / "metrics.json").exists() for s in (1, 2))
    finished_at = {s: (root / f"marked-synthetic-s{s}" / "metrics.json").stat().st_mtime_ns for s in (0, 3)}

    r = vadbench(*args, env=env)
    assert r.returncode == 0, r.stderr
    assert lines(r)[-1] == f"sweep {root}: 4 jobs, 2 done, 2 skipped"
    for seed in range(4):  # every epoch of every run trained exactly once
        assert (marks / f"marked-synthetic-s{seed}.epochs").read_text() == "0\n1\n", seed
        assert json.loads((root / f"marked-synthetic-s{seed}" / "metrics.json").read_text())["epochs_trained"] == 2
    assert finished_at == {s: (root / f"marked-synthetic-s{s}" / "metrics.json").stat().st_mtime_ns for s in (0, 3)}
    log = (root / "logs" / "marked-synthetic-s1.log").read_text().splitlines()
    assert sum(line.startswith("== ") for line in log) == 2  # two attempts at s1, in one run directory


def test_failed_jobs_are_listed_with_their_error_and_the_sweep_record_guards_the_root(tmp_path, marked):
    plugin, env = marked
    root = tmp_path / "sweep"
    base = ["sweep", "--detectors", "marked", "--plugin", plugin, *TINY[:4], "--out", root, "--jobs", "2"]
    # frames=10 leaves no anomaly among the evaluated frames (an error the user made); BREAK is a bug in `marked`
    r = vadbench(*base, "--data-set", "frames=[10,20,30]", env={**env, "BREAK": "frames=30"})
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines(r)[-3] == f"sweep {root}: 3 jobs, 2 failed, 1 done"
    failed = dict(line.split(": ", 1) for line in lines(r)[-2:])
    assert set(failed) == {"failed marked-synthetic-s0-frames=10", "failed marked-synthetic-s0-frames=30"}
    assert "evaluated frames hold only one class" in failed["failed marked-synthetic-s0-frames=10"]
    assert failed["failed marked-synthetic-s0-frames=30"].startswith("ZeroDivisionError: division by zero (a bug")
    assert "Traceback" in (root / "logs" / "marked-synthetic-s0-frames=30.log").read_text()
    done = root / "marked-synthetic-s0-frames=20" / "metrics.json"
    stamp = done.stat().st_mtime_ns

    # the same sweep widened: the finished run is kept, the failed ones are tried again, the new one runs
    r = vadbench(*base, "--data-set", "frames=[10,20,30,40]", env=env)
    assert r.returncode == 1
    assert lines(r)[-2:] == [f"sweep {root}: 4 jobs, 1 failed, 2 done, 1 skipped",
                             f"failed marked-synthetic-s0-frames=10: {failed['failed marked-synthetic-s0-frames=10']}"]
    assert done.stat().st_mtime_ns == stamp
    assert all((root / f"marked-synthetic-s0-frames={n}" / "metrics.json").exists() for n in (30, 40))

    # a sweep that drops jobs of the recorded one is refused, before any work
    r = vadbench(*base, "--data-set", "frames=[20]", env=env)
    assert r.returncode == 2 and len(lines(r)) == 1, r.stderr
    assert f"{root / 'sweep.json'} records another sweep: this one lacks 3 of its 4 jobs" in lines(r)[0]


def test_a_sweep_file_with_grids_per_detector_settings_and_ablation_rows(tmp_path):
    """The file's jobs, named and resolved before any runs (the refusal of a bad row proves nothing ran)."""
    spec = tmp_path / "grid.toml"
    spec.write_text('detectors = ["framediff", "convae"]\nablate = ["memae"]\nseeds = "0-1"\nepochs = 1\n'
                    '[set]\nheight = 32\nwidth = 32\n[set.convae]\nlr = [1e-4, 2e-4]\n'
                    '[data-set]\ntrain_videos = 1\ntest_videos = [1, 2]\nframes = 20\n'
                    '[set.memae]\nstride = "x"\n')
    r = vadbench("sweep", spec, cwd=tmp_path)
    assert r.returncode == 2 and lines(r) == [f"error: {spec}: memae row 'MemAE' on synthetic: stride: expected int, "
                                             "got 'x'"], r.stderr
    assert not (tmp_path / "runs").exists()
    spec.write_text(spec.read_text().replace('stride = "x"', "stride = 4"))
    from vadbench.sweep import expand, load

    names = [name for name, _ in expand(load(spec), str(spec))]
    assert len(names) == 2 * (2 * (1 + 2 + 3)) and len(set(names)) == len(names)  # test_videos × seeds × rows
    assert names[:2] == ["framediff-synthetic-s0-test_videos=1", "framediff-synthetic-s1-test_videos=1"]
    assert "convae-synthetic-cpu-s1-test_videos=2-lr=0.0002" in names
    assert "memae-AE-Conv3D-synthetic-cpu-s0-test_videos=1" in names  # a row of MemAE's card, by its label


@pytest.mark.parametrize("args, message", [
    (("sweep", "--detectors", "framediff"), "a sweep given on the command line needs --out ROOT"),
    (("sweep", "missing.toml"), "sweep file not found: missing.toml"),
    (("sweep", "bad.toml"), "bad.toml is not valid TOML"),
    (("sweep", "--detectors", "framediff", "--out", "r", "--executor", "pbs"), "unknown executor 'pbs'"),
    (("sweep", "--detectors", "framediff", "--out", "r", "--partition", "gpu"),
     "--partition does not apply to --executor local (it is an option of slurm)"),
    (("sweep", "--detectors", "framediff", "--out", "r", "--jobs", "999"), "exceeds the"),
    (("sweep", "--detectors", "framediff", "--out", "r", "--executor", "slurm"), "sbatch, which is not on PATH"),
    (("sweep", "--detectors", "framediff", "--out", "r", "--set", "colour=gray"), "unknown setting 'colour'"),
    (("sweep", "--detectors", "framediff", "--out", "r", "--set", "height=[]"), "set height is an empty list"),
    (("sweep", "--detectors", "framediff", "--out", "r", "--set", "convae.lr=1"),
     "set names 'convae', which is not one of the sweep's detectors"),
    (("sweep", "--detectors", "framediff", "--out", "r", "--protocol-set", "drop_first=[0,4]"),
     "protocol-set must be a table of field = value, no lists"),
    (("sweep", "--detectors", "framediff", "--out", "r", "--seeds", "1,1"), "names seed 1 more than once"),
])
def test_usage_errors_are_one_line_before_any_work(args, message, tmp_path):
    if "slurm" in args and shutil.which("sbatch"):
        pytest.skip("SLURM's sbatch is on PATH here")
    (tmp_path / "bad.toml").write_text("detectors = [\n")
    r = vadbench(*args, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(lines(r)) == 1 and message in lines(r)[0], r.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("spec, message", [
    ({"detector": ["framediff"]}, "s.toml: unknown key 'detector'; valid: detectors, ablate, datasets, seeds"),
    ({}, "s.toml: name at least one detector"),
    ({"detectors": ["framediff", "framediff"]}, "s.toml: detectors names 'framediff' more than once"),
    ({"detectors": ["framediff"], "epochs": -1}, "s.toml: epochs must be >= 0, got -1"),
    ({"detectors": ["framediff"], "epochs": "one"}, "s.toml: epochs: expected int, got 'one'"),
    ({"detectors": ["framediff"], "datasets": ["ped2", "avenue"], "root": "data"}, "one root for 2 datasets"),
    ({"detectors": ["framediff"], "ablate": ["framediff"]}, "framediff defines no ablation grid"),
    ({"detectors": ["framediff"], "set": {"height": [16, "16"]}}, "two jobs would share the run directory "
                                                                  "'framediff-synthetic-s0-height=16'"),
    ({"detectors": ["framediff"], "data-set": {"frames": 0}}, "s.toml: framediff on synthetic: frames=0 is out of range"),
])
def test_bad_sweeps_are_refused_before_any_job(spec, message):
    from vadbench.errors import VadbenchError
    from vadbench.sweep import expand

    with pytest.raises(VadbenchError) as error:
        expand(spec, "s.toml")
    assert message in str(error.value)



def test_a_sweep_takes_every_run_option_but_those_it_decides():
    """A job is a run, so an option `run` gains is a sweep's too (and a key of the sweep file)."""
    import typer

    from vadbench.cli import app

    commands = typer.main.get_command(app).commands
    names = {c: {o for p in commands[c].params for o in p.opts if o.startswith("--")} for c in ("run", "sweep")}
    # a sweep names detectors and datasets (--detectors, --datasets), its seeds, and always resumes
    decided = {"--detector", "--dataset", "--seed", "--resume", "--overwrite"}
    assert names["run"] - decided <= names["sweep"] and not decided & names["sweep"]
    assert {"--detectors", "--datasets", "--executor", "--jobs", "--partition", "--gpus", "--time", "--mem",
            "--cpus-per-task", "--ablate"} <= names["sweep"] - names["run"]
