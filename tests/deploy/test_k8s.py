"""deploy/k8s renders with kustomize; its core resources validate offline against the
Kubernetes schemas; the pods keep the security promises; the Strimzi topics are the
worker's own catalogue, and each institution reads only its own alerts."""

import ssl
from typing import Any

import kubernetes_validate
import pytest
from pydantic import BaseModel

from duanka.settings import Settings
from duanka.topics import catalogue

CORE_API_GROUPS = ("v1", "apps/v1", "policy/v1", "networking.k8s.io/v1")
KUBERNETES_VERSION = "1.31.0"


def of_kind(rendered: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in rendered if d["kind"] == kind]


def test_core_resources_validate_strictly(rendered: list[dict[str, Any]]) -> None:
    core = [d for d in rendered if d["apiVersion"] in CORE_API_GROUPS]
    assert {d["kind"] for d in core} >= {
        "Namespace",
        "ConfigMap",
        "StatefulSet",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    for resource in core:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_a_broken_resource_is_refused() -> None:
    """The validation above can fail."""
    broken = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": "not-a-number"}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_workers_run_locked_down_with_probes_and_limits(rendered: list[dict[str, Any]]) -> None:
    [statefulset] = of_kind(rendered, "StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= set(container["resources"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/duanka"


def test_secrets_are_referenced_never_committed(rendered: list[dict[str, Any]]) -> None:
    assert of_kind(rendered, "Secret") == []
    [statefulset] = of_kind(rendered, "StatefulSet")
    [container] = statefulset["spec"]["template"]["spec"]["containers"]
    from_secrets = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert {
        "DUANKA_API_TOKEN",
        "DUANKA_PSEUDONYM_KEY",
        "DUANKA_KAFKA__SASL_PASSWORD",
    } <= from_secrets


def test_every_variable_set_is_a_setting(
    rendered: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    [configmap] = of_kind(rendered, "ConfigMap")
    [statefulset] = of_kind(rendered, "StatefulSet")
    [container] = statefulset["spec"]["template"]["spec"]["containers"]
    names = set(configmap["data"]) | {e["name"] for e in container["env"]} - {"POD_NAME"}
    unknown = sorted(name for name in names if not is_setting(name))
    assert unknown == []
    # the ConfigMap's values are valid settings, with the Secret's password and, for the CA
    # file that only the pod mounts, one that exists here
    for name, value in configmap["data"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DUANKA_KAFKA__SASL_PASSWORD", "from-the-secret")
    monkeypatch.setenv("DUANKA_KAFKA__SSL_CAFILE", ssl.get_default_verify_paths().openssl_cafile)
    settings = Settings()
    assert settings.kafka.security_protocol == "SASL_SSL"
    assert settings.partitions == int(configmap["data"]["DUANKA_PARTITIONS"])


def is_setting(variable: str) -> bool:
    if not variable.startswith("DUANKA_"):
        return False
    model: type[BaseModel] = Settings
    *parents, leaf = variable.removeprefix("DUANKA_").lower().split("__")
    for part in parents:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return leaf in model.model_fields


def test_strimzi_topics_are_the_worker_s_catalogue(rendered: list[dict[str, Any]]) -> None:
    [configmap] = of_kind(rendered, "ConfigMap")
    partitions = int(configmap["data"]["DUANKA_PARTITIONS"])
    replicas = int(configmap["data"]["DUANKA_REPLICATION_FACTOR"])
    topics = {
        t["spec"]["topicName"]: (
            t["spec"]["partitions"],
            t["spec"]["replicas"],
            t["spec"]["config"],
        )
        for t in of_kind(rendered, "KafkaTopic")
    }
    expected = {
        spec.name: (spec.partitions or partitions, replicas, spec.configs)
        for spec in catalogue(Settings())
    }
    assert topics == expected
    assert topics["watchlist"][2]["cleanup.policy"] == "compact"


def test_each_institution_reads_only_its_own_alerts_and_writes_dispositions(
    rendered: list[dict[str, Any]],
) -> None:
    users = {u["metadata"]["name"]: u["spec"] for u in of_kind(rendered, "KafkaUser")}
    institutions = {n.removeprefix("institution-") for n in users if n.startswith("institution-")}
    assert institutions
    for institution in institutions:
        spec = users[f"institution-{institution}"]
        assert spec["authentication"]["type"] == "scram-sha-512"
        topics = {
            (a["resource"]["name"], a["resource"]["patternType"]): set(a["operations"])
            for a in spec["authorization"]["acls"]
            if a["resource"]["type"] == "topic"
        }
        assert topics.keys() == {(f"alerts.{institution}", "literal"), ("dispositions", "literal")}
        assert topics[(f"alerts.{institution}", "literal")] <= {"Read", "Describe"}
        assert topics[("dispositions", "literal")] <= {"Write", "Describe"}
