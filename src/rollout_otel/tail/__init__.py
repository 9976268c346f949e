"""`rollout-otel tail`: a local OTLP receiver with a live terminal view of LLM calls, streams shown while they run."""

from ._command import run_tail
from ._model import TailModel
from ._rows import FinishedCall, OpenStream

__all__ = ["FinishedCall", "OpenStream", "TailModel", "run_tail"]
