"""The `rollout-otel` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ._errors import RolloutConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rollout-otel", description="OpenTelemetry tracing for LLM streams.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="trace one streamed LLM call and print what is recorded")
    demo.add_argument("--endpoint", help="OTLP endpoint to export to (default: none, print only)")
    demo.add_argument("--protocol", choices=["http/protobuf", "grpc"], help="OTLP protocol")
    demo.add_argument("--interval", type=float, default=1.0, help="seconds between update events (1.0)")
    demo.add_argument("--seconds", type=float, default=5.0, help="how long the stream lasts (5.0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        if not (args.endpoint or os.environ.get("ROLLOUT_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
            # Nothing to export to: print only, instead of retrying a collector that is not there.
            os.environ.setdefault("OTEL_TRACES_EXPORTER", "none")
            os.environ.setdefault("OTEL_LOGS_EXPORTER", "none")
            os.environ.setdefault("OTEL_METRICS_EXPORTER", "none")
        try:
            exported = run_demo(
                seconds=args.seconds, interval=args.interval, endpoint=args.endpoint, protocol=args.protocol
            )
        except RolloutConfigError as exc:
            print(f"rollout-otel: {exc}", file=sys.stderr)
            return 2
        return 0 if exported else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
