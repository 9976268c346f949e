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
    for signal in ("traces", "logs", "metrics"):
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
    assert published(services["prometheus"]) == {9090: 9090}
    assert set(services) == {"otel-collector", "jaeger", "prometheus"}


@pytest.mark.parametrize("compose_file", [COMPOSE, COMPOSE_GATEWAY], ids=lambda p: p.name)
def test_images_are_pinned(compose_file: Path) -> None:
    for name, service in load(compose_file)["services"].items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name}: {image} is not pinned to a version"


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


# Every signal rollout-otel's SDK set-up sends by default (Rollout() and the distro both export all three).
SDK_SIGNALS = ("traces", "logs", "metrics")


@pytest.mark.parametrize("config_file", [LOCAL, AGENT], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_signal_the_sdk_sends_is_received(config_file: Path) -> None:
    """The collectors an app talks to take all three signals: a missing pipeline refuses one (a 404 per batch)."""
    pipelines = load(config_file)["service"]["pipelines"]
    for signal in SDK_SIGNALS:
        matching = [p for name, p in pipelines.items() if name.split("/", 1)[0] == signal]
        assert matching, f"{config_file.name} has no {signal} pipeline: the SDK's {signal} would be refused"
        assert any("otlp" in p["receivers"] for p in matching)


def test_gateways_take_every_signal_the_agents_forward() -> None:
    agent, gateway = load(AGENT), load(GATEWAY)
    forwarded = {name.split("/", 1)[0] for name, p in agent["service"]["pipelines"].items() if p["exporters"]}
    received = {name.split("/", 1)[0] for name in gateway["service"]["pipelines"]}
    assert forwarded == set(SDK_SIGNALS) and forwarded <= received
    metrics = agent["exporters"][agent["service"]["pipelines"]["metrics"]["exporters"][0]]
    assert metrics["routing_key"] == "streamID"  # each series stays on one gateway: its cumulative points whole
    hostnames = agent["exporters"]["loadbalancing"]["resolver"]["static"]["hostnames"]
    assert metrics["resolver"]["static"]["hostnames"] == hostnames


@pytest.mark.parametrize(
    ("compose_file", "prometheus_config", "collector_configs"),
    [
        (COMPOSE, ROOT / "collector-config" / "prometheus.yml", {"otel-collector": LOCAL}),
        (
            COMPOSE_GATEWAY,
            ROOT / "collector-config" / "gateway" / "prometheus.yml",
            {"gateway-1": GATEWAY, "gateway-2": GATEWAY},
        ),
    ],
    ids=["local", "gateway"],
)
def test_metrics_can_be_seen_in_prometheus(
    compose_file: Path, prometheus_config: Path, collector_configs: dict[str, Path]
) -> None:
    """The GenAI metrics reach a place that shows their values: Prometheus scrapes each collector's exporter."""
    services = load(compose_file)["services"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in services["prometheus"]["volumes"]}
    assert mounted[f"./{prometheus_config.relative_to(ROOT).as_posix()}"] == "/etc/prometheus/prometheus.yml"
    targets = {
        t for job in load(prometheus_config)["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    expected = set()
    for service, config_file in collector_configs.items():
        config = load(config_file)
        assert "prometheus" in config["service"]["pipelines"]["metrics"]["exporters"]
        expected.add(f"{service}:{port_of(config['exporters']['prometheus']['endpoint'])}")
        assert service in services
    assert targets == expected


def test_both_stacks_say_they_publish_the_same_ports() -> None:
    local, gateway = load(COMPOSE)["services"], load(COMPOSE_GATEWAY)["services"]
    shared = {p for s in local.values() for p in published(s).values()} & {
        p for s in gateway.values() for p in published(s).values()
    }
    assert shared == {4317, 4318, 16686, 9090}
    for compose_file in (COMPOSE, COMPOSE_GATEWAY):
        assert "publish the same ports" in compose_file.read_text()  # the comment that says so
