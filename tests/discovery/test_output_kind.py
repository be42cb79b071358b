"""camviz.discovery.output_kind: softmax, one-logit binary and multi-label heads decide, explain and report as
documented; on trained sigmoid heads (issue 11) the CAM of the decided class (binary) and of each predicted label
(multi-label) peaks on that object."""

from __future__ import annotations

import numpy as np

from camviz.discovery.output_kind import OutputKind


def test_decision_rules_of_each_output_kind() -> None:
    binary, softmax = OutputKind("binary"), OutputKind("softmax")
    assert binary.predicted(np.array([0.5, 0.5])) == [1]  # p >= 0.5 is the positive class
    assert binary.predicted(np.array([0.51, 0.49])) == [0]
    labels = np.array([0.7, 0.2, 0.9, 0.5])
    assert OutputKind("multilabel", 0.5).predicted(labels) == [2, 0, 3]  # most probable first
    assert OutputKind("multilabel", 0.95).predicted(labels) == []
    assert OutputKind("multilabel", 0.95).explained(labels) == [2]  # nothing passes: the top label is explained
    assert OutputKind("multilabel", 0.5).explained(labels, target_category=1) == [1]
    assert softmax.predicted(np.array([0.2, 0.5, 0.3])) == [1]
