"""The README's "Write your own detector" example, installed as a separate package with an entry
point, is found by `vadbench list` and runs through `vadbench run`: the third-party path."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def test_example_package_installs_and_runs(tmp_path):
    site = tmp_path / "site"
    install = subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
         str(REPO / "examples" / "vadbench-example")], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    listed = subprocess.run([str(BIN / "vadbench"), "list"], capture_output=True, text=True, env=env)
    assert "pixel-zscore" in listed.stderr and "vadbench-example" in listed.stderr, listed.stderr
    assert "pixel-zscore-coarse" in listed.stderr  # its variant, from its method card
    out = tmp_path / "run"
    ran = subprocess.run([str(BIN / "vadbench"), "run", "pixel-zscore", "--out", str(out), "--pixel"],
                         capture_output=True, text=True, env=env)
    assert ran.returncode == 0, ran.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["detector"] == "pixel-zscore" and 0 < metrics["auc_micro"] < 1


def test_readme_example_is_the_package_code():
    """The README shows the example verbatim, so the documented code is the tested code."""
    readme = (REPO / "README.md").read_text()
    code = (REPO / "examples" / "vadbench-example" / "vadbench_example" / "__init__.py").read_text()
    assert code.strip() in readme
