"""The public surface: what `import rollout_otel` offers, and nothing private leaking into it."""

from __future__ import annotations

import rollout_otel


def test_public_names_match_all() -> None:
    public = sorted(name for name in dir(rollout_otel) if not name.startswith("_") or name == "__version__")
    # importable submodules, not in __all__
    modules = {"cli", "distro", "instrumentation", "serve", "tail", "testing", "version"}
    assert sorted(set(public) - modules) == sorted(rollout_otel.__all__)
    assert rollout_otel.__all__ == sorted(rollout_otel.__all__)


def test_trace_llm_is_reachable_both_ways() -> None:
    from rollout_otel import trace

    assert trace.llm is rollout_otel.trace.llm
    assert trace.LLMSpan is rollout_otel.LLMSpan


def test_version_is_a_string() -> None:
    assert isinstance(rollout_otel.__version__, str) and rollout_otel.__version__
