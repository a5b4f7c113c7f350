"""deploy/k8s, offline: each overlay renders with kustomize, core kinds pass the Kubernetes
schemas strictly, custom resources pass the CRD schemas kept in deploy/k8s/crds, and the
manifests agree with the code (topics, settings, secrets)."""

from __future__ import annotations

import copy
import functools
import typing
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from services.billing.config import BillingSettings
from services.common.topics import CATALOG
from services.erasure.config import ErasureSettings
from services.membership.config import MembershipSettings
from services.notify.config import NotifySettings
from tests.deploy.kustomize import K8S, OVERLAYS, Doc, named, of_kind, render

# The version the core kinds are checked against (kubectl's own minor, see the Makefile).
KUBERNETES_VERSION = "1.32.0"
SETTINGS: dict[str, type[BaseSettings]] = {
    "membership": MembershipSettings,
    "billing": BillingSettings,
    "notify": NotifySettings,
    "erasure": ErasureSettings,
}


@functools.cache
def crd_schemas() -> dict[tuple[str, str], Doc]:
    """(apiVersion, kind) -> the openAPIV3Schema of every CRD kept in deploy/k8s/crds."""
    schemas: dict[tuple[str, str], Doc] = {}
    for path in sorted((K8S / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            for version in crd["spec"]["versions"]:
                api_version = f"{crd['spec']['group']}/{version['name']}"
                schemas[(api_version, crd["spec"]["names"]["kind"])] = version["schema"][
                    "openAPIV3Schema"
                ]
    return schemas


def is_custom(doc: Doc) -> bool:
    group = doc["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def validate_core(doc: Doc) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def validate_custom(doc: Doc) -> None:
    schema = crd_schemas().get((doc["apiVersion"], doc["kind"]))
    assert schema is not None, f"no CRD in deploy/k8s/crds for {doc['apiVersion']} {doc['kind']}"
    unexpected = set(doc) - {"apiVersion", "kind", "metadata", "spec"}
    assert not unexpected, f"{doc['kind']} {doc['metadata']['name']}: {unexpected}"
    jsonschema.validate(doc, schema)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_service_with_its_parts(overlay: str) -> None:
    docs = render(overlay)
    for service in SETTINGS:
        for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"):
            assert named(docs, kind, service)["metadata"]["namespace"] == "kontingent"
        for kind in ("NetworkPolicy", "ServiceMonitor", "KafkaUser"):
            named(docs, kind, service)
        named(docs, "ConfigMap", f"{service}-config")
        named(docs, "Cluster", f"pg-{service}")
    assert named(docs, "NetworkPolicy", "default-deny")["spec"]["podSelector"] == {}
    for name in ("kontingent-recording", "kontingent-alerts"):
        assert named(docs, "PrometheusRule", name)["metadata"]["namespace"] == "kontingent"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_kinds_pass_strict_kubernetes_schemas(overlay: str) -> None:
    core = [doc for doc in render(overlay) if not is_custom(doc)]
    assert len(core) > 20
    for doc in core:
        validate_core(doc)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_pass_their_crd_schemas(overlay: str) -> None:
    custom = [doc for doc in render(overlay) if is_custom(doc)]
    kinds = {doc["kind"] for doc in custom}
    assert kinds == {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
        "Cluster",
        "ServiceMonitor",
        "PrometheusRule",
    }
    for doc in custom:
        validate_custom(doc)


def test_kept_crds_are_valid_crds() -> None:
    for path in sorted((K8S / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            validate_core(crd)


def test_validators_reject_what_a_cluster_would() -> None:
    docs = render("prod")
    deployment = copy.deepcopy(named(docs, "Deployment", "billing"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_core(deployment)
    topic = copy.deepcopy(of_kind(docs, "KafkaTopic")[0])
    topic["spec"]["partitions"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(topic)
    user = copy.deepcopy(named(docs, "KafkaUser", "billing"))
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Read", "Publish"]
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(user)
    rule = copy.deepcopy(of_kind(docs, "PrometheusRule")[0])
    rule["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"
    with pytest.raises(jsonschema.ValidationError):
        validate_custom(rule)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_the_code_creates_has_a_kafka_topic_and_no_other(overlay: str) -> None:
    topics = {
        doc["metadata"]["name"]: doc["spec"] for doc in of_kind(render(overlay), "KafkaTopic")
    }
    partitions = {name: spec.partitions for spec in CATALOG for name in spec.all_names()}
    assert not set(partitions) - set(topics), f"no KafkaTopic: {set(partitions) - set(topics)}"
    assert not set(topics) - set(partitions), (
        f"unknown to the code: {set(topics) - set(partitions)}"
    )
    for name, spec in topics.items():
        assert spec["partitions"] == partitions[name], name
        assert spec["config"]["retention.ms"] > 0, name
    # Brokers the overlay runs must be able to hold each topic's replicas.
    brokers = sum(
        pool["spec"]["replicas"]
        for pool in of_kind(render(overlay), "KafkaNodePool")
        if "broker" in pool["spec"]["roles"]
    )
    assert all(spec["replicas"] <= brokers for spec in topics.values())


def carries_secret(annotation: object) -> bool:
    if annotation is SecretStr:
        return True
    return any(carries_secret(arg) for arg in typing.get_args(annotation))


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SETTINGS)
def test_deployment_sets_only_settings_the_service_reads(overlay: str, service: str) -> None:
    docs = render(overlay)
    container = named(docs, "Deployment", service)["spec"]["template"]["spec"]["containers"][0]
    fields = SETTINGS[service].model_fields
    from_config = {
        key
        for source in container.get("envFrom", [])
        for key in named(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
    }
    from_secrets = {
        env["name"]: env["valueFrom"]["secretKeyRef"]
        for env in container["env"]
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    plain = {env["name"] for env in container["env"]} - set(from_secrets)
    unknown = {
        name for name in from_config | set(from_secrets) | plain if name.lower() not in fields
    }
    assert not unknown, f"{service} reads no such setting: {sorted(unknown)}"
    for name, field in fields.items():
        env = name.upper()
        if carries_secret(field.annotation):
            assert env in from_secrets, f"{service}: {env} is a secret and not from a Secret"
        if field.is_required():
            assert env in from_config | set(from_secrets), f"{service}: {env} is required"
    # The database URL comes from the Secret CloudNativePG writes for the service's own cluster.
    database = from_secrets["DATABASE_URL"]
    assert database == {"name": f"pg-{service}-app", "key": "uri"}
    assert named(docs, "Cluster", f"pg-{service}")["spec"]["bootstrap"]["initdb"]["database"] == (
        service
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SETTINGS)
def test_deployment_logs_in_to_kafka_as_its_kafka_user_over_tls(overlay: str, service: str) -> None:
    docs = render(overlay)
    pod = named(docs, "Deployment", service)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {item["name"]: item for item in container["env"]}
    config = named(docs, "ConfigMap", f"{service}-config")["data"]
    kafka = of_kind(docs, "Kafka")[0]
    listener = kafka["spec"]["kafka"]["listeners"][0]
    user = named(docs, "KafkaUser", service)
    assert listener["tls"] is True and config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert listener["authentication"]["type"] == user["spec"]["authentication"]["type"]
    assert config["KAFKA_SASL_MECHANISM"] == listener["authentication"]["type"].upper()
    # Strimzi names the user's Secret after the KafkaUser and keeps the password in `password`.
    assert env["KAFKA_SASL_USERNAME"]["value"] == user["metadata"]["name"]
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": user["metadata"]["name"],
        "key": "password",
    }
    cafile = Path(env["KAFKA_SSL_CAFILE"]["value"])
    mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == cafile.parent)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == f"{kafka['metadata']['name']}-cluster-ca-cert"
    assert {"key": "ca.crt", "path": cafile.name} in volume["secret"]["items"]


def test_readme_names_every_secret_key_the_manifests_read() -> None:
    readme = (K8S / "README.md").read_text()
    refs = {
        (env["valueFrom"]["secretKeyRef"]["name"], env["valueFrom"]["secretKeyRef"]["key"])
        for deployment in of_kind(render("prod"), "Deployment")
        for env in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        if "secretKeyRef" in env.get("valueFrom", {})
    } | {
        (volume["secret"]["secretName"], item["key"])
        for deployment in of_kind(render("prod"), "Deployment")
        for volume in deployment["spec"]["template"]["spec"]["volumes"]
        for item in volume.get("secret", {}).get("items", [])
    }
    rows = readme.splitlines()
    missing = {
        (secret, key)
        for secret, key in refs
        if not any(f"`{secret}`" in row and f"`{key}`" in row for row in rows)
    }
    assert not missing, f"deploy/k8s/README.md does not document {sorted(missing)}"


@pytest.mark.parametrize("service", SETTINGS)
def test_pods_are_locked_down_and_probed_over_grpc(service: str) -> None:
    docs = render("prod")
    pod = named(docs, "Deployment", service)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    security = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert named(docs, "ServiceAccount", service)["automountServiceAccountToken"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert {"/tmp", "/data"} <= {mount["mountPath"] for mount in container["volumeMounts"]}
    config = named(docs, "ConfigMap", f"{service}-config")["data"]
    assert config["DATA_DIR"] == "/data"
    grpc_port = next(port for port in container["ports"] if port["name"] == "grpc")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == grpc_port["containerPort"], probe
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["terminationGracePeriodSeconds"] > float(config["SHUTDOWN_GRACE_S"])
