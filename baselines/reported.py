"""Published frame-level micro AUCs (%) of the baselines, as plain data (``protocols.md`` §3.1, §4.3).

Keyed by detector name, then dataset. The detectors expose their rows as ``reported`` so that
``vadbench table`` prints them beside our runs, always labelled as reported, never as ours.
"""

from __future__ import annotations

REPORTED: dict[str, dict[str, dict[str, float]]] = {
    # Hasan et al.'s model as re-evaluated by Luo et al. (ICCV 2017) and tabulated by Frame-Pred
    # and MNAD; Hasan's own paper reports Ped2 90.0 and Avenue 70.2.
    "convae": {"ped2": {"auc_micro": 85.0}, "avenue": {"auc_micro": 80.0}, "shanghaitech": {"auc_micro": 60.9}},
    "memae": {"ped2": {"auc_micro": 94.1}, "avenue": {"auc_micro": 83.3}, "shanghaitech": {"auc_micro": 71.2}},
    "memae-nomem": {"ped2": {"auc_micro": 91.7}, "avenue": {"auc_micro": 81.0}, "shanghaitech": {"auc_micro": 69.7}},
    # MemAE-nonSpar (no shrinkage, no entropy loss): an ablation row of MemAE's paper
    "memae-nonspar": {"ped2": {"auc_micro": 92.9}, "avenue": {"auc_micro": 82.1}, "shanghaitech": {"auc_micro": 68.8}},
}

SOURCES: dict[str, str] = {
    "convae": "Luo et al., ICCV 2017 (re-evaluation), as in Park et al., CVPR 2020, Table 1",
    "memae": "Gong et al., ICCV 2019, as in Park et al., CVPR 2020, Table 1",
    "memae-nomem": "Gong et al., ICCV 2019 (AE-Conv3D), as in Park et al., CVPR 2020, Table 1 (MemAE w/o Mem)",
    "memae-nonspar": "Gong et al., ICCV 2019 (MemAE-nonSpar ablation)",
}


def auc(detector: str) -> dict[str, float]:
    """``{dataset: micro AUC}`` of ``detector``: the form ablation rows take."""
    return {dataset: row["auc_micro"] for dataset, row in REPORTED[detector].items()}
