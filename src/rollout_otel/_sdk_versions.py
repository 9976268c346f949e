"""The oldest provider SDK releases rollout-otel traces correctly: one table for the instrumentors' "too old"
checks, the distro, and (checked by a test) the README, the pyproject extras and CI's oldest-versions run.

Run as a script (`python src/rollout_otel/_sdk_versions.py`), it prints those releases as pip pins, one a line,
with no import of rollout_otel or its dependencies, so a CI script can read them before installing anything.
"""

from __future__ import annotations

import re
import sys
from typing import Final

OLDEST: Final = {
    "openai": "1.97.2",  # older ones yield a Responses in-stream `error` event unparsed: the span would not fail
    "anthropic": "1.0.0",  # older ones make isinstance(traced_stream, anthropic.Stream) False
    "botocore": "1.34.116",  # the first with Converse and ConverseStream
    "google-genai": "1.50.0",  # older ones swallow an in-stream error: the span would say the stream completed
}
PAIRED: Final = {"boto3": "botocore"}  # released in step: boto3 X.Y.Z requires botocore X.Y.Z


def oldest(package: str) -> str:
    """The oldest supported release of `package` (boto3 shares botocore's)."""
    return OLDEST[PAIRED.get(package, package)]


def requirement(package: str) -> str:
    """`package >= oldest`, as an instrumentor's `instrumentation_dependencies` gives it."""
    return f"{package} >= {oldest(package)}"


def release(version: str) -> tuple[int, ...] | None:
    """The numeric release of a version string (`1.97.2rc1` -> (1, 97, 2)); None when it has none."""
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else None


def too_old(package: str, version: str) -> bool:
    """Whether `version` of `package` predates the oldest supported; a version rollout cannot read is not."""
    found = release(version)
    return found is not None and found < (release(oldest(package)) or ())


def pins() -> list[str]:
    """The oldest releases as pip pins, boto3 with its botocore."""
    names = [*OLDEST, *PAIRED]
    return [f"{name}=={oldest(name)}" for name in sorted(names)]


if __name__ == "__main__":
    sys.stdout.write("\n".join(pins()) + "\n")
