"""The monitoring that ships with aipsync: ``deploy/prometheus/`` and ``deploy/grafana/``.

- The alerting rules pass ``promtool check rules`` and their unit tests (``promtool test
  rules``, a firing and a quiet case per alert), and a rule made wrong fails those tests.
  promtool comes from Debian's ``prometheus`` package (``.ci/run`` installs it).
- The dashboard is valid against Grafana's JSON schemas (the dashboard model, the Prometheus
  query, the Stat and Time series panels' options; vendored in
  ``tests/fixtures/grafana-schema/``), imports anywhere (its one data source is the
  ``${DS_PROMETHEUS}`` input that Grafana's import asks for), and each of its queries is
  PromQL that promtool parses.
- Every ``aipsync_*`` metric the rules and the dashboard name is served by a running daemon
  (``python -m daemon daemon`` as a subprocess, scraped over HTTP on 127.0.0.1), and every
  metric the daemon serves is documented in the metrics module's table.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from helpers import free_port, run_console, wait_for
from prometheus_client.parser import text_string_to_metric_families
from service_support import REPO_ROOT, BackupEnv

from daemon.service import metrics as metrics_module

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "aipsync-rules.yml"
RULES_TEST = PROMETHEUS_DIR / "aipsync-rules.test.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "aipsync.json"
SCHEMAS = REPO_ROOT / "tests" / "fixtures" / "grafana-schema"

#: The data source every panel, query and variable uses: the import input, never a fixed uid.
DS_INPUT = "DS_PROMETHEUS"
DATASOURCE = {"type": "prometheus", "uid": "${" + DS_INPUT + "}"}
#: Keys of a dashboard exported "for sharing externally": what Grafana's import reads (the
#: inputs it asks for, the plugins needed); not part of the dashboard model itself.
SHARING_KEYS = ("__inputs", "__requires", "__elements")
#: Grafana's grid: 24 columns.  A dashboard uid: 1 to 40 letters, digits, '-' or '_'.
GRID_COLUMNS = 24
UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
SEVERITIES = {"critical", "warning"}


# --- promtool ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or ("/usr/bin/promtool"
                                         if Path("/usr/bin/promtool").exists() else None)
    if found is None:
        pytest.skip("promtool not found: it ships in Debian's `prometheus` package "
                    "(apt-get install prometheus; .ci/run installs it)")
    return found


def run_promtool(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]
            if "alert" in rule]


def test_promtool_checks_the_rules(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", RULES.name, cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout, result.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = run_promtool(promtool, "test", "rules", RULES_TEST.name, cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


@pytest.mark.parametrize(("alert", "old", "new"), [
    ("AipsyncRecoveryPointStale", "> 2 * aipsync_schedule_interval_seconds",
     "> 3 * aipsync_schedule_interval_seconds"),
    ("AipsyncAuditFoundDamage", "aipsync_audit_failures > 0", "aipsync_audit_failures > 5"),
    ("AipsyncDown", 'up{job="aipsync"} == 0', "up == 0"),
])
def test_a_wrong_rule_fails_the_unit_tests(promtool: str, tmp_path: Path, alert: str,
                                           old: str, new: str) -> None:
    """The unit tests can fail: a copy of the rules with one threshold or matcher changed."""
    text = RULES.read_text()
    assert text.count(old) == 1, old
    (tmp_path / RULES.name).write_text(text.replace(old, new))
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    result = run_promtool(promtool, "test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert result.returncode != 0, f"changing {alert} went unnoticed"
    assert f"alertname: {alert}" in result.stdout + result.stderr


def test_every_alert_is_labelled_annotated_and_tested_both_ways() -> None:
    tests = load_yaml(RULES_TEST)
    assert tests["rule_files"] == [RULES.name]
    cases: dict[str, list[list[Any]]] = {}
    for group in tests["tests"]:
        for case in group.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], []).append(case.get("exp_alerts") or [])
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), names
    assert set(cases) <= set(names), f"tests for unknown alerts: {set(cases) - set(names)}"
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert {"summary", "description"} <= set(rule["annotations"]), name
        assert all(rule["annotations"][k].strip() for k in ("summary", "description")), name
        outcomes = cases.get(name, [])
        assert any(outcomes), f"{name}: no case where it fires"
        assert any(not expected for expected in outcomes), f"{name}: no case where it is quiet"
        for expected in outcomes:
            for alert in expected:  # a firing case states what the alert carries
                assert alert["exp_labels"]["severity"] == rule["labels"]["severity"], name
                assert set(alert["exp_annotations"]) == set(rule["annotations"]), name


# --- the dashboard ----------------------------------------------------------------------------
#: Where the generated schema is stricter than the dashboard kind it is generated from: the
#: kind declares an override's matcher options and property value as any value (CUE's ``_``),
#: which Grafana writes as strings and numbers (``{"id": "byFrameRefID", "options": "B"}``);
#: the generator turned both into objects.  Loosened here, the vendored file left unchanged.
ANY_VALUE = (("MatcherConfig", "options"), ("DynamicConfigValue", "value"))


def load_schema(name: str, definition: str | None = None) -> jsonschema.protocols.Validator:
    """A validator for Grafana's schema ``name`` (or one of its definitions)."""
    schema = json.loads((SCHEMAS / f"{name}.jsonschema.json").read_text())
    if name == "dashboard":
        for where, prop in ANY_VALUE:
            assert schema["definitions"][where]["properties"][prop]["type"] == "object"
            schema["definitions"][where]["properties"][prop] = {}
    if definition is not None:
        schema = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def schema_problems(dashboard: dict[str, Any]) -> list[str]:
    """What Grafana's schemas say is wrong with ``dashboard`` (empty: nothing)."""
    problems: list[str] = []

    def check(validator: jsonschema.protocols.Validator, doc: Any, where: str) -> None:
        for found in validator.iter_errors(doc):
            # "valid under none of anyOf": say why for the closest one
            error = jsonschema.exceptions.best_match(found.context) if found.context else found
            path = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{where}/{path}: {error.message}")

    model = {k: v for k, v in dashboard.items() if k not in SHARING_KEYS}
    check(load_schema("dashboard"), model, "dashboard")
    query = load_schema("prometheus")
    plugins = {"stat": (load_schema("stat", "Options"), None),
               "timeseries": (load_schema("timeseries", "Options"),
                              load_schema("timeseries", "FieldConfig"))}
    for panel in panels(dashboard):
        where = f"panel {panel.get('id')} ({panel.get('title')!r})"
        if panel.get("type") == "row":
            continue
        if panel.get("type") not in plugins:
            problems.append(f"{where}: panel type {panel.get('type')!r} has no vendored schema")
            continue
        options, custom = plugins[panel["type"]]
        check(options, panel.get("options", {}), f"{where}/options")
        field_custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
        if custom is not None:
            check(custom, field_custom, f"{where}/fieldConfig/defaults/custom")
        elif field_custom:
            problems.append(f"{where}: {panel['type']} panels take no custom field config")
        for target in panel.get("targets", []):
            check(query, target, f"{where}/targets/{target.get('refId')}")
    return problems


