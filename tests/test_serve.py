"""The bundled server as a product: bounded memory and sizes, and scenarios documented where users look for them."""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import openai
import pytest

from rollout_otel import cli
from rollout_otel.serve import DEFAULT_REPLY, SCENARIO_HEADER, LocalLLMServer, Scenario, reply_deltas, scenario_headers
from rollout_otel.serve._chat import chat_stream
from rollout_otel.serve._guide import GUIDE, client_call
from rollout_otel.serve._plan import Plan

README = Path(__file__).resolve().parents[1] / "README.md"
MESSAGES: Any = [{"role": "user", "content": "Hi"}]
FIELDS = [f.name for f in dataclasses.fields(Scenario)]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def oai(server: LocalLLMServer) -> Iterator[Any]:
    client = openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
    yield client
    client.close()


def test_a_ten_million_chunk_stream_is_generated_as_it_is_sent() -> None:
    tracemalloc.start()
    try:
        body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
        plan = Plan.build(body, Scenario.parse("chunks=10000000"), "openai", "chat")
        frames = list(islice(chat_stream(plan), 1000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plan.completion_tokens == 10_000_000 and len(frames) == 1000
    assert peak < 2_000_000  # the whole reply's deltas would be hundreds of megabytes


def test_a_long_stream_starts_with_the_reply_text(oai: Any) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=scenario_headers(chunks=10_000_000)
    )
    with stream:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in islice(stream, 6))
    assert text.startswith("Streaming responses arrive")


def test_sizes_over_the_limits_are_a_400_naming_the_limit(oai: Any) -> None:
    for spec, limit in (
        ("chunks=10000001", "the server's limit on chunks"),
        ("delay=61", "the server's limit on delay"),
        ("first_delay=601", "the server's limit on first_delay"),
        ("stall=601", "the server's limit on stall"),
    ):
        with pytest.raises(openai.BadRequestError, match=re.escape(limit)):
            oai.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, extra_headers={SCENARIO_HEADER: spec}
            )
    with pytest.raises(openai.BadRequestError, match=r"at most 1000000 deltas .*ask for a stream"):
        oai.chat.completions.create(model="m", messages=MESSAGES, extra_headers=scenario_headers(chunks=1_000_001))
    with pytest.raises(ValueError, match="at most 1000000 characters"):
        Scenario.parse("text=" + "x" * 1_000_001)
    with pytest.raises(ValueError, match="limit on chunks"):
        scenario_headers(chunks=10_000_001)  # a client-side typo fails before it is sent
    assert Scenario.parse("chunks=10000000;delay=60;first_delay=600;stall=600").chunks == 10_000_000


def test_recorded_requests_are_the_newest_max_requests() -> None:
    with LocalLLMServer(max_requests=3) as srv, openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0) as c:
        for n in range(1, 6):
            c.chat.completions.create(model="m", messages=MESSAGES, extra_headers=scenario_headers(chunks=n))
        assert [r.headers[SCENARIO_HEADER] for r in srv.requests()] == ["chunks=3", "chunks=4", "chunks=5"]
    with LocalLLMServer(max_requests=0) as srv, openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0) as c:
        c.chat.completions.create(model="m", messages=MESSAGES)
        assert srv.requests() == []
    with pytest.raises(ValueError, match="max_requests must be >= 0"):
        LocalLLMServer(max_requests=-1)


def test_the_default_keeps_a_thousand_requests(server: LocalLLMServer) -> None:
    server.clear_requests()
    assert server._server is not None and server._server.recorded.maxlen == 1000


def scenario(spec: str) -> dict[str, str]:
    return {SCENARIO_HEADER: spec}


def serve_help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def readme_scenarios() -> str:
    text = README.read_text()
    start = text.index("## Rehearse slow, failing and stalling providers")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_serve_help_and_the_readme_name_every_scenario_setting(capsys: pytest.CaptureFixture[str]) -> None:
    documented = {"help": serve_help(capsys), "README": readme_scenarios()}
    for where, text in documented.items():
        missing = [name for name in FIELDS if not re.search(rf"\b{name}=", text)]
        assert missing == [], f"{where} does not document {missing}"
        assert f"{SCENARIO_HEADER}: " in text and "extra_headers=scenario_headers(" in text
    assert sorted({key for setting, _, _ in GUIDE for key in re.findall(r"(\w+)=", setting)}) == sorted(FIELDS)


def test_every_guide_example_is_a_valid_scenario_and_its_client_call_matches() -> None:
    for _, _, example in GUIDE:
        call = client_call(example)
        arguments = re.fullmatch(r"extra_headers=scenario_headers\((.*)\)", call)
        assert arguments is not None
        settings = eval(f"dict({arguments.group(1)})")  # the call as a user would paste it
        assert Scenario.parse(scenario_headers(**settings)[SCENARIO_HEADER]) == Scenario.parse(example)


def test_serve_rejects_a_bad_scenario_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--scenario", "stall=soon"], ["--scenario", "chunks=99999999999"], ["--delay", "-1"]):
        assert cli.main(["serve", "--port", "0", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("rollout-otel serve: bad --delay or --scenario: ") and err.count("\n") == 1


def test_serve_scenario_is_the_default_of_every_request() -> None:
    command = [sys.executable, "-m", "rollout_otel.cli", "serve", "--port", "0", "--scenario", "status=429"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        port = re.search(r"127\.0\.0\.1:(\d+)", process.stdout.readline())
        assert port is not None
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port.group(1)}/v1", api_key="k", max_retries=0)
        with client:
            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(model="m", messages=MESSAGES)
            with pytest.raises(openai.RateLimitError):  # a request's header is layered on the default
                client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=scenario_headers(chunks=2))
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_chunked_request_body_is_read_whole(server: LocalLLMServer) -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 50_000}]}).encode()
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"content-type": "application/json", "transfer-encoding": "chunked", SCENARIO_HEADER: "chunks=1"}
        connection.request("POST", "/v1/chat/completions", iter(pieces), headers, encode_chunked=True)
        response = connection.getresponse()
        reply = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200 and reply["choices"][0]["message"]["content"] == reply_deltas(DEFAULT_REPLY, 1)[0]
    assert server.requests()[-1].body == json.loads(body)
