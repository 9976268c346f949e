"""The local collector and the scale-out example: their YAML checked as the collector and compose would see it.

No Docker engine runs on the machines these tests were written on; where one does, the last two tests also
run `otelcol-contrib validate` and `docker compose config`.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollout_otel._config import DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "collector-config" / "otel-collector.yaml"
AGENT = ROOT / "collector-config" / "gateway" / "agent.yaml"
GATEWAY = ROOT / "collector-config" / "gateway" / "gateway.yaml"
CONFIGS = [LOCAL, AGENT, GATEWAY]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_GATEWAY = ROOT / "docker-compose.gateway.yml"
KINDS = ("receivers", "processors", "exporters", "connectors")
# Deprecated component types: the OTLP exporters' old names (v0.144.0) and the logging exporter (now debug).
DEPRECATED = {"exporters": {"otlp", "otlphttp", "logging"}, "processors": {"batch"}}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def component_type(component_id: str) -> str:
    """`otlp_grpc/jaeger` -> `otlp_grpc`."""
    return component_id.split("/", 1)[0]


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def published(service: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port of a compose service."""
    ports: dict[int, int] = {}
    for entry in service.get("ports", []):
        host, container = str(entry).split("#")[0].strip().strip('"').split(":")[-2:]
        ports[int(container)] = int(host)
    return ports


