"""Span attributes set in one step: rollout's own clean values, without the SDK re-checking each one.

The SDK's `Span.set_attributes` checks and copies every value again (type tests, a recursive clean, a lock per
key): about eight calls per attribute, most of an LLM span's cost at its end. For values that are already what
the SDK would store (str, int, float, bool and tuples of them, with no length limit configured), that work
changes nothing. So where the span is the SDK's own, unmodified, and its internals are the ones this module was
written against (checked once per span class, and by probing `BoundedAttributes` once per process), the values
are written under the same two locks the SDK takes, with the same order and drop rules; anything else (a value of
another type, a length or count limit that would cut or drop, an ended span, another SDK) takes the public API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from opentelemetry.trace import Span

from ._errors import log_internal_error

try:
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.sdk.trace import Span as SdkSpan
except ImportError:  # pragma: no cover - the SDK is a dependency; without it only the public API is used
    BoundedAttributes = None  # type: ignore[assignment,misc]
    SdkSpan = None  # type: ignore[assignment,misc]

_PLAIN: Final = frozenset({str, int, float, bool})
_known_classes: dict[type, bool] = {}


def set_span_attributes(span: Span, attributes: Mapping[str, Any]) -> None:
    """Set `attributes` on `span`, as `span.set_attributes` would; directly when that is known to be the same."""
    if not attributes:
        return
    known = _known_classes.get(span.__class__)
    if known is None:
        known = _known_classes[span.__class__] = _is_known(span.__class__)
    if known and _write(span, attributes):
        return
    span.set_attributes(attributes)


def _write(span: Any, attributes: Mapping[str, Any]) -> bool:
    """Write clean values straight into the span's attributes; False (nothing written) where the SDK would act."""
    for key, value in attributes.items():
        if key.__class__ is not str or not key:
            return False
        kind = value.__class__
        if kind not in _PLAIN and not (kind is tuple and _homogeneous(value)):
            return False
    try:
        bounded = span._attributes
        span_lock = span._lock
    except AttributeError:
        return False
    if bounded.__class__ is not BoundedAttributes or bounded.max_value_len is not None:
        return False
    with span_lock:
        if span._end_time is not None or bounded._immutable:
            return False  # the SDK logs and ignores this: let it
        with bounded._lock:
            stored = bounded._dict
            maxlen = bounded.maxlen
            if maxlen is not None and len(stored) + len(attributes) > maxlen:
                return False  # the SDK drops the oldest, with a warning: let it
            for key in attributes:
                if key in stored:
                    del stored[key]  # a key set again moves to the end, as in BoundedAttributes
            stored.update(attributes)
    return True


def _homogeneous(items: tuple[Any, ...]) -> bool:
    """A sequence the SDK keeps as it is: items of one plain type (it drops a mixed one, with a warning)."""
    kinds = {item.__class__ for item in items}
    return len(kinds) <= 1 and kinds <= _PLAIN


def _is_known(cls: type) -> bool:
    """Whether spans of `cls` are the SDK's own, set_attributes not overridden, on internals probed as expected."""
    if SdkSpan is None or not _probe():
        return False
    try:
        return issubclass(cls, SdkSpan) and cls.set_attributes is SdkSpan.set_attributes
    except Exception:
        return False


_probed: bool | None = None


def _probe() -> bool:
    """Once per process: BoundedAttributes keeps its values in `_dict` under `_lock`, as this module expects."""
    global _probed
    if _probed is None:
        try:
            probe = BoundedAttributes(maxlen=4, immutable=False)
            probe["a"] = "x"
            probe["b"] = 1
            probe["a"] = "y"
            _probed = (
                type(probe._dict) is dict
                and list(probe._dict.items()) == [("b", 1), ("a", "y")]
                and hasattr(probe._lock, "__enter__")
                and probe.maxlen == 4
                and probe.max_value_len is None
                and probe._immutable is False
                and hasattr(SdkSpan, "_readable_span")
            )
        except Exception:
            log_internal_error("probing the OpenTelemetry SDK's span attributes")
            _probed = False
    return _probed
