"""The deploy/ files parse, and every VIDSEEK_* variable they set is a setting vidseek reads.

They were not run here (no Docker engine, Kubernetes or image registry on these machines); this is
what can be checked without them.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from vidseek.settings import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _variables(text: str) -> set[str]:
    return set(re.findall(r"\bVIDSEEK_([A-Z_]+[A-Z])\b", text))


def test_compose_names_real_settings_and_two_servers_share_one_catalog_and_milvus():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"milvus", "postgres", "vidseek-1", "vidseek-2", "proxy"} <= set(services)
    for name in ("vidseek-1", "vidseek-2"):
        env = services[name]["environment"]
        assert env["VIDSEEK_CATALOG_URL"].startswith("postgresql://vidseek:") and "@postgres:5432/" in env[
            "VIDSEEK_CATALOG_URL"]
        assert env["VIDSEEK_MILVUS_URI"] == "http://milvus:19530"
        assert "data:/data" in services[name]["volumes"]
    fields = {f.upper() for f in Settings.model_fields}
    client_side = {"PUBLIC_HOST", "PORT"}  # compose's own variables in env.example, not vidseek settings
    for path in (DEPLOY / "compose.yaml", DEPLOY / "env.example", DEPLOY / "Dockerfile", DEPLOY / "README.md"):
        unknown = _variables(path.read_text()) - fields - client_side
        assert not unknown, f"{path.name} names settings vidseek does not have: {sorted(unknown)}"
    upstream = (DEPLOY / "nginx.conf").read_text()
    assert "server vidseek-1:8765" in upstream and "server vidseek-2:8765" in upstream


def test_compose_has_a_ray_head_and_workers_on_the_same_image_and_mounts():
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    head, worker = services["ray-head"], services["ray-worker"]
    assert "--head" in head["command"] and "--num-cpus=0" in head["command"]  # the head schedules and drives
    assert "--address=ray-head:6379" in worker["command"]
    assert worker["depends_on"]["ray-head"]["condition"] == "service_healthy"
    for node in (head, worker, services["vidseek-1"]):  # one image (one Ray version), the same paths everywhere
        assert node["image"] == "vidseek:local"
        assert any(v.endswith(":/media:ro") for v in node["volumes"]) and "models:/models" in node["volumes"]
    assert head["environment"]["VIDSEEK_CATALOG_URL"] == services["vidseek-1"]["environment"]["VIDSEEK_CATALOG_URL"]
    assert "cluster" in (DEPLOY / "Dockerfile").read_text().split("pip install", 1)[1].splitlines()[0]


def test_helm_values_parse_and_ask_for_a_milvus_cluster():
    values = yaml.safe_load((DEPLOY / "helm" / "milvus-values.yaml").read_text())
    assert values["cluster"]["enabled"] is True
    assert values["image"]["all"]["tag"].startswith("v2.5.")  # the line pymilvus 2.5 speaks
    assert values["queryNode"]["replicas"] >= 2
