"""camviz where people already work: one image in a notebook, a fixed image set logged from a training loop.

`explain_image` (notebook), `log_cams` (any PyTorch loop) and `camviz.lightning.CamCallback` share one idea:
an `Explainer` holds one CAM engine per model and settings, attaches its hooks only for the length of a call,
and leaves the model exactly as it found it (modes, `requires_grad` flags, gradients, hooks, random state).
"""
