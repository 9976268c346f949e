"""`LocalLLMServer`: the bundled server run in a background thread, for tests, the demo and `rollout-otel serve`."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Final

from ._http import HTTPServer, RecordedRequest
from ._scenarios import Scenario

DEFAULT_MAX_REQUESTS: Final = 1000


class LocalLLMServer:
    """A server speaking the OpenAI, Anthropic, Gemini and Bedrock APIs on 127.0.0.1, run in a background thread.

    Use as a context manager, or call `start()` and `stop()`. Point `OpenAI(base_url=server.base_url, api_key=...)`
    or `Anthropic(base_url=server.anthropic_base_url, api_key=...)` at it; any API key is accepted.

    Args:
        port: the port on 127.0.0.1 (0: any free port).
        default_scenario: the scenario of requests that name none, and the base a request's header is layered on.
        max_requests: how many of the newest requests `requests()` keeps for inspection (0: none), so that a
            long-running server holds a bounded amount of memory.
    """

    def __init__(
        self, port: int = 0, *, default_scenario: str | Scenario = "", max_requests: int = DEFAULT_MAX_REQUESTS
    ) -> None:
        if max_requests < 0:
            raise ValueError(f"max_requests must be >= 0, got {max_requests!r}")
        self._requested_port = port
        self._max_requests = max_requests
        self._default = default_scenario if isinstance(default_scenario, Scenario) else Scenario.parse(default_scenario)
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LocalLLMServer:
        """Bind and start serving; returns self."""
        if self._server is not None:
            raise RuntimeError("a LocalLLMServer starts once; make a new one to serve again")
        self._server = HTTPServer(("127.0.0.1", self._requested_port), self._default, self._max_requests)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="rollout-llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections, even mid-stream; returns within a fraction of a second."""
        server, thread = self._server, self._thread
        if server is None or server.stopping.is_set():
            return
        server.stopping.set()
        server.shutdown()
        server.cut_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=2)
        self._thread = None

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LocalLLMServer is not started")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """What `OpenAI(base_url=...)` wants."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """What `Anthropic(base_url=...)` wants (the client adds `/v1/messages` itself)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def bedrock_endpoint_url(self) -> str:
        """What `boto3.client("bedrock-runtime", endpoint_url=...)` wants (it adds `/model/{id}/converse...`)."""
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[RecordedRequest]:
        """The newest `max_requests` requests received so far, oldest first (a copy)."""
        if self._server is None:
            return []
        with self._server.lock:
            return list(self._server.recorded)

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        if self._server is not None:
            with self._server.lock:
                self._server.recorded.clear()
