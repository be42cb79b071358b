"""The hand-off to pytorch-grad-cam: its methods driven batch by batch (targets from the output kind, predictions
from the same pass), CAM sanity checks, faithfulness metrics and the out-of-memory back-off.

Imports `camviz.discovery` and `camviz.errors` only. Never reimplements CAM math, never writes files.
"""
