"""What Phoenix and MLflow show for each span, read through their own APIs (Phoenix GraphQL, MLflow's client).

Both readers give the same `ShownSpan`, so a test asserts once for both backends: the text the backend's chat view
renders as the span's output, its token counts, and whether its trace is still open.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The spans of one project with what Phoenix's span view shows: its converted OpenInference attributes
# (`llm.output_messages` is the chat view), input and output values, and token counts.
PHOENIX_SPANS_QUERY = """
query ProjectSpans($project: String!, $first: Int!) {
  getProjectByName(name: $project) {
    spans(first: $first) {
      edges {
        node {
          name
          spanKind
          statusCode
          parentId
          startTime
          endTime
          context { traceId spanId }
          attributes
          input { value mimeType }
          output { value mimeType }
          tokenCountPrompt
          tokenCountCompletion
        }
      }
    }
  }
}
"""


@dataclass(frozen=True)
class ShownSpan:
    """One span as a backend shows it."""

    name: str
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_id: str | None
    output_text: str | None  # the text of the output messages, as the chat view renders it
    input_tokens: int | None
    output_tokens: int | None
    status: str
    trace_state: str | None = None  # MLflow's state of the span's trace (OK, ERROR, IN_PROGRESS)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def attribute(self, name: str) -> Any:
        """The attribute `name` as the backend stores it: MLflow keeps names flat, Phoenix nests them by dots."""
        attributes = self.raw.get("attributes") or {}
        if name in attributes:
            return attributes[name]
        value: Any = attributes
        for key in name.split("."):
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value


def message_text(messages: Any) -> str | None:
    """The text parts of GenAI-convention output messages (`[{"role", "parts": [{"type": "text", ...}]}]`)."""
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            return str(messages)
    if not isinstance(messages, list):
        return None
    texts = [
        str(part.get("content", ""))
        for message in messages
        if isinstance(message, dict)
        for part in message.get("parts") or []
        if isinstance(part, dict) and part.get("type") == "text"
    ]
    return "".join(texts) if texts else None


def _phoenix_output_text(attributes: dict[str, Any]) -> str | None:
    """The text of `llm.output_messages`, which Phoenix's LLM span view renders (contents parts, or content)."""
    messages = attributes.get("llm", {}).get("output_messages")
    if not isinstance(messages, list):
        return None
    texts = []
    for entry in messages:
        message = entry.get("message", {}) if isinstance(entry, dict) else {}
        if "content" in message:
            texts.append(str(message["content"]))
        for part in message.get("contents") or []:
            content = part.get("message_content", {}) if isinstance(part, dict) else {}
            if content.get("type", "text") == "text" and "text" in content:
                texts.append(str(content["text"]))
    return "".join(texts) if texts else None


class PhoenixReader:
    """Phoenix's spans of a project, through `POST /graphql`."""

    def __init__(self, base_url: str) -> None:
        self.url = base_url.rstrip("/") + "/graphql"

    def query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(self.url, body, {"content-type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            reply: dict[str, Any] = json.load(answer)
        if reply.get("errors"):
            raise RuntimeError(f"Phoenix GraphQL errors: {reply['errors']}")
        return dict(reply["data"])

    def spans(self, project: str) -> list[ShownSpan]:
        """Every span Phoenix keeps for `project` (none if the project does not exist yet)."""
        data = self.query(PHOENIX_SPANS_QUERY, {"project": project, "first": 1000})
        found = data.get("getProjectByName")
        if found is None:
            return []
        shown = []
        for edge in found["spans"]["edges"]:
            node = edge["node"]
            attributes = json.loads(node["attributes"] or "{}")
            shown.append(
                ShownSpan(
                    name=node["name"],
                    trace_id=node["context"]["traceId"],
                    span_id=node["context"]["spanId"],
                    parent_id=node["parentId"],
                    output_text=_phoenix_output_text(attributes),
                    input_tokens=node["tokenCountPrompt"],
                    output_tokens=node["tokenCountCompletion"],
                    status=node["statusCode"],
                    raw={**node, "attributes": attributes},
                )
            )
        return shown


def _mlflow_trace_hex(trace_id: str) -> str:
    return trace_id.removeprefix("tr-")


class MlflowReader:
    """MLflow's traces of an experiment, through `MlflowClient` in a worker running in the MLflow venv."""

    def __init__(self, python: Path, tracking_uri: str) -> None:
        worker = Path(__file__).with_name("mlflow_worker.py")
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [str(python), str(worker), tracking_uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._answer()  # "ready": the client is imported

    def _answer(self) -> Any:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the MLflow worker exited with {self._process.wait()}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"MLflow: {answer['error']}")
        return answer["result"]

    def ask(self, op: str, **arguments: Any) -> Any:
        with self._lock:
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
            self._process.stdin.flush()
            return self._answer()

    def create_experiment(self, name: str) -> str:
        return str(self.ask("create_experiment", name=name))

    def traces(self, experiment_id: str) -> list[dict[str, Any]]:
        return list(self.ask("traces", experiment_id=experiment_id))

    def spans(self, experiment_id: str) -> list[ShownSpan]:
        """Every span MLflow keeps for the experiment, each with its trace's state."""
        shown = []
        for trace in self.traces(experiment_id):
            for span in trace["spans"]:
                usage = (span["attributes"] or {}).get("mlflow.chat.tokenUsage") or {}  # the span's, not the trace's
                shown.append(
                    ShownSpan(
                        name=span["name"],
                        trace_id=_mlflow_trace_hex(trace["trace_id"]),
                        span_id=span["span_id"],
                        parent_id=span["parent_id"],
                        output_text=message_text(span["outputs"]),
                        input_tokens=usage.get("input_tokens"),
                        output_tokens=usage.get("output_tokens"),
                        status=span["status"],
                        trace_state=trace["state"],
                        raw=span,
                    )
                )
        return shown

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
