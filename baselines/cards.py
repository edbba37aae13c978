"""The method cards of the baselines: ConvAE, MemAE and its variants, the MNAD no-memory variants,
framediff. Plain data (no torch, no model code).

Variants are registered names for another detector under a preset config, never subclasses:
``memae-nomem`` is ``memae`` with ``memory=false``; ``mnad-p-nomem`` / ``mnad-r-nomem`` are the
MNAD plugin's detectors with the memory removed (named through the registry, so nothing here
imports the plugin). Published numbers are frame-level micro AUC in %; see ``docs/baselines.md``.
"""

from __future__ import annotations

from vadbench import AblationRow, AutoProfile, MethodCard, Reported

CPU = AutoProfile(cpu="cpu")
PARK_TABLE1 = "Park et al., CVPR 2020, Table 1"

CONVAE = MethodCard(
    name="convae", paper="Hasan, Choi, Neumann, Roy-Chowdhury, Davis: Learning Temporal Regularity in Video "
    "Sequences, CVPR 2016",
    title="ConvAE (Hasan et al. 2016): convolutional AE on 10-frame grayscale cuboids, regularity score.",
    profiles={"cpu": {"height": 75, "width": 75, "stride": 4, "epochs": 2}}, auto_profile=CPU,
    # Hasan's model as re-evaluated by Luo et al. (ICCV 2017) and tabulated by Frame-Pred and MNAD;
    # Hasan's own paper reports Ped2 90.0 and Avenue 70.2.
    reported=Reported({"ped2": {"auc_micro": 85.0}, "avenue": {"auc_micro": 80.0},
                       "shanghaitech": {"auc_micro": 60.9}},
                      f"Luo et al., ICCV 2017 (re-evaluation), as in {PARK_TABLE1}"),
)

MEMAE_PAPER = ("Gong, Liu, Le, Saha, Mansour, Venkatesh, van den Hengel: Memorizing Normality to Detect Anomaly, "
               "ICCV 2019")
MEMAE_PROFILES = {"cpu": {"height": 48, "width": 48, "stride": 4, "epochs": 3}}

MEMAE = MethodCard(
    name="memae", paper=MEMAE_PAPER, profiles=MEMAE_PROFILES, auto_profile=CPU,
    title="MemAE (Gong et al. 2019): 3-D conv AE whose latent is read from a sparse memory of normal items.",
    ablations=(  # Gong et al.'s components, rows of their ablation
        AblationRow("MemAE", reference=True),  # the method unchanged: the row the others are compared with
        AblationRow("MemAE-nonSpar", {"shrink": 0.0, "entropy_weight": 0.0},
                    reported={"ped2": 92.9, "avenue": 82.1, "shanghaitech": 68.8}),
        AblationRow("AE-Conv3D", detector="memae-nomem"),
    ),
    reported=Reported({"ped2": {"auc_micro": 94.1}, "avenue": {"auc_micro": 83.3},
                       "shanghaitech": {"auc_micro": 71.2}}, f"Gong et al., ICCV 2019, as in {PARK_TABLE1}"),
)

MEMAE_NOMEM = MethodCard(
    name="memae-nomem", variant_of="memae", settings={"memory": False}, paper=MEMAE_PAPER,
    title="MemAE w/o memory (AE-Conv3D, Gong et al. 2019): the same 3-D conv AE with the memory removed.",
    reported=Reported({"ped2": {"auc_micro": 91.7}, "avenue": {"auc_micro": 81.0},
                       "shanghaitech": {"auc_micro": 69.7}},
                      f"Gong et al., ICCV 2019 (AE-Conv3D), as in {PARK_TABLE1} (MemAE w/o Mem)"),
)

# MNAD without its memory: the decoder reads the raw features z, the score is PSNR alone, no
# memory losses and no test-time state. vadbench's definition (the official code has no such model).
NO_MEMORY = {"memory": False, "lambda_c": 0.0, "lambda_s": 0.0, "alpha": 1.0, "test_update": False}

MNAD_P_NOMEM = MethodCard(
    name="mnad-p-nomem", variant_of="mnad-p", settings=NO_MEMORY,
    title="MNAD-P without memory (the paper's \"w/o Mem.\" row): U-Net prediction, PSNR-only score.",
    reported=Reported({"ped2": {"auc_micro": 94.3}, "avenue": {"auc_micro": 84.5},
                       "shanghaitech": {"auc_micro": 66.8}}, PARK_TABLE1),
)

MNAD_R_NOMEM = MethodCard(
    name="mnad-r-nomem", variant_of="mnad-r", settings=NO_MEMORY,
    title="MNAD-R without memory (the paper's \"w/o Mem.\" row): reconstruction, PSNR-only score.",
    reported=Reported({"ped2": {"auc_micro": 86.4}, "avenue": {"auc_micro": 80.6},
                       "shanghaitech": {"auc_micro": 65.8}}, PARK_TABLE1),
)

FRAMEDIFF = MethodCard(
    name="framediff", title="Trivial baseline: mean absolute difference to the previous frame (no training).",
)
