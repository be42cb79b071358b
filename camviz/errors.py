"""camviz's own error types: each carries the exit code the CLI reports."""


class CamvizError(Exception):
    """A problem the user can fix; the CLI prints its message as one line and exits 1."""

    exit_code = 1


class UsageError(CamvizError):
    """Options that do not make sense together or are out of range (exit 2)."""

    exit_code = 2


class CheckpointError(CamvizError):
    """A model file that cannot be read, trusted or matched to an architecture."""


class TargetLayerError(CamvizError):
    """No usable Grad-CAM target layer could be resolved."""


class ImageDecodeError(CamvizError):
    """An image file that cannot be decoded."""
