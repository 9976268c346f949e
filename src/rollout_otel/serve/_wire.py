"""What every wire format shares: frames, compact JSON, server-sent events and provider-style error bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from ._plan import Flavor, new_id


@dataclass(frozen=True)
class Frame:
    """One chunk of a streamed reply; `paced` frames (content deltas) wait for the scenario's delay first."""

    data: bytes
    paced: bool = False
    drop: bool = False
    event: str | None = None  # the event's name and JSON payload, for re-framing (Bedrock's InvokeModel streams)
    payload: Any = None


DROP: Final = Frame(b"", drop=True)


def encode_json(value: Any) -> bytes:
    """Compact JSON; text UTF-8 cannot carry (a lone surrogate) goes out escaped, as a real provider may send it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


def sse(payload: Any, event: str | None = None, paced: bool = False) -> Frame:
    head = f"event: {event}\n".encode() if event else b""
    return Frame(head + b"data: " + encode_json(payload) + b"\n\n", paced, event=event, payload=payload)


RETRY_NOW: Final = {"retry-after": "0", "retry-after-ms": "1"}
"""Headers on error replies that make the clients' automatic retries immediate."""


def error_type(status: int, flavor: Flavor) -> str:
    """The provider's error `type` for an HTTP status, so the clients pick their specific exception classes."""
    if flavor == "gemini":
        names = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            503: "UNAVAILABLE",
            504: "DEADLINE_EXCEEDED",
        }
        return names.get(status, "INTERNAL")
    if flavor == "bedrock":
        names = {
            400: "ValidationException",
            403: "AccessDeniedException",
            404: "ResourceNotFoundException",
            408: "ModelTimeoutException",
            424: "ModelErrorException",
            429: "ThrottlingException",
            503: "ServiceUnavailableException",
        }
        return names.get(status, "InternalServerException")
    if flavor == "anthropic":
        names = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            413: "request_too_large",
            429: "rate_limit_error",
            529: "overloaded_error",
        }
        return names.get(status, "api_error")
    names = {
        400: "invalid_request_error",
        401: "invalid_request_error",
        403: "invalid_request_error",
        404: "invalid_request_error",
        429: "rate_limit_exceeded",
    }
    return names.get(status, "server_error")


def error_body(status: int, flavor: Flavor, message: str) -> dict[str, Any]:
    kind = error_type(status, flavor)
    if flavor == "bedrock":
        return {"message": message}
    if flavor == "gemini":
        return {"error": {"code": status, "message": message, "status": kind}}
    if flavor == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": new_id("req_")}
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}
