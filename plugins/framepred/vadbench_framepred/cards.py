"""The method cards of Frame-Pred: the paper, its per-dataset recipes as profiles, the protocol,
published numbers. Plain data (no torch, no model code), so ``vadbench list`` and ``vadbench
table`` read it without loading the detector; the detector reads :data:`RECIPES` from here too.

The paper's optical-flow loss needs FlowNet-SD weights vadbench cannot have (docs/framepred.md
§6), so the registered detector is ``frame-pred-noflow`` (λ_op = 0) and ``frame-pred-cvflow`` is a
variant whose flow term is an OpenCV-flow warping loss. Both are deviations; the published
numbers are those of the paper's full model, printed beside ours as the target they fall short of.
"""

from __future__ import annotations

from vadbench import AutoProfile, MethodCard, Reported

PAPER = "Liu, Luo, Lian, Gao: Future Frame Prediction for Anomaly Detection - A New Baseline, CVPR 2018"

# The reference's per-dataset recipes (docs/framepred.md §4), λ_op aside (it needs FlowNet-SD):
# loss weights, Adam learning rates of G and D, and the iteration after which both drop tenfold.
RECIPES = {
    "ped2": {"lambda_int": 1.0, "lambda_gd": 1.0, "lambda_adv": 0.05, "lr_g": 1e-4, "lr_d": 1e-5, "lr_step": 7_000},
    "ped1": {"lambda_int": 1.0, "lambda_gd": 1.0, "lambda_adv": 0.05, "lr_g": 1e-4, "lr_d": 1e-5, "lr_step": 40_000},
    "avenue": {"lambda_int": 0.001, "lambda_gd": 1.0, "lambda_adv": 0.05, "lr_g": 2e-4, "lr_d": 2e-5,
               "lr_step": 100_000},
    "shanghaitech": {"lambda_int": 1.0, "lambda_gd": 1.0, "lambda_adv": 0.05, "lr_g": 2e-4, "lr_d": 2e-5,
                     "lr_step": 50_000},
}

# The defaults are Ped2's recipe; the other datasets' are profiles. `cpu` keeps Ped2's recipe at 32×32 (the
# resolution of MNAD's `cpu` profile, so the two share a cache) for two epochs: on the 2-core development
# machine a training step of 4 took 0.27-0.36 s and a Ped2 run 351 s in all (docs/framepred.md §7).
PROFILES = {
    "ped1": dict(RECIPES["ped1"]),
    "avenue": dict(RECIPES["avenue"]),
    "shanghaitech": dict(RECIPES["shanghaitech"]),
    "cpu": {"height": 32, "width": 32, "epochs": 2},
}

TABLE1 = "Liu et al., CVPR 2018 (with the FlowNet-SD flow loss), as tabulated in Park et al., CVPR 2020, Table 1"

FRAME_PRED_NOFLOW = MethodCard(
    name="frame-pred-noflow", paper=PAPER, profiles=PROFILES,
    auto_profile=AutoProfile(cpu="cpu", large=(100_000, "shanghaitech")),
    title="Frame-Pred (CVPR 2018): U-Net future-frame prediction with a PatchGAN; no flow loss (lambda_op=0).",
    protocol={"normalisation": "none"},  # the detector min-max normalises PSNR per video itself
    reported=Reported({"ped2": {"auc_micro": 95.4}, "avenue": {"auc_micro": 85.1},
                       "shanghaitech": {"auc_micro": 72.8}}, TABLE1),
)

FRAME_PRED_CVFLOW = MethodCard(
    name="frame-pred-cvflow", variant_of="frame-pred-noflow", paper=PAPER,
    settings={"flow": "farneback", "lambda_op": 2.0},
    title="Frame-Pred with an OpenCV Farneback warping loss in place of the FlowNet-SD flow loss (lambda_op=2).",
)
