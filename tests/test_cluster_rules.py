"""Rule tables of plugins/kubernetes/{openapi,conflicts,backwards,probes,routes}.py (issue 27).

No API server runs here: each rule follows the API server's validation or the kubelet's prober,
cited per table. The schemas are the real ones of the kept `kubernetes-validate` package.
"""

from __future__ import annotations

import copy

import pytest

from releasegate.kubernetes import backwards, conflicts, openapi, probes, routes


def _obj(api: str, kind: str, name: str = "x", spec: dict | None = None, **meta) -> dict:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "ns", **meta},
            **({"spec": spec} if spec is not None else {})}


def _deploy(**spec) -> dict:
    base = {"selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                         "spec": {"containers": [{"name": "api", "image": "r.test/api:1.0.0"}]}}}
    base.update(spec)
    return _obj("apps/v1", "Deployment", "api", base)


INGRESS_V1BETA1_FIELDS = _obj("networking.k8s.io/v1", "Ingress", "web", {"rules": [{"host": "a.test", "http": {
    "paths": [{"path": "/", "pathType": "Prefix",
               "backend": {"serviceName": "web", "servicePort": 80}}]}}]})


@pytest.mark.parametrize("obj, expected", [
    # the field trial's outage: networking.k8s.io/v1 with v1beta1's backend fields
    (INGRESS_V1BETA1_FIELDS, {"spec.rules[0].http.paths[0].backend.serviceName",
                              "spec.rules[0].http.paths[0].backend.servicePort"}),
    (_obj("networking.k8s.io/v1", "Ingress", "web", {"rules": [{"http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}), set()),
    # an env value that YAML read as a number: the API server cannot decode it into a string
    (_deploy(template={"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [
        {"name": "api", "image": "i", "env": [{"name": "PORT", "value": 8080}]}]}}),
     {"spec.template.spec.containers[0].env[0].value"}),
    (_deploy(), set()),
    (_deploy(replicas="two"), {"spec.replicas"}),
    (_deploy(selector=None) | {"spec": {"template": {}}}, {"spec"}),  # selector is required
])
def test_builtin_kinds_against_the_kept_schema(obj, expected):
    """Schemas: kubernetes-validate's strict JSON schemas (the API server's OpenAPI with unknown
    fields refused, as field validation Strict: https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation)."""
    version = openapi.kept_versions()[-1]
    found = openapi.validate(obj, version, {})
    assert found is not None
    assert {p.path for p in found} == expected
    assert all(p.obj.startswith(obj["kind"]) for p in found)


def test_unknown_field_message_and_version_choice():
    version, note = openapi.pick_version(None)
    assert version == openapi.kept_versions()[-1] and "newest schema kept" in note
    assert openapi.pick_version("1.30")[0] == "1.30"
    assert openapi.pick_version("v1.30.4")[0] == "1.30"
    assert openapi.pick_version("1.99")[0] is None and "upgrade the package" in openapi.pick_version("1.99")[1]
    assert openapi.pick_version("1.1")[0] == openapi.kept_versions()[0]
    (problem, *_) = openapi.validate(INGRESS_V1BETA1_FIELDS, version, {})
    assert problem.message.startswith("unknown field")


CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.demo.test"},
       "spec": {"group": "demo.test", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "required": ["size"],
                                                              "properties": {
                        "size": {"x-kubernetes-int-or-string": True},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        "note": {"type": "string", "nullable": True}}}}}}}]}}


@pytest.mark.parametrize("spec, expected", [
    ({"size": 3}, set()),
    ({"size": "3Gi", "note": None, "free": {"anything": 1}}, set()),
    ({"size": 3, "colour": "red"}, {"spec.colour"}),  # unknown field of a structural schema
    ({}, {"spec"}),  # required
    ({"size": 1.5}, {"spec.size"}),
])
def test_custom_resources_against_their_crd(spec, expected):
    """https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/
    #specifying-a-structural-schema (pruning/Strict refuses unknown fields; int-or-string;
    nullable; x-kubernetes-preserve-unknown-fields)."""
    crds = openapi.crd_schemas([CRD])
    found = openapi.validate(_obj("demo.test/v1", "Widget", "w", spec), "1.30", crds)
    assert {p.path for p in found} == expected


def test_a_removed_version_of_a_builtin_kind_names_the_served_one():
    """policy/v1beta1 PodDisruptionBudget was removed in 1.25 (https://kubernetes.io/docs/reference/
    using-api/deprecation-guide/#poddisruptionbudget-v125)."""
    assert openapi.validate(_obj("policy/v1beta1", "PodDisruptionBudget"), "1.30", {}) is None
    assert openapi.served("1.30", "policy/v1beta1", "PodDisruptionBudget") == ["policy/v1"]
    assert openapi.served("1.30", "demo.test/v1", "Widget") == []


