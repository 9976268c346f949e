"""Patch a provider SDK when the program imports it, not before: an app pays only for the providers it uses.

Importing `openai` or `anthropic` takes about a second each; an instrumentor that imported them at start-up made every
program run under `opentelemetry-instrument` pay for both. wrapt's post-import hooks call the patch right after the
package is first imported (or at once, if it already was).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

import wrapt

from .._errors import log_internal_error


def when_imported(module: str, patch: Callable[[], None]) -> None:
    """Run `patch` once `module` is imported: now if it already is, else right after the program imports it."""

    def run(_module: ModuleType) -> None:
        try:
            patch()
        except Exception:
            log_internal_error(f"instrumenting {module}")

    if module in sys.modules:
        run(sys.modules[module])
    else:
        wrapt.register_post_import_hook(run, module)