def model_problems(dashboard: dict[str, Any]) -> list[str]:
    """What the schemas leave optional but an importable dashboard of ours must have."""
    problems: list[str] = []
    for key in ("title", "uid", "panels", "schemaVersion", "templating", "annotations"):
        if key not in dashboard:
            problems.append(f"dashboard: no {key!r}")
    if not UID_RE.match(str(dashboard.get("uid", ""))):
        problems.append(f"dashboard: uid {dashboard.get('uid')!r} is not 1-40 of [A-Za-z0-9_-]")
    inputs = dashboard.get("__inputs", [])
    if [(i.get("name"), i.get("type"), i.get("pluginId")) for i in inputs] != [
            (DS_INPUT, "datasource", "prometheus")]:
        problems.append(f"__inputs: expected the one data source input {DS_INPUT}: {inputs}")
    required = {(r.get("type"), r.get("id")) for r in dashboard.get("__requires", [])}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("datasource") != DATASOURCE:
            problems.append(f"variable {variable.get('name')}: data source is not the input")
    ids: set[int] = set()
    cells: dict[tuple[int, int], int] = {}
    for panel in panels(dashboard):
        pid, kind = panel.get("id"), panel.get("type")
        where = f"panel {pid} ({panel.get('title')!r})"
        if not isinstance(pid, int) or pid in ids:
            problems.append(f"{where}: id missing or not unique")
        ids.add(pid if isinstance(pid, int) else -1)
        if not panel.get("title"):
            problems.append(f"{where}: no title")
        pos = panel.get("gridPos") or {}
        if set(pos) < {"h", "w", "x", "y"}:
            problems.append(f"{where}: gridPos needs h, w, x, y: {pos}")
            continue
        if pos["x"] + pos["w"] > GRID_COLUMNS:
            problems.append(f"{where}: wider than the grid's {GRID_COLUMNS} columns")
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                other = cells.setdefault((x, y), pid)
                if other != pid and f"{where}: overlaps panel {other}" not in problems:
                    problems.append(f"{where}: overlaps panel {other}")
        if kind == "row":
            continue
        if ("panel", kind) not in required:
            problems.append(f"{where}: panel type {kind!r} missing from __requires")
        if panel.get("datasource") != DATASOURCE:
            problems.append(f"{where}: data source is not the {DS_INPUT} input")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no query")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            problems.append(f"{where}: refIds missing or repeated: {refs}")
        for target in targets:
            if not str(target.get("expr", "")).strip():
                problems.append(f"{where}/{target.get('refId')}: no expr")
            if target.get("datasource", DATASOURCE) != DATASOURCE:
                problems.append(f"{where}/{target.get('refId')}: data source is not the input")
    return problems


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