def test_a_kind_without_schema_is_not_checked():
    """Not a built-in of that version and no CRD: None (the check skips, "not checked")."""
    assert openapi.validate(_obj("demo.test/v1", "Gadget", "g", {}), "1.30", {}) is None
    # a group that only shares its first label with a built-in group is no built-in
    assert openapi.validate(_obj("apps.demo.test/v1", "Deployment", "d", {}), "1.30", {}) is None


def test_duplicates_are_keyed_by_group_not_version():
    """Object identity: group, kind, namespace, name (the version is a view of the same object)."""
    manifests = [_deploy(), _deploy(), _obj("apps/v1beta2", "Deployment", "api", {}),
                 _obj("v1", "Service", "api", {}), _obj("v1", "Service", "api", {}, namespace="other")]
    (found,) = conflicts.duplicates(manifests)
    assert found.obj == "Deployment/ns/api" and "rendered 3 times" in found.message


def _svc(**spec) -> dict:
    return _obj("v1", "Service", "api", {"ports": [{"port": 80}], **spec})


def _pvc(storage="10Gi", **spec) -> dict:
    return _obj("v1", "PersistentVolumeClaim", "data", {"accessModes": ["ReadWriteOnce"],
                                                        "resources": {"requests": {"storage": storage}},
                                                        **spec})


def _sts(**spec) -> dict:
    base = {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": {},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {
                "requests": {"storage": "1Gi"}}}}]}
    base.update(spec)
    return _obj("apps/v1", "StatefulSet", "db", base)


def _job(image: str = "m:1") -> dict:
    return _obj("batch/v1", "Job", "migrate", {"template": {"spec": {"containers": [
        {"name": "m", "image": image}]}}})


@pytest.mark.parametrize("old, new, field", [
    # apps: pkg/registry/apps/deployment/strategy.go ValidateUpdate (selector immutable in apps/v1)
    (_deploy(), _deploy(selector={"matchLabels": {"app": "api", "tier": "web"}}), "spec.selector"),
    (_deploy(), _deploy(replicas=4), None),
    # apps validation.go ValidateDaemonSetUpdate
    (_deploy() | {"kind": "DaemonSet"},
     _deploy(selector={"matchLabels": {"app": "x"}}) | {"kind": "DaemonSet"}, "spec.selector"),
    # apps validation.go ValidateStatefulSetUpdate: only replicas, ordinals, template,
    # updateStrategy, persistentVolumeClaimRetentionPolicy, minReadySeconds may change
    (_sts(), _sts(volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {"resources": {
        "requests": {"storage": "2Gi"}}}}]), "spec.volumeClaimTemplates"),
    (_sts(), _sts(serviceName="db-headless"), "spec.serviceName"),
    (_sts(), _sts(podManagementPolicy="Parallel"), "spec.podManagementPolicy"),
    (_sts(), _sts(replicas=3, template={"metadata": {"labels": {"v": "2"}}}), None),
    # batch validation.go ValidateJobSpecUpdate: the pod template of a Job is immutable
    (_job("m:1"), _job("m:2"), "spec.template"),
    (_job("m:1"), _job("m:1"), None),
    # core validation.go ValidateServiceUpdate: clusterIP(s) may not change once set
    (_svc(), _svc(clusterIP="None"), "spec.clusterIP"),  # allocated address -> headless
    (_svc(clusterIP="10.0.0.1"), _svc(clusterIP="10.0.0.2"), "spec.clusterIP"),
    (_svc(clusterIP="None"), _svc(clusterIP="None"), None),
    (_svc(), _svc(type="ExternalName", externalName="db.example.test"), None),  # IP dropped
    (_svc(), _svc(type="ExternalName", externalName="db.example.test", clusterIP="10.0.0.9"),
     "spec.type"),
    (_svc(type="NodePort"), _svc(type="LoadBalancer"), None),
    # core validation.go ValidatePersistentVolumeClaimUpdate: spec immutable but requests; grow only
    (_pvc("10Gi"), _pvc("20Gi"), None),
    (_pvc("10Gi"), _pvc("5Gi"), "spec"),
    (_pvc(storageClassName="standard"), _pvc(storageClassName="fast"), "spec"),
])
def test_immutable_fields(old, new, field):
    """One row per update rule of the API server (sources in conflicts.RULES, cited per row)."""
    found = conflicts.refused_updates([old], [new])
    assert [f.field for f in found] == ([field] if field else [])
    assert all(f.rule for f in found)