@pytest.fixture(params=CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_every_pipeline_component_is_defined_and_every_defined_one_is_used(config: dict[str, Any]) -> None:
    pipelines = config["service"]["pipelines"]
    for kind in KINDS:
        defined = set(config.get(kind) or {})
        used = {c for pipeline in pipelines.values() for c in pipeline.get(kind, [])}
        assert used <= defined, f"{kind} used but not defined: {used - defined}"
        assert defined <= used, f"{kind} defined but unused: {defined - used}"
    extensions = set(config.get("extensions") or {})
    assert set(config["service"].get("extensions", [])) == extensions


def test_memory_limiter_comes_first_in_every_pipeline(config: dict[str, Any]) -> None:
    for name, pipeline in config["service"]["pipelines"].items():
        assert pipeline["processors"][0] == "memory_limiter", name


def test_no_deprecated_component_names(config: dict[str, Any]) -> None:
    for kind, names in DEPRECATED.items():
        found = {component_type(c) for c in config.get(kind) or {}} & names
        assert not found, f"deprecated {kind}: {found}"
    loadbalancing = (config.get("exporters") or {}).get("loadbalancing")
    if loadbalancing is not None:  # its protocol block names the OTLP exporter settings, not a component
        assert set(loadbalancing["protocol"]) == {"otlp"}


def test_receivers_listen_on_all_interfaces_inside_the_container(config: dict[str, Any]) -> None:
    for protocol in config["receivers"]["otlp"]["protocols"].values():
        assert protocol["endpoint"].startswith("0.0.0.0:")
    assert config["extensions"]["health_check"]["endpoint"] == "0.0.0.0:13133"


def test_large_grpc_messages_are_accepted_for_captured_content(config: dict[str, Any]) -> None:
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["max_recv_msg_size_mib"] >= 16


def test_local_collector_keeps_traces_and_update_events_in_the_mounted_folder() -> None:
    config = load(LOCAL)
    compose = load(COMPOSE)["services"]["otel-collector"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in compose["volumes"]}
    pipelines = config["service"]["pipelines"]
    for signal in ("traces", "logs"):
        files = [e for e in pipelines[signal]["exporters"] if component_type(e) == "file"]
        assert files, f"no file exporter for {signal}"
        path = config["exporters"][files[0]]["path"]
        folder = str(Path(path).parent)
        assert mounts.get(folder) == "./collector-output", f"{path} is not in the mounted output folder"
        assert "debug" in pipelines[signal]["exporters"]
    assert "otlp_grpc/jaeger" in pipelines["traces"]["exporters"]
    assert config["exporters"]["otlp_grpc/jaeger"]["endpoint"] == "jaeger:4317"


def test_compose_publishes_the_sdk_default_ports_and_the_ui_only() -> None:
    services = load(COMPOSE)["services"]
    collector = load(LOCAL)
    receiver_ports = {port_of(p["endpoint"]) for p in collector["receivers"]["otlp"]["protocols"].values()}
    assert published(services["otel-collector"]) == {4317: 4317, 4318: 4318}
    assert receiver_ports == {4317, 4318}
    assert port_of(DEFAULT_HTTP_ENDPOINT) == 4318 and port_of(DEFAULT_GRPC_ENDPOINT) == 4317
    assert published(services["jaeger"]) == {16686: 16686}
    assert set(services) == {"otel-collector", "jaeger"}


@pytest.mark.parametrize("compose_file", [COMPOSE, COMPOSE_GATEWAY], ids=lambda p: p.name)
def test_images_are_pinned(compose_file: Path) -> None:
    for name, service in load(compose_file)["services"].items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+", image), f"{name}: {image} is not pinned to a version"


@pytest.mark.parametrize("compose_file", [COMPOSE, COMPOSE_GATEWAY], ids=lambda p: p.name)
def test_mounted_configs_exist(compose_file: Path) -> None:
    for service in load(compose_file)["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./collector-config"):
                assert (ROOT / source).is_file(), source


def test_health_checks_and_start_order() -> None:
    services = load(COMPOSE)["services"]
    test = services["jaeger"]["healthcheck"]["test"]
    assert test[0] == "CMD" and "13133" in " ".join(test)  # exec form: no shell needed
    assert "healthcheck" not in services["otel-collector"]  # distroless: nothing to run a check with
    assert services["otel-collector"]["depends_on"]["jaeger"]["condition"] == "service_started"


def test_agents_route_by_trace_id_with_a_persistent_queue() -> None:
    agent = load(AGENT)
    balancing = agent["exporters"]["loadbalancing"]
    assert balancing["routing_key"] == "traceID"
    queue = balancing["sending_queue"]
    assert queue["enabled"] is True
    assert queue["storage"] in agent["extensions"]
    assert component_type(queue["storage"]) == "file_storage"
    assert queue["storage"] in agent["service"]["extensions"]
    pipelines = agent["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["loadbalancing"]
    assert pipelines["logs"]["exporters"] == ["loadbalancing"]  # update events follow their trace


def test_agents_point_at_the_gateways_the_compose_file_runs() -> None:
    hostnames = load(AGENT)["exporters"]["loadbalancing"]["resolver"]["static"]["hostnames"]
    services = load(COMPOSE_GATEWAY)["services"]
    gateway_grpc = port_of(load(GATEWAY)["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    for hostname in hostnames:
        host, port = hostname.rsplit(":", 1)
        assert host in services, f"{host} is not a compose service"
        assert int(port) == gateway_grpc
        assert services[host]["volumes"][0].startswith("./collector-config/gateway/gateway.yaml:")
    assert len(hostnames) >= 2
    queue_dir = load(AGENT)["extensions"]["file_storage/queue"]["directory"]
    assert any(v.endswith(f":{queue_dir}") for v in services["agent"]["volumes"]), "the queue must be on a volume"
    assert published(services["agent"]) == {4317: 4317, 4318: 4318}


@functools.cache
def _docker_engine() -> str | None:
    """Why Docker cannot be used here, or None when it can."""
    if shutil.which("docker") is None:
        return "no docker client installed"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=20, check=False)
    if probe.returncode != 0:
        return f"no Docker engine running ({(probe.stderr or probe.stdout).strip().splitlines()[-1:]})"
    return None


@pytest.mark.integration
@pytest.mark.parametrize("config_file", CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_otelcol_contrib_validates_the_config(config_file: Path) -> None:
    reason = _docker_engine()
    if reason:
        pytest.skip(f"otelcol-contrib validate needs Docker: {reason}")
    image = load(COMPOSE)["services"]["otel-collector"]["image"]
    command = ["docker", "run", "--rm", "-v", f"{config_file}:/cfg.yaml:ro", image, "validate", "--config=/cfg.yaml"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("compose_file", [COMPOSE, COMPOSE_GATEWAY], ids=lambda p: p.name)
def test_docker_compose_accepts_the_file(compose_file: Path) -> None:
    reason = _docker_engine()
    if reason:
        pytest.skip(f"docker compose config needs Docker: {reason}")
    result = subprocess.run(
        ["docker", "compose", "-f", str(compose_file), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
