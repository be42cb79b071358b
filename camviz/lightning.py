"""The Lightning callback: `from camviz.lightning import CamCallback` (needs `pip install "camviz[lightning]"`).

`import camviz` never imports Lightning; importing this module does.
"""

from __future__ import annotations

from camviz.integrations.lightning import CamCallback

__all__ = ["CamCallback"]
