"""The method cards of the example detector: plain data that `vadbench list` and `table` read."""

from vadbench import AutoProfile, MethodCard

PIXEL_ZSCORE = MethodCard(
    name="pixel-zscore", title="Per-pixel Gaussian of the training frames; score = mean |z| of a frame.",
    profiles={"coarse": {"height": 32, "width": 32}}, auto_profile=AutoProfile(cpu="coarse"),
)
COARSE = MethodCard(name="pixel-zscore-coarse", variant_of="pixel-zscore", settings={"every": 8},
                    title="pixel-zscore on every 8th training frame")  # a variant is a config, not a subclass
