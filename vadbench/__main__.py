"""``python -m vadbench``: the console script, for launchers that start a module
(``torchrun --nproc_per_node 2 -m vadbench run ...``, docs/distributed.md)."""

from vadbench.cli import main

main()
