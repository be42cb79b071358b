"""The demo: a tiny trained shapes classifier, segmentation model and detector that ship with camviz, and their images.

Importing this package registers ``camviz_shapenet`` and ``camviz_segnet`` with timm.
"""

from pathlib import Path

from camviz.demo import net, seg_net  # noqa: F401  (register camviz_shapenet and camviz_segnet with timm)
from camviz.demo.segmentation_shapes import (
    SEGMENTATION_CLASS_NAMES,
    SegmentationSample,
    make_segmentation_sample,
    write_segmentation_folder,
)
from camviz.demo.shapes import CLASS_NAMES, ShapeSample, make_sample, write_image_folder

CHECKPOINT_PATH: Path = Path(__file__).parent / "shapenet.pth"
TAGGED_CHECKPOINT_PATH: Path = Path(__file__).parent / "shapenet_tagged.pth"  # a shortcut (`camviz.demo.train_tagged`)
DETECTOR_PATH: Path = Path(__file__).parent / "shapenet_det.pth"  # a detector (`camviz.demo.train_detection`)
SEGMENTATION_CHECKPOINT_PATH: Path = Path(__file__).parent / "shapenet_seg.pth"  # `camviz.demo.train_segmentation`

__all__ = ["CHECKPOINT_PATH", "CLASS_NAMES", "DETECTOR_PATH", "SEGMENTATION_CHECKPOINT_PATH", "SEGMENTATION_CLASS_NAMES",
           "TAGGED_CHECKPOINT_PATH", "SegmentationSample", "ShapeSample", "make_sample", "make_segmentation_sample",
           "write_image_folder", "write_segmentation_folder"]
