"""The run directory: the one place that knows its files, writes them and reads them back checked.

A run directory holds::

    config.json    the resolved run: detector (+ source, card), profile, config, dataset (+ options,
                   cache, preprocessing), seed, epochs, device, protocol, format
    env.json       versions and hardware
    checkpoint.pt  training state after the last finished epoch (``--resume`` continues from it);
                   removed when the run finishes unless ``--keep-checkpoint`` (model.pt suffices)
    model.pt       the trained detector's state_dict (``vadbench eval`` scores it again)
    train_log.csv  one row per epoch: losses and seconds
    frames.csv     one row per test frame: video, frame, label, score (+ the detector's extras);
                   every metric can be recomputed from it (``vadbench metrics``)
    regions.csv    with ``run --regions``: one row per scored region the run evaluated: video,
                   frame (within the video), x0, y0, x1, y1 (inclusive, source pixels), score;
                   RBDC/TBDC and their curves are recomputed from it (``vadbench plot --kind regions``)
    metrics.json   metrics, protocol record, provenance and timings; written last, so its
                   presence means the run is complete
    evals/         ``vadbench eval`` results, one folder each (the run's own files stay as they are)

Every file is written atomically (:mod:`vadbench.store`), and every file read back is checked: a
JSON record must parse and hold the fields its readers use, ``frames.csv`` the columns every
metric needs. ``config.json`` and ``metrics.json`` carry ``format`` (:data:`FORMAT`); a record
without it is format 1 (vadbench 0.1.0 before the field existed) and reads the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vadbench.errors import RunError
from vadbench.protocols import Protocol
from vadbench.store import atomic_open, check_writable, read_json, write_json

FORMAT = 2
CONFIG_KEYS = ("detector", "detector_source", "config", "dataset", "dataset_options", "input", "seed", "epochs",
               "device", "protocol")  # what eval and --resume read from config.json
METRICS_KEYS = ("detector", "dataset", "input", "protocol", "auc_micro")  # what tables and --resume read
IDENTITY = ("detector", "config", "dataset", "seed", "epochs")  # what a resumed run must share with the stored one
REGION_COLUMNS = ("video", "frame", "x0", "y0", "x1", "y1", "score")  # regions.csv


class RunDir:
    """One run directory (it need not exist yet)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- the files ----------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.json"

    @property
    def frames_file(self) -> Path:
        return self.path / "frames.csv"

    @property
    def regions_file(self) -> Path:
        return self.path / "regions.csv"

    @property
    def model(self) -> Path:
        return self.path / "model.pt"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def history_file(self) -> Path:
        return self.path / "train_log.csv"

    def evaluation(self, name: str) -> RunDir:
        return RunDir(self.path / "evals" / name)

    # -- state --------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.metrics_file.exists()

    @property
    def is_run(self) -> bool:
        return self.config_file.exists()

    def is_empty(self) -> bool:
        return not self.path.exists() or not any(self.path.iterdir())

    def check_writable(self) -> None:
        check_writable(self.path)

    def drop_checkpoint(self) -> None:
        self.checkpoint.unlink(missing_ok=True)

    # -- records ------------------------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        write_json(self.config_file, {**config, "format": FORMAT})

    def read_config(self) -> dict[str, Any]:
        if not self.is_run:
            raise RunError(f"{self.path} is not a run directory (no config.json)")
        return read_json(self.config_file, CONFIG_KEYS)

    def write_env(self, env: dict[str, Any]) -> None:
        write_json(self.path / "env.json", env)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.metrics_file, {**metrics, "format": FORMAT})

    def read_metrics(self) -> dict[str, Any]:
        if not self.finished:
            raise RunError(f"{self.path} is not a finished run (no metrics.json)")
        return read_json(self.metrics_file, METRICS_KEYS)

    def protocol(self) -> Protocol:
        """The protocol the finished run was evaluated under."""
        return Protocol.from_record(self.read_metrics()["protocol"])

    # -- tables -------------------------------------------------------------------------------
    def write_frames(self, table: Any) -> None:
        with atomic_open(self.frames_file) as f:
            table.to_csv(f, index=False, float_format="%.9g")

    def read_frames(self) -> Any:
        """``frames.csv``, checked: the columns every metric needs, labels 0/1, numeric scores."""
        import pandas as pd

        table = self._read_csv(self.frames_file)
        missing = [c for c in ("video", "frame", "label", "score") if c not in table]
        if missing:
            raise RunError(f"{self.frames_file} lacks the column(s) {', '.join(missing)}")
        if not table["label"].isin([0, 1]).all() or not pd.api.types.is_numeric_dtype(table["score"]):
            raise RunError(f"{self.frames_file} has labels other than 0/1 or non-numeric scores; it is corrupt")
        return table

    def write_regions(self, table: Any) -> None:
        """``regions.csv``; scores and boxes with 17 significant digits, so they read back exactly
        and the recomputed RBDC/TBDC equal the run's own."""
        missing = [c for c in REGION_COLUMNS if c not in table]
        if missing:
            raise RunError(f"region table for {self.regions_file} lacks the column(s) {', '.join(missing)}")
        with atomic_open(self.regions_file) as f:
            table[list(REGION_COLUMNS)].to_csv(f, index=False, float_format="%.17g")

    def read_regions(self) -> Any:
        """``regions.csv``, checked: its columns, integer frames >= 0, finite numbers, x0 <= x1, y0 <= y1."""
        import numpy as np
        import pandas as pd

        table = self._read_csv(self.regions_file)
        missing = [c for c in REGION_COLUMNS if c not in table]
        if missing:
            raise RunError(f"{self.regions_file} lacks the column(s) {', '.join(missing)}")
        numbers = table[list(REGION_COLUMNS[1:])]
        if len(table) and (not all(pd.api.types.is_numeric_dtype(numbers[c]) for c in numbers)
                           or not np.isfinite(numbers.to_numpy(np.float64)).all()
                           or (table["frame"] < 0).any() or (table["frame"] != table["frame"].round()).any()
                           or (table["x1"] < table["x0"]).any() or (table["y1"] < table["y0"]).any()):
            raise RunError(f"{self.regions_file} has a non-numeric or non-finite value, a negative or fractional frame "
                           "or a box with x1 < x0 or y1 < y0; it is corrupt")
        return table

    def write_history(self, history: list[dict[str, float]]) -> None:
        import pandas as pd

        with atomic_open(self.history_file) as f:
            pd.DataFrame(history).to_csv(f, index=False)

    def read_history(self) -> list[dict[str, float]]:
        if not self.history_file.exists() or not self.history_file.stat().st_size:
            return []
        return self._read_csv(self.history_file).to_dict("records")

    @staticmethod
    def _read_csv(path: Path) -> Any:
        import pandas as pd

        if not path.exists():
            raise RunError(f"no {path.name} in {path.parent}")
        try:
            return pd.read_csv(path, dtype={"video": str})
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise RunError(f"{path} is not a readable CSV ({str(exc).splitlines()[0]})") from None


def finished_runs(paths: list[Path]) -> list[RunDir]:
    """Every finished run (a folder with ``metrics.json``) under ``paths``, sorted."""
    found = []
    for root in map(Path, paths):
        if not root.exists():
            raise RunError(f"no such run directory: {root}")
        found += [RunDir(p.parent) for p in sorted(root.rglob("metrics.json"))] if root.is_dir() else [RunDir(root.parent)]
    if not found:
        raise RunError(f"no finished runs (metrics.json) under {', '.join(map(str, paths))}")
    return found
