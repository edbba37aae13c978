"""The method cards of MNAD-P and MNAD-R: the paper, profiles, protocol, Table 2, published numbers.

Plain data (no torch, no model code), so ``vadbench list`` and ``vadbench table`` read it without
loading the detector. The numbers are frame-level micro AUC in % from Park, Noh and Ham (CVPR
2020), Tables 1 and 2; ``docs/mnad.md`` §1 lists them with the paper's other rows.
"""

from __future__ import annotations

from vadbench import AblationRow, AutoProfile, MethodCard, Reported

PAPER = "Park, Noh, Ham: Learning Memory-guided Normality for Anomaly Detection, CVPR 2020"
TABLE1 = "Park et al., CVPR 2020, Table 1"

# Only the resolution and the epochs change (the paper's 256x256 x 60 epochs is a GPU recipe);
# ShanghaiTech's 10 epochs are the official recipe for its large training split.
PROFILES = {
    "shanghaitech": {"epochs": 10},
    "cpu": {"height": 32, "width": 32, "epochs": 1},
}
AUTO = AutoProfile(cpu="cpu", large=(100_000, "shanghaitech"))

# Table 2 (UCSD Ped2): label -> (settings, MNAD-R AUC, MNAD-P AUC). Row 1 is the no-memory variant,
# whose card holds its number (Table 1's "w/o Mem." row: the same figure). Rows 5-7 share one
# training and differ only in scoring; row 7, the method unchanged, is the reference the others
# are compared with (FULL).
TABLE2 = {
    "2 memory, no compactness or separateness loss": ({"lambda_c": 0.0, "lambda_s": 0.0}, 86.9, 95.0),
    "3 memory + compactness loss only": ({"lambda_s": 0.0}, 86.4, 94.8),
    "4 memory + separateness loss only": ({"lambda_c": 0.0}, 89.3, 96.5),
    "5 full model, no test-time memory update": ({"test_update": False}, 87.1, 96.0),
    "6 full model, PSNR-only score": ({"alpha": 1.0}, 89.0, 95.7),
    "7 full model": ({}, 90.2, 97.0),
}
FULL = "7 full model"


def _table2(task: str) -> tuple[AblationRow, ...]:
    column = 2 if task == "p" else 1
    return (AblationRow("1 no memory", detector=f"mnad-{task}-nomem"),
            *(AblationRow(label, dict(row[0]), reported={"ped2": row[column]}, reference=label == FULL)
              for label, row in TABLE2.items()))


MNAD_P = MethodCard(
    name="mnad-p", paper=PAPER, profiles=PROFILES, auto_profile=AUTO,
    title="MNAD-P (CVPR 2020): U-Net future-frame prediction with a 10-item memory; official-code defaults.",
    protocol={"normalisation": "none"},  # the score is already normalised per video (in the detector)
    ablations=_table2("p"),
    reported=Reported({"ped2": {"auc_micro": 97.0}, "avenue": {"auc_micro": 88.5},
                       "shanghaitech": {"auc_micro": 70.5}}, TABLE1),
)

MNAD_R = MethodCard(
    name="mnad-r", paper=PAPER, profiles=PROFILES, auto_profile=AUTO,
    title="MNAD-R (CVPR 2020): frame reconstruction with a 10-item memory, no skips; official-code defaults.",
    protocol={"normalisation": "none", "drop_first": 0},  # and it scores every frame, as its official evaluation
    ablations=_table2("r"),
    reported=Reported({"ped2": {"auc_micro": 90.2}, "avenue": {"auc_micro": 82.8},
                       "shanghaitech": {"auc_micro": 69.8}}, TABLE1),
)
