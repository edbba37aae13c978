"""The numbers Park, Noh and Ham report (CVPR 2020), as plain data: frame-level micro AUC in %.

Copied from the paper's Tables 1 and 2 (mnad-spec.md 1.1, 1.2). The non-MNAD rows of Table 1 are
the figures the paper quotes from other publications, whose protocols vary. "—" cells are absent.
"""

from __future__ import annotations

from typing import Any

# Table 1: method -> dataset -> AUC (%).
TABLE1: dict[str, dict[str, float]] = {
    "MPPCA": {"ped2": 69.3},
    "MPPC+SFA": {"ped2": 61.3},
    "MDT": {"ped2": 82.9},
    "AMDN": {"ped2": 90.8},
    "Unmasking": {"ped2": 82.2, "avenue": 80.6},
    "MT-FRCN": {"ped2": 92.2},
    "AMC": {"ped2": 96.2, "avenue": 86.9},
    "ConvAE": {"ped2": 85.0, "avenue": 80.0, "shanghaitech": 60.9},
    "TSC": {"ped2": 91.0, "avenue": 80.6, "shanghaitech": 67.9},
    "StackRNN": {"ped2": 92.2, "avenue": 81.7, "shanghaitech": 68.0},
    "AbnormalGAN": {"ped2": 93.5},
    "MemAE w/o Mem": {"ped2": 91.7, "avenue": 81.0, "shanghaitech": 69.7},
    "MemAE": {"ped2": 94.1, "avenue": 83.3, "shanghaitech": 71.2},
    "MNAD-R w/o Mem": {"ped2": 86.4, "avenue": 80.6, "shanghaitech": 65.8},
    "MNAD-R": {"ped2": 90.2, "avenue": 82.8, "shanghaitech": 69.8},
    "Frame-Pred": {"ped2": 95.4, "avenue": 85.1, "shanghaitech": 72.8},
    "MNAD-P w/o Mem": {"ped2": 94.3, "avenue": 84.5, "shanghaitech": 66.8},
    "MNAD-P": {"ped2": 97.0, "avenue": 88.5, "shanghaitech": 70.5},
}

# Table 2 (UCSD Ped2 only): row label -> (config overrides, MNAD-R AUC, MNAD-P AUC). Overrides
# None mean the no-memory baseline detector; rows 5-7 share one training and differ only in scoring.
TABLE2: dict[str, tuple[dict[str, Any] | None, float, float]] = {
    "1 no memory": (None, 86.4, 94.3),
    "2 memory, no compactness or separateness loss": ({"lambda_c": 0.0, "lambda_s": 0.0}, 86.9, 95.0),
    "3 memory + compactness loss only": ({"lambda_s": 0.0}, 86.4, 94.8),
    "4 memory + separateness loss only": ({"lambda_c": 0.0}, 89.3, 96.5),
    "5 full model, no test-time memory update": ({"test_update": False}, 87.1, 96.0),
    "6 full model, PSNR-only score": ({"alpha": 1.0}, 89.0, 95.7),
    "7 full model": ({}, 90.2, 97.0),
}


def table2_rows(detector: str, nomem: str) -> dict[str, dict[str, Any]]:
    """Table 2 as a vadbench ablation grid for ``detector`` ("mnad-p" or "mnad-r")."""
    column = 2 if detector == "mnad-p" else 1
    rows = {}
    for label, entry in TABLE2.items():
        overrides = {"detector": nomem} if entry[0] is None else dict(entry[0])
        rows[label] = {**overrides, "reported": {"ped2": entry[column]}}
    return rows
