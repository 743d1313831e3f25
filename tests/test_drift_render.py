"""drift.json/md/html from records: schema, baseline comparison, self-contained HTML."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from releasegate.drift import causes, document as dr, markdown as drift_md, page as drift_page

SCHEMA = json.loads((Path(dr.__file__).parent / "drift_schema.json").read_text())
DAY1 = datetime(2026, 11, 20, 3, 0, tzinfo=timezone.utc)
DAY2 = datetime(2026, 11, 27, 3, 15, tzinfo=timezone.utc)
META = {"envs": ["echo-next", "production", "testing"],
        "refs": {"app": {"ref": "main", "commit": "0123456789abcdef0123456789abcdef01234567"},
                 "gitops": "main"},
        "duration": 42.5, "version": "0.1.0", "started_at": "2026-11-27T03:14:17Z"}


def rec(check, env, item, outcome="failed", severity="blocker", message="", **details):
    """A record as releasegate.report produces it."""
    return {"check": check, "environment": env, "item": item, "outcome": outcome,
            "severity": severity, "message": message, "details": details,
            "nodeid": f"checks/test_x.py::{check}[{env}-{item}]", "duration": 0.01}


def passed(check, env, item):
    return rec(check, env, item, outcome="passed", severity=None, message=None)


RUN1 = [
    rec("test_image_present", "production", "agent", message="agent image tag abc missing",
        tag="abc"),
    rec("test_settings_required", "production", "SEARCH_URL",
        message="SEARCH_URL is required on main but production does not set it"),
    rec("test_flags", "production", "FEATURE_FLAGS__AGENT_LOOPS", outcome="passed",
        severity="warning", message="flag on in production, off in echo-next"),
    rec("test_cert", "production", "portal", message="certificate expires in 3 days"),
    passed("test_image_present", "echo-next", "agent"),
    passed("test_image_present", "testing", "agent"),
    passed("test_cert", "testing", "portal"),
]

# Next week: the image blocker is fixed, the settings message is reworded, the cert check did
# not run for production (skipped: no CA configured), a new error appeared on testing.
RUN2 = [
    passed("test_image_present", "production", "agent"),
    rec("test_settings_required", "production", "SEARCH_URL",
        message="production lacks SEARCH_URL (required by SearchSettings on main)"),
    rec("test_flags", "production", "FEATURE_FLAGS__AGENT_LOOPS", outcome="passed",
        severity="warning", message="flag on in production, off in echo-next"),
    rec("test_cert", "production", "portal", outcome="skipped", severity=None,
        message="network.ca_file is not set"),
    rec("test_cert", "testing", "portal", outcome="error", severity="error",
        message="testing: https://portal.testing.demo.test unreachable: timed out"),
    passed("test_image_present", "echo-next", "agent"),
    passed("test_image_present", "testing", "agent"),
]


@pytest.fixture
def day1():
    return dr.build(RUN1, META, None, DAY1)


@pytest.fixture
def day2(day1):
    return dr.build(RUN2, META, day1, DAY2, baseline_path="reports/drift/drift.json")


def by_check(entries):
    return {(e["check"], e["environment"]): e for e in entries}


def test_json_matches_schema(day1, day2):
    for doc in (day1, day2):
        jsonschema.validate(json.loads(dr.to_json(doc)), SCHEMA)


def test_schema_rejects_a_finding_without_first_seen(day1):
    broken = json.loads(dr.to_json(day1))
    del broken["findings"][0]["first_seen"]
    with pytest.raises(jsonschema.ValidationError, match="first_seen"):
        jsonschema.validate(broken, SCHEMA)


def test_first_run_everything_new(day1):
    assert [f["status"] for f in day1["findings"]] == ["new"] * 4
    assert {f["first_seen"] for f in day1["findings"]} == {"2026-11-20"}
    assert day1["summary"]["by_category"] == {"blocker": 3, "error": 0, "warning": 1, "waived": 0}
    assert day1["baseline"] is None
    image = by_check(day1["findings"])[("test_image_present", "production")]
    assert image["details"] == {"tag": "abc"}
    assert image["item"] == "agent" and image["severity"] == "blocker"


def test_second_run_new_persisting_resolved(day2):
    found = by_check(day2["findings"])
    assert set(found) == {("test_settings_required", "production"), ("test_flags", "production"),
                          ("test_cert", "testing")}
    assert found[("test_cert", "testing")]["status"] == "new"
    assert found[("test_cert", "testing")]["first_seen"] == "2026-11-27"
    flags = found[("test_flags", "production")]
    assert (flags["status"], flags["first_seen"], flags["age_days"]) == (
        "persisting", "2026-11-20", 7)
    resolved = by_check(day2["resolved"])
    assert list(resolved) == [("test_image_present", "production")]
    assert resolved[("test_image_present", "production")]["resolved_on"] == "2026-11-27"
    assert resolved[("test_image_present", "production")]["first_seen"] == "2026-11-20"
    assert day2["summary"]["new"] == 1 and day2["summary"]["new_actionable"] == 1
    assert day2["summary"]["persisting"] == 2 and day2["summary"]["resolved"] == 1
    assert day2["baseline"] == {"path": "reports/drift/drift.json",
                                "generated_at": "2026-11-20T03:00:00Z"}


def test_identity_survives_reworded_message(day2):
    settings = by_check(day2["findings"])[("test_settings_required", "production")]
    assert settings["status"] == "persisting"
    assert settings["first_seen"] == "2026-11-20" and settings["age_days"] == 7
    assert settings["message"].startswith("production lacks SEARCH_URL")
    assert settings["previous_message"] == (
        "SEARCH_URL is required on main but production does not set it")


def test_skipped_check_is_unchecked_not_resolved(day2):
    unchecked = by_check(day2["unchecked"])
    assert list(unchecked) == [("test_cert", "production")]
    assert unchecked[("test_cert", "production")]["first_seen"] == "2026-11-20"
    assert unchecked[("test_cert", "production")]["last_checked"] == "2026-11-20"
    assert ("test_cert", "production") not in by_check(day2["resolved"])


def test_unchecked_keeps_first_seen_when_it_comes_back(day2):
    day3 = dr.build(RUN1, META, day2, datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc))
    cert = by_check(day3["findings"])[("test_cert", "production")]
    assert (cert["status"], cert["first_seen"], cert["age_days"]) == ("persisting", "2026-11-20", 8)
    image = by_check(day3["findings"])[("test_image_present", "production")]
    assert (image["status"], image["first_seen"]) == ("new", "2026-11-28")  # came back: new again


def test_severity_change_keeps_identity():
    first = dr.build([rec("c", "prod", "x", outcome="passed", severity="warning", message="m")],
                     META, None, DAY1)
    second = dr.build([rec("c", "prod", "x", message="m")], META, first, DAY2)
    finding = second["findings"][0]
    assert (finding["status"], finding["severity"], finding["previous_severity"]) == (
        "persisting", "blocker", "warning")


def test_several_findings_of_one_item_pair_by_message_then_order():
    first = dr.build([rec("c", "prod", "x", message=m) for m in ("alpha", "beta")],
                     META, None, DAY1)
    second = dr.build([rec("c", "prod", "x", message=m) for m in ("beta", "gamma", "delta")],
                      META, first, DAY2)
    status = {f["message"]: (f["status"], f.get("previous_message")) for f in second["findings"]}
    assert status == {"beta": ("persisting", None), "gamma": ("persisting", "alpha"),
                      "delta": ("new", None)}
    assert len({f["id"] for f in second["findings"]}) == 3


def test_waived_finding_is_not_actionable():
    waiver = {"reason": "rotation", "expires": "2026-12-31", "expired": False}
    doc = dr.build([dict(rec("c", "prod", "x", outcome="xfailed", message="waived"), waiver=waiver),
                    dict(rec("c", "prod", "y", outcome="passed", severity="warning", message="w"),
                         waiver=waiver),
                    dict(rec("c", "prod", "z", message="expired waiver"),
                         waiver=dict(waiver, expired=True))], META, None, DAY1)
    jsonschema.validate(json.loads(dr.to_json(doc)), SCHEMA)
    assert [(f["item"], f["category"]) for f in doc["findings"]] == [
        ("z", "blocker"), ("x", "waived"), ("y", "waived")]
    assert doc["findings"][1]["waiver"] == waiver
    assert doc["summary"]["new"] == 3 and doc["summary"]["new_actionable"] == 1
    assert "waived (until 2026-12-31): rotation" in drift_page.render(doc)


def test_warning_in_a_failing_check_stays_a_warning():
    doc = dr.build([rec("c", "prod", "x", message="broken"),
                    rec("c", "prod", "y", severity="warning", message="odd")], META, None, DAY1)
    assert {f["item"]: f["category"] for f in doc["findings"]} == {"x": "blocker", "y": "warning"}


def test_matrix_has_every_environment_and_check(day2):
    mat = day2["matrix"]
    assert mat["environments"] == ["echo-next", "production", "testing"]
    assert mat["checks"] == ["test_cert", "test_flags", "test_image_present",
                             "test_settings_required"]
    assert len(mat["cells"]) == 12
    worst = {(c["environment"], c["check"]): c["worst"] for c in mat["cells"]}
    assert worst[("production", "test_settings_required")] == "blocker"
    assert worst[("production", "test_flags")] == "warning"
    assert worst[("testing", "test_cert")] == "error"
    assert worst[("production", "test_cert")] == "skipped"
    assert worst[("production", "test_image_present")] == "passed"
    assert worst[("echo-next", "test_cert")] is None


def test_markdown_is_short_and_names_what_changed(day2):
    md = drift_md.render_markdown(day2)
    assert md.startswith("## Drift report\n")
    assert ("1 blocker · 1 error · 1 warning · 0 waived · 1 new · 2 persisting · 1 resolved · "
            "1 unchecked") in md
    assert "| test_settings_required | · | 🔴 | · |" in md
    assert "### New since the baseline (1)" in md and "portal.testing.demo.test unreachable" in md
    assert "### Resolved (1)" in md and "agent image tag abc missing" in md
    assert "since 2026-11-20 (7d)" in md
    many = dr.build([rec("c", "prod", f"i{n:03}", message=f"m{n}") for n in range(300)],
                    META, None, DAY1)
    big = drift_md.render_markdown(many)
    assert "… and 290 more causes in drift.html" in big
    assert len(big.splitlines()) < 40


def test_markdown_escapes_table_breakers():
    doc = dr.build([rec("c", "prod", "x", message="a | b\nc <script>")], META, None, DAY1)
    md = drift_md.render_markdown(doc)
    assert "`a | b c <script>`" in md  # a code span: nothing in it is markup (issue 24)


class _Refs(HTMLParser):
    """Collect every attribute that could make the browser fetch something."""

    def __init__(self):
        super().__init__()
        self.refs, self.tags, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster", "data", "background"):
                self.refs.append((tag, name, value))


def test_html_is_self_contained(day2):
    page = drift_page.render(day2)
    parser = _Refs()
    parser.feed(page)
    assert parser.refs == []
    assert "link" not in parser.tags and "iframe" not in parser.tags and "img" not in parser.tags
    assert "url(" not in page and "@import" not in page
    assert "http://" not in page.lower()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_html_escapes_finding_text():
    doc = dr.build([rec("c", "prod", "x", message='<img src="http://evil.test/x">',
                        note="</script><script>alert(1)</script>")], META, None, DAY1)
    page = drift_page.render(doc)
    parser = _Refs()
    parser.feed(page)
    assert parser.refs == [] and parser.scripts == 1
    assert "&lt;img src=&quot;http://evil.test/x&quot;&gt;" in page


def test_html_carries_metadata_and_details(day2):
    page = drift_page.render(day2)
    assert "<code>app</code> = <code>main@0123456789ab</code>" in page
    assert "<code>gitops</code> = <code>main</code>" in page
    assert "42.5 s" in page and "0.1.0" in page
    assert page.count('<td class="cell ') == 12
    assert page.count("<details>") == 5  # 3 findings + 1 resolved + 1 unchecked


@pytest.mark.parametrize("doc, reason", [
    ([], "top level is not an object"),
    ({"schema_version": 99}, "schema_version 99 is not supported"),
    ({"schema_version": 1, "findings": "x"}, "'findings' must be a list"),
    ({"schema_version": 1, "findings": [{"check": "c", "environment": "e"}]}, "lacks first_seen"),
    ({"schema_version": 1, "findings": [{"check": "c", "environment": "e", "first_seen": "soon"}]},
     "'soon' is not a date"),
])
def test_bad_baseline_is_a_clear_error(doc, reason):
    with pytest.raises(dr.BaselineError, match=reason):
        dr.check_baseline(doc, "old.json")


def test_own_output_is_a_valid_baseline(day2):
    assert dr.check_baseline(json.loads(dr.to_json(day2))) is not None


def test_age_never_negative_with_clock_skew(day1):
    earlier = dr.compare(RUN1, day1, date(2026, 11, 19))
    assert {f["age_days"] for f in earlier["findings"]} == {0}


# ---------------------------------------------------------------------------------------------
# The morning page (issue 28 item 5): changes first, then root causes with file:line and full text

LONG_FIX = ("production: registry.demo.test/app/agut:0123456789ab... (full SHA; agent/agent) is not "
            "built for release tags v*.*.* or branch main: only testing.yml (on push to testing, "
            "tagged short SHA (7)) pushes it: add agent to the matrix of ci.yml, which builds "
            "release tags v*.*.* or branch main with full SHA tags")
SHA = "0123456789abcdef0123456789abcdef01234567"


def located(record, source, path, line, url=None):
    record["location"] = {"source": source, "path": path, "line": line, "commit": SHA,
                          **({"url": url} if url else {})}
    return record


def never_built_night():
    """One image never built breaks three checks; a settings blocker; a warning on the same var."""
    image = f"registry.demo.test/app/agent:{SHA}"
    return [
        located(rec("test_build_matrix_parity", "production", "registry.demo.test/app/agent",
                    message=LONG_FIX, repository="registry.demo.test/app/agent", tag=SHA),
                "app", ".github/workflows/ci.yml", 10,
                f"https://git.example.test/org/app/blob/{SHA}/.github/workflows/ci.yml#L10"),
        located(rec("test_image_present", "production", "agent-agent",
                    message=f"production: agent/agent image {image} is missing", image=image),
                "gitops", "helm/app/values-production.yaml", 3),
        rec("test_workload_healthy", "production", "agent",
            message="production: agent is waiting with ImagePullBackOff", image=image),
        rec("test_settings_boot", "production", "ENABLE_AUDIT_LOG",
            message="production: ENABLE_AUDIT_LOG='' fails", variable="ENABLE_AUDIT_LOG"),
        rec("test_env_cross_parity", "production", "ENABLE_AUDIT_LOG", outcome="passed",
            severity="warning", message="production: ENABLE_AUDIT_LOG empty"),
        rec("test_cert", "production", "portal", message="production: certificate expires"),
    ]


def test_one_image_never_built_is_one_group_listing_the_checks_it_breaks():
    doc = dr.build(never_built_night(), META, None, DAY1)
    groups = causes.group(doc["findings"])
    assert [(g["title"], len(g["members"])) for g in groups] == [
        ("image registry.demo.test/app/agent:0123456789ab…", 3),
        ("ENABLE_AUDIT_LOG in production", 2),
        ("test_cert portal in production", 1)]
    assert [m["check"] for m in groups[0]["members"]] == [
        "test_build_matrix_parity", "test_image_present", "test_workload_healthy"]
    assert groups[1]["category"] == "blocker" and groups[1]["environments"] == ["production"]


def test_page_and_markdown_keep_the_full_fix_with_its_file_and_line():
    doc = dr.build(never_built_night(), META, None, DAY1)
    jsonschema.validate(doc, SCHEMA)
    md = drift_md.render_markdown(doc)
    fix = LONG_FIX.removeprefix("production: ")
    assert len(fix) > 250 and fix in md  # no cut at 200 characters
    assert (f"[app:.github/workflows/ci.yml:10](<https://git.example.test/org/app/blob/{SHA}/"
            ".github/workflows/ci.yml#L10>)") in md
    assert "`gitops:helm/app/values-production.yaml:3`" in md
    assert md.index("### What to fix, by root cause (3)") < md.index("| check |") \
        < md.index("generated 2026-11-20")
    page = drift_page.render(doc)
    assert fix in page
    assert (f'<a class="where" href="https://git.example.test/org/app/blob/{SHA}/.github/workflows/'
            'ci.yml#L10" rel="noopener noreferrer">app:.github/workflows/ci.yml:10</a>') in page
    assert '<code class="where">gitops:helm/app/values-production.yaml:3</code>' in page
    assert page.index('id="causes"') < page.index('id="matrix"') < page.index('id="meta"')


def test_changes_open_the_page_new_blockers_first_then_resolved():
    night = never_built_night()
    first = dr.build(night[1:], META, None, DAY1)
    second = dr.build([*night[:-1], passed("test_cert", "production", "portal")], META, first,
                      DAY2, baseline_path="drift.json")
    new, resolved = causes.changes(second)
    assert [(f["check"], f["category"]) for f in new] == [("test_build_matrix_parity", "blocker")]
    assert [f["check"] for f in resolved] == ["test_cert"]
    md = drift_md.render_markdown(second)
    assert md.index("### New since the baseline (1)") < md.index("### Resolved (1)") \
        < md.index("### What to fix")
    page = drift_page.render(second)
    assert page.index('id="new"') < page.index('id="resolved"') < page.index('id="causes"')
    assert "No baseline" in drift_page.render(first) and causes.changes(first) == ([], [])


def test_environments_file_locations_read_by_file_name():
    assert causes.where_text({"source": None, "path": "/srv/conf/environments.yaml",
                              "line": 22}) == "environments.yaml:22"
    assert causes.where_text({"source": "app", "path": "a/b.py", "line": None}) == "app:a/b.py"
    assert causes.where_text(None) == ""
