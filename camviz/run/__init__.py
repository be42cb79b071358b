"""Running jobs from Python: options, the one model-resolution step, an `explain` job end to end, `compare`,
resume keys, torchrun ranks, the CPU split and signal handling.

Imports `camviz.output`, `camviz.cam`, `camviz.data`, `camviz.discovery`, `camviz.errors`. Never parses argv or
draws progress bars (that is `camviz.cli`).
"""
