"""The `rollout-otel` command: `demo` (a traced stream, printed live), `tail` (a live view of LLM calls) and `serve`
(the bundled LLM server)."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

from ._errors import RolloutConfigError
from .serve._guide import guide_text
from .version import __version__

SERVE_PORT = 8765


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rollout-otel", description="OpenTelemetry tracing for LLM streams.")
    parser.add_argument("--version", action="version", version=f"rollout-otel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="trace one streamed LLM call and print what is recorded")
    demo.add_argument("--endpoint", help="OTLP endpoint to export to (default: none, print only)")
    demo.add_argument("--protocol", choices=["http/protobuf", "grpc"], help="OTLP protocol")
    demo.add_argument("--interval", type=float, default=1.0, help="seconds between update events (1.0)")
    demo.add_argument("--seconds", type=float, default=5.0, help="how long the stream lasts (5.0)")
    tail = commands.add_parser(
        "tail", help="receive OTLP on loopback and show LLM calls live: open streams with their previews, then results"
    )
    tail.error = _one_line_error(tail)  # type: ignore[method-assign,assignment]
    tail.set_defaults(command_parser=tail)
    tail.add_argument("--port", type=_port, default=4318, help="OTLP/HTTP port (4318, the SDK's default)")
    tail.add_argument("--grpc-port", type=_port, default=4317, help="OTLP/gRPC port (4317, the SDK's default)")
    tail.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to listen on (127.0.0.1); another one (0.0.0.0, a Docker bridge) lets that network reach tail",
    )
    tail.add_argument("--json", action="store_true", help="print one JSON object per event instead of the view")
    tail.add_argument("--plain", action="store_true", help="print one line per event (the default without a TTY)")
    tail.add_argument(
        "--filter", action="append", default=[], metavar="NAME", help="only calls of this service or model (repeat)"
    )
    tail.add_argument(
        "--forward", type=_http_url, metavar="URL", help="pass everything on to this OTLP/HTTP collector, unchanged"
    )
    tail.add_argument("--max-finished", type=_positive, default=200, help="finished calls kept in memory (200)")
    serve_help = (
        "run the bundled streaming server (OpenAI, Anthropic, Gemini and Bedrock APIs), to try examples locally"
    )
    serve = commands.add_parser(
        "serve",
        help=serve_help,
        description=serve_help + ", and to rehearse slow, failing and stalling providers.",
        epilog=guide_text(SERVE_PORT),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--port", type=int, default=SERVE_PORT, help=f"port on 127.0.0.1 ({SERVE_PORT}; 0: any free)")
    serve.add_argument(
        "--delay", type=float, default=0.05, help="seconds between streamed deltas (0.05), to watch streams live"
    )
    serve.add_argument(
        "--scenario",
        default="",
        metavar="SPEC",
        help="the scenario of every request that names none, e.g. 'status=429' or 'stall=15;stall_at=20' (see below)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # `tail` answers a bad argument with its own one line; the other commands as argparse does.
        getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "serve":
        return _serve(args.port, args.delay, args.scenario)
    if args.command == "tail":
        return _tail(args)
    if args.command == "demo":
        return _demo(args)
    return 0


def _demo(args: argparse.Namespace) -> int:
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
    except KeyboardInterrupt:
        print("\nrollout-otel demo: interrupted; the span ended 'closed' (printed above)", file=sys.stderr)
        return 130
    return 0 if exported else 1


def _one_line_error(parser: argparse.ArgumentParser) -> Callable[[str], NoReturn]:
    """A bad argument gets one line on stderr and exit status 2, never a usage block or a traceback."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: {message} (--help lists the options)\n")

    return error


def _port(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (0 to 65535; 0: any free port)")
    return int(value)


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of 1 or more")
    return int(value)


def _http_url(value: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http:// or https:// URL with a host")
    return value


def _tail(args: argparse.Namespace) -> int:
    import socket

    from .tail import run_tail

    try:
        socket.getaddrinfo(args.host, None)
    except (OSError, UnicodeError):
        print(f"rollout-otel tail: --host {args.host!r} is not an address of this machine", file=sys.stderr)
        return 2
    mode = "json" if args.json else "plain" if args.plain else "view"
    if mode == "view" and not sys.stdout.isatty():
        mode = "plain"  # a pipe or a log file: lines, not a redrawn screen
    if mode == "view":
        try:
            import textual  # noqa: F401
        except ImportError:
            print(
                "rollout-otel tail: the live view needs textual: pip install textual (or '.[tail]' in the clone)",
                file=sys.stderr,
            )
            mode = "plain"
    return run_tail(
        port=args.port,
        grpc_port=args.grpc_port,
        host=args.host,
        mode=mode,
        forward=args.forward,
        filters=args.filter,
        max_finished=args.max_finished,
    )


def _serve(port: int, delay: float, spec: str) -> int:
    from .serve import SCENARIO_HEADER, LocalLLMServer, Scenario

    try:
        scenario = Scenario.parse(f"delay={delay}" if delay else "").with_spec(spec)
    except ValueError as exc:
        print(f"rollout-otel serve: bad --delay or --scenario: {exc}", file=sys.stderr)
        return 2
    try:
        # Nothing can read a running server's requests back, so it keeps none: its memory stays flat.
        server = LocalLLMServer(port, default_scenario=scenario, max_requests=0).start()
    except OSError as exc:
        print(f"rollout-otel serve: cannot listen on 127.0.0.1:{port} ({exc}); try --port 0", file=sys.stderr)
        return 1
    print(
        f"rollout-otel serve: streaming server (OpenAI, Anthropic, Gemini, Bedrock APIs) on http://127.0.0.1:{server.port}\n"
        "Paste these into the shell that runs your app (any API key works; Ctrl-C stops the server):\n\n"
        f"export OPENAI_BASE_URL={server.base_url}\n"
        "export OPENAI_API_KEY=sk-local\n"
        f"export ANTHROPIC_BASE_URL={server.anthropic_base_url}\n"
        "export ANTHROPIC_API_KEY=sk-ant-local\n"
        f"export GOOGLE_GEMINI_BASE_URL={server.anthropic_base_url}\n"
        "export GEMINI_API_KEY=local\n"
        f"export AWS_ENDPOINT_URL_BEDROCK_RUNTIME={server.bedrock_endpoint_url}\n"
        "export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1\n",
        flush=True,
    )
    if spec:
        print(f"Requests that send no {SCENARIO_HEADER} header get: {scenario.to_spec()}\n", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nrollout-otel serve: stopped", file=sys.stderr)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
