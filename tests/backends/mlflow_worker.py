"""Answers questions about an MLflow server through MLflow's own client, one JSON line in, one JSON line out.

Why a worker: the client lives in the MLflow venv (not the project's), and importing it takes seconds, too slow to
repeat for every look while a stream is open. Run as `<mlflow-venv>/bin/python mlflow_worker.py TRACKING_URI`.
Requests: `{"op": "create_experiment", "name": ...}` and `{"op": "traces", "experiment_id": ...}`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _span(span: Any) -> dict[str, Any]:
    status = getattr(span, "status", None)
    return {
        "name": span.name,
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "trace_id": span.trace_id,
        "span_type": span.span_type,
        "status": str(getattr(getattr(status, "status_code", None), "value", status)),
        "start_time_ns": span.start_time_ns,
        "end_time_ns": span.end_time_ns,
        "inputs": span.inputs,
        "outputs": span.outputs,
        "attributes": span.attributes,
    }


def _traces(client: Any, experiment_id: str) -> list[dict[str, Any]]:
    found = []
    for trace in client.search_traces(locations=[experiment_id], max_results=500):
        info = trace.info
        found.append(
            {
                "trace_id": info.trace_id,
                "state": str(getattr(info.state, "value", info.state)),
                "token_usage": info.token_usage,
                "spans": [_span(span) for span in trace.data.spans],
            }
        )
    return found


def main(tracking_uri: str) -> int:
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # whatever MLflow prints must not mix with the answers
    from mlflow import MlflowClient  # type: ignore[import-not-found]  # in the MLflow venv only

    client = MlflowClient(tracking_uri=tracking_uri)
    print(json.dumps({"ok": True, "result": "ready"}), file=answers, flush=True)
    for line in sys.stdin:
        try:
            request = json.loads(line)
            if request["op"] == "create_experiment":
                result: Any = client.create_experiment(request["name"])
            elif request["op"] == "traces":
                result = _traces(client, request["experiment_id"])
            else:
                raise ValueError(f"unknown op {request['op']!r}")
            answer = {"ok": True, "result": result}
        except Exception as error:
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer, default=repr), file=answers, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
