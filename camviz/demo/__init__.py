"""The demo: a tiny trained shapes classifier that ships with camviz, and its image generator.

Importing this package registers ``camviz_shapenet`` with timm.
"""

from pathlib import Path

from camviz.demo import net  # noqa: F401  (registers camviz_shapenet with timm)
from camviz.demo.shapes import CLASS_NAMES, ShapeSample, make_sample, write_image_folder

CHECKPOINT_PATH: Path = Path(__file__).parent / "shapenet.pth"
TAGGED_CHECKPOINT_PATH: Path = Path(__file__).parent / "shapenet_tagged.pth"  # a shortcut (`camviz.demo.train_tagged`)
DETECTOR_PATH: Path = Path(__file__).parent / "shapenet_det.pth"  # a detector (`camviz.demo.train_detection`)

__all__ = ["CHECKPOINT_PATH", "CLASS_NAMES", "DETECTOR_PATH", "TAGGED_CHECKPOINT_PATH", "ShapeSample", "make_sample", "write_image_folder"]
