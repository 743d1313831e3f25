"""YAML anchors defined again: the most recent one wins, as YAML and Helm mean it.

YAML 1.2 §3.2.2.2 (and 1.1 §3.2.2.2): "an anchor need not be unique: an alias node refers to the
most recent node with that anchor". go-yaml (what Helm, Argo CD and Flux read values with) does
so; PyYAML's composer, in C and in Python, raises "found duplicate anchor" instead, and ruamel
warns (ReusedAnchorWarning) and takes the most recent. A values file that reuses an anchor is
deployed as written, so the suite reads it as its tools do.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

try:
    import yaml as _pyyaml
except ImportError:  # pragma: no cover - PyYAML comes with the kubernetes client
    _pyyaml = None

try:
    from ruamel.yaml.error import ReusedAnchorWarning
except ImportError:  # pragma: no cover - every supported ruamel has it
    ReusedAnchorWarning = UserWarning  # type: ignore[assignment, misc]


def reuses_an_anchor(error: Exception) -> bool:
    """Whether a PyYAML error is the composer refusing an anchor defined again."""
    return "found duplicate anchor" in str(getattr(error, "context", "") or error)


if _pyyaml is not None:
    class LastAnchorLoader(_pyyaml.SafeLoader):  # type: ignore[misc]
        """PyYAML's safe loader (YAML 1.1, as the C loader) whose anchors may be defined again:
        the later definition replaces the earlier for the aliases after it."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            """Forget an anchor defined again just before its new node is composed."""
            event = self.peek_event()
            if not isinstance(event, _pyyaml.AliasEvent) and event.anchor is not None:
                self.anchors.pop(event.anchor, None)
            return super().compose_node(parent, index)
else:  # pragma: no cover
    LastAnchorLoader = None  # type: ignore[assignment, misc]


@contextlib.contextmanager
def quiet_reused_anchors() -> Iterator[None]:
    """ruamel's warning for an anchor defined again kept out of the run's output: it is valid YAML."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReusedAnchorWarning)
        yield


__all__ = ["LastAnchorLoader", "quiet_reused_anchors", "reuses_an_anchor"]
