"""camviz: Grad-CAM figures for image classifiers, straight from a checkpoint."""

__version__ = "0.1.0"