def test_hooks_and_replaced_objects_are_recreated_not_updated():
    """Argo CD deletes and recreates hooks (resource_hooks) and Replace=true/Force=true objects."""
    hook = _job("m:2")
    hook["metadata"]["annotations"] = {"helm.sh/hook": "pre-upgrade"}
    assert conflicts.refused_updates([_job("m:1")], [hook]) == []
    forced = _job("m:2")
    forced["metadata"]["annotations"] = {"argocd.argoproj.io/sync-options": "Force=true,Replace=true"}
    assert conflicts.refused_updates([_job("m:1")], [forced]) == []


def test_objects_only_on_one_side_are_never_refused():
    assert conflicts.refused_updates([_deploy()], [_svc()]) == []
    assert conflicts.quantity("1.5Gi") == 1.5 * 2**30 and conflicts.quantity("x") is None


@pytest.mark.parametrize("candidate, running, older", [
    ("1.2.1", "1.3.0", True), ("v1.3.0", "1.3.0", False), ("1.10.0", "1.9.0", False),
    ("2.0.0-rc.1", "2.0.0", True), ("2.0.0", "2.0.0-rc.1", False), ("2.0.0-rc.2", "2.0.0-rc.10", True),
    ("latest", "1.0.0", None), ("1.2", "1.2.0", False),
])
def test_semver_order(candidate, running, older):
    """https://semver.org/#spec-item-11: numeric fields, a pre-release below its release."""
    assert backwards.older(candidate, running) is older


def _with_image(image: str, chart: str = "app-1.3.0", env=("A", "B")) -> dict:
    obj = _deploy(template={"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [
        {"name": "api", "image": image, "env": [{"name": n, "value": "1"} for n in env]}]}})
    obj["metadata"]["labels"] = {"helm.sh/chart": chart}
    return obj


def test_image_and_chart_going_back_and_what_the_change_removes():
    running = [_with_image("r.test/app/api:1.3.0")]
    candidate = [_with_image("r.test/app/api:1.2.1", chart="app-1.2.0", env=("A",))]
    found = backwards.going_back(running, candidate)
    assert [(b.running, b.candidate) for b in found] == [("1.3.0", "1.2.1"), ("1.3.0", "1.2.0")]
    assert found[0].message == ("image tag goes back from 1.3.0 (running) to 1.2.1: "
                                "Deployment/api api (r.test/app/api)")
    removed = backwards.removed_keys({"api": {"tag": "1.3.0", "search": {"url": "x"}}},
                                     {"api": {"tag": "1.2.1"}}, running, candidate)
    assert removed == ["api.search.url", "env B"]
    assert backwards.going_back(candidate, running) == []


def test_commit_tags_go_back_by_ancestry():
    running = [_with_image("r.test/app/api:bbbbbbb")]
    candidate = [_with_image("r.test/app/api:aaaaaaa")]
    assert backwards.going_back(running, candidate, lambda a, b: (a, b) == ("aaaaaaa", "bbbbbbb"))
    assert not backwards.going_back(running, candidate, lambda a, b: None)
    assert backwards.charts([_with_image("i", chart="my-chart-2.0.0-rc.1")]) == {"my-chart": "2.0.0-rc.1"}


def _probed(port, ports=({"name": "http", "containerPort": 8000},), path="/health") -> list[dict]:
    return [_deploy(template={"metadata": {}, "spec": {"containers": [
        {"name": "api", "image": "i", "ports": list(ports),
         "readinessProbe": {"httpGet": {"path": path, "port": port}}}]}})]


@pytest.mark.parametrize("port, severity", [
    ("http", None), (8000, None), ("8000", None),
    ("web", "block"),  # the kubelet finds no port of that name: the probe always fails
    (9000, "warn"),  # probed anyway; only undeclared
])
def test_probe_ports(port, severity):
    """pkg/kubelet/prober/prober.go: a named port is looked up among the container's ports
    (findPortByName, "couldn't find port"); a number is used as given."""
    (probe,) = probes.http_probes(_probed(port))
    found = probes.port_problem(probe)
    assert (found[0] if found else None) == severity


FASTAPI = {
    "svc/app/main.py": (
        "from fastapi import FastAPI\nfrom .routers import health\nfrom .api import router as api_router\n"
        "app = FastAPI()\n"
        "@app.get('/__lbheartbeat__')\ndef hb(): ...\n"
        "app.include_router(health.router)\napp.include_router(api_router, prefix='/api')\n"
        "app.add_api_route('/version', lambda: 1)\n"),
    "svc/app/routers/__init__.py": "",
    "svc/app/routers/health.py": ("from fastapi import APIRouter\nrouter = APIRouter(prefix='/ops')\n"
                                  "@router.get('/ready')\nasync def ready(): ...\n"),
    "svc/app/api.py": ("from fastapi import APIRouter\nrouter = APIRouter()\n"
                       "@router.get('/items/{item_id}')\ndef item(item_id: int): ...\n"),
}
FLASK = {"web/wsgi.py": ("from flask import Flask, Blueprint\napp = Flask(__name__)\n"
                         "bp = Blueprint('ops', __name__, url_prefix='/ops')\n"
                         "@bp.route('/healthcheck')\ndef hc(): ...\n"
                         "@app.route('/users/<int:uid>')\ndef user(uid): ...\n"
                         "app.register_blueprint(bp)\napp.add_url_rule('/', 'index', lambda: 'x')\n")}


