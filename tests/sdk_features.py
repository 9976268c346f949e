"""Feature checks for the provider SDK installed: a test of a feature an older SDK lacks skips, saying which."""

from __future__ import annotations

import importlib

import pytest


def _has(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


needs_anthropic_sdk_spans = pytest.mark.skipif(
    not _has("anthropic._base_client", "start_api_call_span"),
    reason="this anthropic starts no OpenTelemetry spans of its own (start_api_call_span came later)",
)
