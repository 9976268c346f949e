"""What a failed call records about its error: its type, its message and where it was raised, bounded."""

from __future__ import annotations

import traceback

from . import _attributes as attr
from ._safe import bounded, is_code


def error_type(error: BaseException | str, capture_content: bool = True) -> str:
    """`error.type`: the provider's own code when it gave one, else the exception's class name. Text that reads as
    a message rather than a code leaves the process only with content capture; without it, `_OTHER` stands for it
    (the conventions' fallback value)."""
    if isinstance(error, BaseException):
        found = str(getattr(error, "error_type", None) or type(error).__name__)
    else:
        found = str(error)
    if not capture_content and not is_code(found):
        return attr.ERROR_TYPE_OTHER
    return bounded(found)


def describe(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return f"<{type(error).__name__} whose str() raised>"


def frames_only(error: BaseException) -> str:
    """Where the exception was raised, file, line and function only: source lines may hold string literals."""
    frames = traceback.extract_tb(error.__traceback__)
    return "".join(f'  File "{f.filename}", line {f.lineno}, in {f.name}\n' for f in frames)
