"""docker-compose.yml and Dockerfile, checked as files: there is no Docker engine on CI machines."""

import re
import tomllib
from typing import Any

import pytest
import yaml

from tests.paths import REPO

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
IMAGE = "ghcr.io/netweave/netweave:0.1.0"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = _compose()["services"][name]
    return service


def _flag(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _volumes(name: str) -> dict[str, tuple[str, str]]:
    """Container path -> (source, options) for a service's short-syntax volumes."""
    mounts = {}
    for entry in _service(name)["volumes"]:
        source, target, *options = entry.split(":")
        mounts[target] = (source, options[0] if options else "rw")
    return mounts


def test_services_and_named_volume() -> None:
    compose = _compose()
    assert set(compose["services"]) == {"certs", "webhook"}
    assert compose["volumes"] == {"certs": None}


def test_certs_generates_into_the_named_volume() -> None:
    certs = _service("certs")
    assert certs["command"] == [
        "certs", "generate", "--service", "netweave-webhook", "--namespace", "netweave-system", "--out", "/certs",
    ]  # fmt: skip
    assert _volumes("certs")["/certs"] == ("certs", "rw")
    assert certs["restart"] == "no"
    assert certs["build"] == "."


def test_webhook_waits_for_certs_to_complete() -> None:
    assert _service("webhook")["depends_on"] == {"certs": {"condition": "service_completed_successfully"}}


def test_webhook_serves_tls_from_the_certs_volume() -> None:
    webhook = _service("webhook")
    command = webhook["command"]
    assert command[0] == "serve"
    assert _flag(command, "--listen") == "0.0.0.0:8443"
    volumes = _volumes("webhook")
    out = _flag(_service("certs")["command"], "--out")
    assert volumes[out] == ("certs", "ro")
    assert _flag(command, "--tls-cert") == f"{out}/tls.crt"
    assert _flag(command, "--tls-key") == f"{out}/tls.key"
    assert webhook["ports"] == ["8443:8443"]


def test_webhook_catalog_is_the_examples_mounted_read_only() -> None:
    catalog = _flag(_service("webhook")["command"], "--catalog")
    assert _volumes("webhook")[catalog] == ("./deploy/examples", "ro")
    assert (REPO / "deploy" / "examples").is_dir()


@pytest.mark.parametrize("name", ["certs", "webhook"])
def test_services_build_the_image_instead_of_pulling_it(name: str) -> None:
    service = _service(name)
    assert (service["build"], service["pull_policy"]) == (".", "build")


@pytest.mark.parametrize("name", ["certs", "webhook"])
def test_services_use_the_image_without_privileges(name: str) -> None:
    service = _service(name)
    assert service["image"] == IMAGE
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]


def test_healthcheck_verifies_tls_with_the_generated_ca() -> None:
    test = _service("webhook")["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "cafile='/certs/ca.crt'" in test[3]
    assert "https://localhost:8443/healthz" in test[3]
    compile(test[3], "healthcheck", "exec")


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_final_stage() -> None:
    instructions = _instructions()
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    assert final[0] == ("FROM", "python:3.11-slim")
    assert ("USER", "65532:65532") in final
    assert ("ENTRYPOINT", '["netweave"]') in final
    assert any(op == "RUN" and "pip install" in arg for op, arg in final)
    assert [op for op, _ in final].index("USER") > [op for op, _ in final].index("RUN")


def test_dockerfile_copies_every_package_the_project_installs() -> None:
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    copied = {
        source.rstrip("/")
        for op, arg in _instructions()
        if op == "COPY" and not arg.startswith("--from")
        for source in arg.split()[:-1]
    }
    assert {package.split(".")[0] for package in packages} | {"pyproject.toml", "README.md"} <= copied


def test_dockerfile_prepares_the_volume_mount_point_for_the_non_root_user() -> None:
    assert re.search(r"install -d -o 65532 -g 65532 .*/certs", DOCKERFILE.read_text())