#: Grafana's variables in the queries, as a Prometheus would get them (all jobs and instances).
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": ".*", "$instance": ".*"}


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each panel's query, its variables filled in, as a recording rule ``promtool`` parses."""
    rules = []
    for panel in panels(dashboard()):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"panel {panel['title']!r}: an unknown variable in {expr}"
            rules.append({"record": f"dashboard:panel{panel['id']}:{target['refId']}",
                          "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool(promtool, "check", "rules", path.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout, result.stdout


def test_the_dashboard_is_valid_against_grafanas_schemas() -> None:
    doc = dashboard()
    assert schema_problems(doc) == []
    assert model_problems(doc) == []
    assert sum(1 for p in panels(doc) if p["type"] != "row") >= 10


def breakages() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """One thing wrong each, in a copy of the dashboard, with what the checks must say."""
    base = dashboard()
    first = next(p for p in base["panels"] if p["type"] == "stat")
    index = base["panels"].index(first)

    def changed(edit: Any) -> dict[str, Any]:
        doc = copy.deepcopy(base)
        edit(doc, doc["panels"][index])
        return doc

    yield ("schemaVersion missing", "'schemaVersion' is a required property",
           changed(lambda d, p: d.pop("schemaVersion")))
    yield "panel type missing", "'type' is a required property", changed(lambda d, p: p.pop("type"))
    yield "gridPos without h", "gridPos needs h, w, x, y", changed(
        lambda d, p: p["gridPos"].pop("h"))
    yield "a query without expr", "'expr' is a required property", changed(
        lambda d, p: p["targets"][0].pop("expr"))
    yield "an unknown stat option", "'sparkline' was unexpected", changed(
        lambda d, p: p["options"].update(sparkline=True))
    yield "a fixed data source uid", "data source is not the DS_PROMETHEUS input", changed(
        lambda d, p: p.update(datasource={"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}))
    yield "overlapping panels", "overlaps panel", changed(lambda d, p: p["gridPos"].update(x=4))
    yield "no data source input", "__inputs: expected the one data source input", changed(
        lambda d, p: d.pop("__inputs"))


@pytest.mark.parametrize(("what", "expected", "doc"), list(breakages()),
                         ids=[b[0] for b in breakages()])
def test_the_dashboard_checks_catch_a_broken_dashboard(what: str, expected: str,
                                                       doc: dict[str, Any]) -> None:
    problems = schema_problems(doc) + model_problems(doc)
    assert any(expected in problem for problem in problems), (what, problems)


# --- the metric names, against a running daemon -----------------------------------------------
#: Series a histogram or summary family is served as.
SUFFIXES = ("_bucket", "_sum", "_count")
METRIC_RE = re.compile(r"\baipsync_[a-z0-9_]+")
STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'" + r"|`[^`]*`")


def promql_names(expr: str) -> set[str]:
    """The ``aipsync_*`` metric names a PromQL expression reads (quoted text is ignored: a
    label value is not a metric)."""
    return set(METRIC_RE.findall(STRING_RE.sub('""', expr)))


def test_the_promql_name_extractor() -> None:
    assert promql_names('sum by (stage) (increase(aipsync_failures_total{stage=~"cycle"}[1h]))'
                        ' / on(instance) aipsync_up') == {"aipsync_failures_total", "aipsync_up"}
    assert promql_names('up{job="aipsync_x"} + absent(aipsync_a_bucket{le="0.5"})') == {
        "aipsync_a_bucket"}
    assert promql_names("label_values(aipsync_up{job=~\"$job\"}, instance)") == {"aipsync_up"}


def names_in_assets() -> dict[str, set[str]]:
    """Each ``aipsync_*`` name the rules and the dashboard query, with where it is used."""
    used: dict[str, set[str]] = {}
    for rule in alert_rules():
        for name in promql_names(rule["expr"]):
            used.setdefault(name, set()).add(f"rule {rule['alert']}")
    doc = dashboard()
    for panel in panels(doc):
        for target in panel.get("targets", []):
            for name in promql_names(target["expr"]):
                used.setdefault(name, set()).add(f"panel {panel['title']!r}")
    for variable in doc["templating"]["list"]:
        for name in promql_names(str(variable.get("query", ""))):
            used.setdefault(name, set()).add(f"variable {variable['name']}")
    return used


def documented_names() -> list[str]:
    """The names in the metrics module's docstring table (``aipsync_x{labels}``)."""
    return re.findall(r"^``(aipsync_[a-z0-9_]+)(?:\{[^}]*\})?``", metrics_module.__doc__ or "",
                      re.MULTILINE)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
        return text


def has_sample(port: int, name: str) -> bool:
    try:
        text = scrape(port)
    except OSError:
        return False
    return any(line.startswith(name + " ") or line.startswith(name + "{")
               for line in text.splitlines())


def test_every_metric_the_assets_name_is_served_by_a_running_daemon(folder_env: BackupEnv,
                                                                   tmp_path: Path) -> None:
    port = free_port()
    config = folder_env.write_config(metrics={"enabled": True, "port": port})
    env = folder_env.subprocess_env()
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "daemon", "daemon", "--config",
                                 str(config)], cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
    try:
        # the first cycle runs at start-up (none ever succeeded); then an audit, so that the
        # gauges read from the state database all have a value
        wait_for(lambda: proc.poll() is not None
                 or has_sample(port, "aipsync_snapshot_age_seconds"),
                 timeout=120, what="the daemon's first snapshot in its metrics")
        assert proc.poll() is None, log_path.read_text()
        run_console("verify", "--config", str(config), expect=0, env=env)
        text = scrape(port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    families = list(text_string_to_metric_families(text))
    samples = {s.name for f in families for s in f.samples}
    kinds = {f.name: f.type for f in families}

    def served(name: str) -> bool:
        if name in samples:
            return True
        base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), None)
        return base is not None and kinds.get(base) in ("histogram", "summary")

    used = names_in_assets()
    assert {"aipsync_snapshot_age_seconds", "aipsync_schedule_interval_seconds",
            "aipsync_failed_uploads", "aipsync_audit_failures", "aipsync_up"} <= set(used)
    missing = {name: sorted(where) for name, where in used.items() if not served(name)}
    assert missing == {}, f"named in deploy/ but not served: {missing}"

    # the other way: each family the daemon serves is in the module's table and METRIC_NAMES
    # (a counter's ``_created`` series is prometheus-client's companion of that counter)
    documented = documented_names()
    assert documented == list(metrics_module.METRIC_NAMES)
    counters = {s.name for f in families if f.type == "counter" for s in f.samples
                if s.name.endswith("_total")}
    own = {s.name for f in families for s in f.samples if s.name.startswith("aipsync_")}
    undocumented = {n for n in own if n not in documented
                    and not (n.endswith("_created") and n[: -len("_created")] + "_total"
                             in counters)}
    assert undocumented == set(), "served but not in the metrics module's table"
    assert set(documented) <= own, f"documented but not served: {set(documented) - own}"
