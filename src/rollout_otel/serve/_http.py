"""The HTTP side: routing a path to its wire format, the threaded server and the request handler."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from ._anthropic import anthropic_complete, anthropic_stream
from ._bedrock import converse_complete, converse_stream, invoke_complete, invoke_stream, is_anthropic_model
from ._chat import chat_completion, chat_stream
from ._gemini import gemini_complete, gemini_stream
from ._plan import Flavor, Plan, new_id
from ._responses import response_object, responses_stream
from ._scenarios import SCENARIO_HEADER, Cut, Scenario
from ._wire import RETRY_NOW, Frame, encode_json, error_body, error_type


@dataclass(frozen=True)
class _Endpoint:
    name: str
    flavor: Flavor
    stream: Callable[[Plan], Iterator[Frame]]
    complete: Callable[[Plan], dict[str, Any]]
    stream_content_type: str = "text/event-stream; charset=utf-8"


_ENDPOINTS: Final = {
    "/v1/chat/completions": _Endpoint("chat", "openai", chat_stream, chat_completion),
    "/v1/responses": _Endpoint("responses", "openai", responses_stream, response_object),
    "/v1/messages": _Endpoint("messages", "anthropic", anthropic_stream, anthropic_complete),
}
_BEDROCK: Final = _Endpoint(
    "converse", "bedrock", converse_stream, converse_complete, "application/vnd.amazon.eventstream"
)
_BEDROCK_INVOKE: Final = _Endpoint(
    "invoke", "bedrock", invoke_stream, invoke_complete, "application/vnd.amazon.eventstream"
)
_GEMINI: Final = _Endpoint("generate", "gemini", gemini_stream, gemini_complete)
_GEMINI_PATH: Final = re.compile(
    r"/v1(?:beta|alpha)?/models/(?P<model>[^/:]+):(?P<action>generateContent|streamGenerateContent)"
)
_BEDROCK_PATH: Final = re.compile(
    r"/model/(?P<model>[^/]+)/(?P<action>converse|converse-stream|invoke|invoke-with-response-stream)"
)


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it: headers lower-cased, body parsed from JSON (None if it was not)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Stopped(Exception):
    """The server is stopping: abandon the reply."""


class HTTPServer(ThreadingHTTPServer):
    """Daemon handler threads that `server_close` does not wait for, plus the sockets to cut on stop."""

    request_queue_size = 1024  # hundreds of clients connect at once in the load tests

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], default_scenario: Scenario, max_recorded: int) -> None:
        self.default_scenario = default_scenario
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.recorded: deque[RecordedRequest] = deque(maxlen=max_recorded)  # the newest, for inspection
        self.lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on machines without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket, active: bool) -> None:
        with self.lock:
            if active:
                self.connections.add(connection)
            else:
                self.connections.discard(connection)

    def cut_connections(self) -> None:
        """Shut every open connection down, waking handlers blocked on reads and failing their writes."""
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients hanging up mid-stream is the normal case here, not worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HTTPServer

    def setup(self) -> None:
        super().setup()
        # Deltas are tiny writes; without TCP_NODELAY, Nagle plus delayed ACKs would stall them by up to 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log: tests and the demo print their own output."""

    def do_GET(self) -> None:
        self._read_body()
        self._send_json(404, error_body(404, "openai", f"Unknown path {self.path}"))

    def do_POST(self) -> None:
        try:
            self._answer()
        except (_Stopped, OSError):
            self.close_connection = True

    # ----------------------------------------------------------------------------------------------------------------

    def _answer(self) -> None:
        raw = self._read_body()
        path = urlsplit(self.path).path
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if self.server.recorded.maxlen:
            with self.server.lock:
                self.server.recorded.append(RecordedRequest(self.command, path, headers, body))
        endpoint = _ENDPOINTS.get(path)
        bedrock = _BEDROCK_PATH.fullmatch(path)
        if bedrock is not None and isinstance(body, dict):  # the model and streaming are in the path, not the body
            action = bedrock["action"]
            endpoint = _BEDROCK if action.startswith("converse") else _BEDROCK_INVOKE
            stream = action in ("converse-stream", "invoke-with-response-stream")
            body = {**body, "model": unquote(bedrock["model"]), "stream": stream}
        gemini = _GEMINI_PATH.fullmatch(path)
        if gemini is not None and isinstance(body, dict):
            endpoint = _GEMINI
            body = {**body, "model": unquote(gemini["model"]), "stream": gemini["action"] == "streamGenerateContent"}
        if endpoint is None:
            self._send_json(404, error_body(404, "openai", f"Unknown path {path}"))
            return
        try:
            scenario = self.server.default_scenario.with_spec(headers.get(SCENARIO_HEADER, ""))
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
            flavor: Flavor = endpoint.flavor
            if endpoint is _BEDROCK_INVOKE and is_anthropic_model(body["model"]):
                flavor = "anthropic"  # the body is Anthropic's Messages request: its tools, its thinking
            plan = Plan.build(body, scenario, flavor, endpoint.name)
        except ValueError as exc:
            self._send_json(400, error_body(400, endpoint.flavor, str(exc)))
            return
        if scenario.status is not None:
            message = f"Error {scenario.status} requested by the {SCENARIO_HEADER} header."
            error = error_body(scenario.status, endpoint.flavor, message)
            headers = {**RETRY_NOW, **self._request_id_header(endpoint.flavor)}
            if endpoint.flavor == "bedrock":
                headers["x-amzn-errortype"] = error_type(scenario.status, "bedrock")
            self._send_json(scenario.status, error, headers)
        elif plan.stream:
            self._send_stream(endpoint, plan)
        else:
            self._send_complete(endpoint, plan)

    def _read_body(self) -> bytes:
        """The request body, by Content-Length or chunked; reading it all keeps the connection reusable."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            data = bytearray()  # not `bytes +=`, which copies the body at every chunk
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(data)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _request_id_header(self, flavor: Flavor) -> dict[str, str]:
        name = {"anthropic": "request-id", "bedrock": "x-amzn-requestid", "gemini": "x-goog-request-id"}.get(
            flavor, "x-request-id"
        )
        return {name: new_id("req_")}

    def _send_json(self, status: int, payload: Any, extra_headers: Mapping[str, str] | None = None) -> None:
        data = encode_json(payload)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, endpoint: _Endpoint, plan: Plan) -> None:
        """Write the frames as HTTP chunks, pacing content deltas; a drop frame cuts the connection."""
        self.send_response(200)
        self.send_header("content-type", endpoint.stream_content_type)
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        for key, value in self._request_id_header(endpoint.flavor).items():
            self.send_header(key, value)
        self.end_headers()
        paced = plan.sent_before  # a `hops` reply's later requests go on counting where the last one stopped
        for frame in endpoint.stream(plan):
            if frame.drop:
                self._drop()
                return
            if frame.paced:
                self._pause(plan.scenario.delay + plan.extra_wait(paced))
                paced += 1
            self.wfile.write(b"%X\r\n%s\r\n" % (len(frame.data), frame.data))
        self.wfile.write(b"0\r\n\r\n")

    def _send_complete(self, endpoint: _Endpoint, plan: Plan) -> None:
        """A non-streamed reply, after the time its deltas would have taken; failures become a drop or a 500."""
        budget = plan.budget()
        self._pause(plan.scenario.delay * (budget.at if budget.cut else plan.completion_tokens))
        if budget.cut is Cut.DROP:
            self._drop()
        elif budget.cut is not None:
            self._send_json(500, error_body(500, endpoint.flavor, "The server had an error."))
        else:
            self._send_json(200, endpoint.complete(plan), self._request_id_header(endpoint.flavor))

    def _pause(self, seconds: float) -> None:
        if self.server.stopping.is_set() or (seconds > 0 and self.server.stopping.wait(seconds)):
            raise _Stopped

    def _drop(self) -> None:
        """Close the TCP connection without finishing the reply (FIN, not RST, so sent data still arrives)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