DJANGO = {"site/site/urls.py": ("from django.urls import include, path\nfrom . import views\n"
                                 "urlpatterns = [path('healthz/', views.health),\n"
                                 "               path('api/', include('api.urls'))]\n"),
          "site/api/urls.py": ("from django.urls import path\n"
                               "urlpatterns = [path('items/<int:pk>/', v)]\n")}


@pytest.mark.parametrize("files, path, obj, probe, served", [
    (DJANGO, "site/site/urls.py", "urlpatterns", "/healthz", True),  # APPEND_SLASH redirects: success
    (DJANGO, "site/site/urls.py", "urlpatterns", "/api/items/4/", True),
    (DJANGO, "site/site/urls.py", "urlpatterns", "/health", False),
    (FASTAPI, "svc/app/main.py", "app", "/__lbheartbeat__", True),
    (FASTAPI, "svc/app/main.py", "app", "/health", False),  # the field trial: /health vs /__lbheartbeat__
    (FASTAPI, "svc/app/main.py", "app", "/ops/ready", True),
    (FASTAPI, "svc/app/main.py", "app", "/api/items/3", True),
    (FASTAPI, "svc/app/main.py", "app", "/version?x=1", True),
    (FLASK, "web/wsgi.py", "app", "/ops/healthcheck", True),
    (FLASK, "web/wsgi.py", "app", "/healthcheck", False),  # the route the older release lacks
    (FLASK, "web/wsgi.py", "app", "/users/7", True),
    (FLASK, "web/wsgi.py", "app", "/", True),
])
def test_routes_of_fastapi_and_flask_apps(files, path, obj, probe, served):
    """Routes as FastAPI (APIRouter prefix + include_router prefix), Starlette and Flask
    (Blueprint url_prefix, <converter:name>) register them."""
    found = routes.app_routes(files.get, path, obj)
    assert found.resolved, found.unresolved
    assert routes.serves(found.paths, probe) is served
    (p,) = probes.http_probes(_probed("http", path=probe))
    assert (probes.route_problem(p, found.paths) is None) is served


@pytest.mark.parametrize("source, why", [
    ("from fastapi import FastAPI\nfrom elsewhere import r\napp = FastAPI()\napp.include_router(r)\n",
     "router r cannot be read"),
    ("from fastapi import FastAPI\napp = FastAPI()\nP = '/x'\n@app.get(P)\ndef f(): ...\n", "not a literal"),
    ("from fastapi import FastAPI\napp = FastAPI()\napp.mount('/static', other)\n", "mounted app"),
    ("app = make_app()\n", "no `app = FastAPI(...)`"),
])
def test_routes_that_cannot_be_resolved_are_not_judged(source, why):
    found = routes.app_routes({"m.py": source}.get, "m.py", "app")
    assert not found.resolved and why in found.unresolved[0]


def test_django_re_path_is_not_judged():
    source = "from django.urls import re_path\nurlpatterns = [re_path(r'^h/$', v)]\n"
    found = routes.app_routes({"u.py": source}.get, "u.py", "urlpatterns")
    assert not found.resolved and "re_path" in found.unresolved[0]


def test_starlette_routes_list():
    source = ("from starlette.applications import Starlette\nfrom starlette.routing import Route\n"
              "app = Starlette(routes=[Route('/healthz', h), Route('/', home)])\n")
    found = routes.app_routes({"m.py": source}.get, "m.py", "app")
    assert found.resolved and found.paths == {"/healthz", "/"}


def test_rules_do_not_alter_their_input():
    old, new = _sts(), _sts(serviceName="other")
    frozen = copy.deepcopy((old, new))
    conflicts.refused_updates([old], [new])
    assert (old, new) == frozen


def test_a_refused_update_leaves_the_old_object_running():
    """The sweep compares the next commit with what the cluster holds: a refused object's old version."""
    old, new = [_deploy(), _svc()], [_deploy(selector={"matchLabels": {"app": "x"}}), _svc(type="NodePort")]
    held = conflicts.applied(old, new)
    assert held[0] is old[0] and held[1] is new[1]


def test_an_object_of_two_merged_documents_is_recognised():
    """Helm's SplitManifests splits on `---` even when a trimmed template line follows it."""
    merged = _obj("v1", "ConfigMap", "c", None) | {"---kind": "ConfigMap"}
    assert openapi.merged_documents(merged) and not openapi.merged_documents(_obj("v1", "ConfigMap"))
