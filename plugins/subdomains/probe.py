"""Subdomain probes: what to fetch per endpoint, fetching all of them at once, and judging each.

`Target` says what an endpoint must answer; `run(client, targets)` fetches every target
concurrently (one `timeout_s` bound each); `assess(target, exchange, policy)` turns one
exchange into findings, one per broken step, so a message says where it broke. `SessionProbe`
runs every target of the session once, on first use, and serves the cached results to the
per-item tests.

When the resolver itself fails (no nameserver answers, or every lookup of the run fails the same
way) no record is to blame: `resolver_failure()` says so, and the session reports it as one
ERROR naming the resolver, the other endpoints it kept from being checked skipping with a
pointer to it. A single name that does not resolve while others do stays a blocker naming it.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

import pytest

from releasegate.subdomains import nameserver
from releasegate.subdomains.addresses import resolver
from releasegate.subdomains.exchange import Exchange
from releasegate.subdomains.webclient import MAX_BODY, HttpClient, run_sync, setting

DEFAULT_BUDGET_MS = 2000.0
DEFAULT_CERT_WARNING_DAYS = 21.0
DEFAULT_CERT_BLOCKER_DAYS = 7.0
BLOCKER, WARNING = "blocker", "warning"

_TIMEOUT_WHAT = {
    "dns": "the DNS lookup hangs",
    "tcp": "TCP connect hangs: address black-holed or firewalled",
    "tls": "it accepts TCP but never completes the TLS handshake",
    "http": "TLS is up but no HTTP answer came",
}


@dataclass(frozen=True)
class Target:
    """One endpoint of one environment and what it must answer."""

    environment: str
    item: str
    url: str
    expect_status: int = 200
    expect_body: str | None = None
    expect_json: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    follow_redirects: bool = True
    budget_ms: float = DEFAULT_BUDGET_MS

    @property
    def key(self) -> tuple[str, str]:
        """(environment, item): how results are looked up."""
        return (self.environment, self.item)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or self.url


@dataclass(frozen=True)
class Policy:
    """Thresholds for certificate expiry (days)."""

    cert_warning_days: float = DEFAULT_CERT_WARNING_DAYS
    cert_blocker_days: float = DEFAULT_CERT_BLOCKER_DAYS


@dataclass(frozen=True)
class Finding:
    """One problem: severity, the step it belongs to, a one-line message, JSON-able details."""

    severity: str
    step: str
    message: str
    details: dict = field(default_factory=dict, hash=False, compare=False)


def target(environment: str, item: str, domain: str, subdomain: str, spec: Any = None,
           default_budget_ms: float = DEFAULT_BUDGET_MS) -> Target:
    """Build a Target from a subdomain entry (a dataclass or a mapping with the contract's keys)."""
    def get(key: str, default: Any = None) -> Any:
        value = spec.get(key) if isinstance(spec, Mapping) else getattr(spec, key, None)
        return default if value is None else value

    path = str(get("path", "/"))
    if not path.startswith("/"):
        path = "/" + path
    expect_json = tuple(
        (str(key), tuple(allowed) if isinstance(allowed, (list, tuple)) else (allowed,))
        for key, allowed in dict(get("expect_json", {}) or {}).items())
    return Target(
        environment=environment, item=item, url=f"https://{subdomain}.{domain}{path}",
        expect_status=int(get("expect_status", 200)), expect_body=get("expect_body"),
        expect_json=expect_json, follow_redirects=bool(get("follow_redirects", True)),
        budget_ms=float(get("budget_ms", default_budget_ms)))


def run(client: HttpClient, targets: Iterable[Target]) -> dict[tuple[str, str], Exchange]:
    """Fetch every target concurrently; returns {target.key: Exchange}."""
    targets = list(targets)
    exchanges = run_sync(client.gather([(t.url, t.follow_redirects) for t in targets]))
    return {t.key: ex for t, ex in zip(targets, exchanges)}


def policy(estate: Any) -> Policy:
    """Expiry thresholds from network.cert_warning_days / network.cert_blocker_days."""
    return Policy(float(setting(estate, "cert_warning_days", DEFAULT_CERT_WARNING_DAYS)),
                  float(setting(estate, "cert_blocker_days", DEFAULT_CERT_BLOCKER_DAYS)))


def subdomain_targets(estate: Any, env: Any) -> list[tuple[str, Target]]:
    """(subdomain name, Target) for every subdomain of an environment (no network)."""
    if not env.domain:
        return []
    budget = float(setting(estate, "budget_ms", DEFAULT_BUDGET_MS))
    return [(name, target(env.name, name, env.domain, name, spec, budget))
            for name, spec in env.subdomains.items()]


def version_target(estate: Any, env: Any) -> Target | None:
    """The endpoint that tells which build an environment serves, if it declares one."""
    spec = env.version
    if spec is None or not env.domain:
        return None
    budget = float(setting(estate, "budget_ms", DEFAULT_BUDGET_MS))
    return target(env.name, f"{spec.subdomain}@version", env.domain, spec.subdomain,
                  {"path": spec.path}, budget)


_LOOKUP_FAILURES = frozenset({"not-found", "resolver", "timeout"})


def _lookup_failed(ex: Exchange) -> bool:
    return ex.failure is not None and ex.failure.step == "dns" \
        and ex.failure.kind in _LOOKUP_FAILURES


def _looked_up(ex: Exchange) -> bool:
    """The exchange asked the resolver and got an address (a network.resolve pin asks nobody)."""
    return any(s.name == "dns" and s.ok and not s.detail.endswith("(network.resolve)")
               for s in ex.steps)


def resolver_failure(exchanges: Iterable[Exchange],
                     ask: Callable[[str], str | None] | None = None) -> str | None:
    """Why the resolver itself failed in this run, or None when lookups failed per name.

    The resolver failed when no lookup succeeded and either one of them could not reach a
    nameserver (EAI_AGAIN, EAI_FAIL, a lookup that hung) or at least two failed, all with the
    same answer, or, even for one name, no nameserver answers NOERROR about the zone above it
    nor about the root (`ask`, nameserver.silent: a resolver that knows nothing blames no record)."""
    exchanges = list(exchanges)
    if any(_looked_up(ex) for ex in exchanges):
        return None
    failed = [ex for ex in exchanges if _lookup_failed(ex)]
    unreachable = [ex for ex in failed if ex.failure.kind in ("resolver", "timeout")]
    if unreachable:
        step = unreachable[0].step("dns")
        why = step.detail if step and step.detail != "timeout" else unreachable[0].failure.reason
        return f"no nameserver answered ({why}); no subdomain could be checked"
    answers = {(ex.step("dns").detail if ex.step("dns") else "") for ex in failed}
    if len(failed) >= 2 and len(answers) == 1:
        return (f"every one of the {len(failed)} lookups of this run failed the same way "
                f"({answers.pop()}): the resolver answers no name, so no record is to blame")
    if failed:
        host = urlsplit(failed[0].url).hostname or ""
        silence = (ask or nameserver.silent)(host)
        if silence:
            return (f"{host} did not resolve, and no nameserver answers about {nameserver.parent(host)} nor the "
                    f"root ({silence}): the resolver answers nothing, so no record is to blame")
    return None


class SessionProbe:
    """Probe every target of a session once, on first use; later lookups read the cache."""

    def __init__(self, client: HttpClient, targets: Iterable[Target]) -> None:
        self.client = client
        self.targets = {t.key: t for t in targets}
        self._results: dict[tuple[str, str], Exchange] | None = None
        self._lock = threading.Lock()
        self.resolver_failed: str | None = None
        self._reported: Target | None = None

    def result(self, target: Target) -> Exchange:
        """The exchange for target (probing everything on the first call). When the resolver
        itself failed, the first endpoint it kept from being checked raises one Unreachable
        naming the resolver, and the others skip pointing at it."""
        with self._lock:
            if self._results is None:
                self.targets.setdefault(target.key, target)
                self._results = run(self.client, self.targets.values())
                self.resolver_failed = resolver_failure(self._results.values())
            if target.key not in self._results or self.targets.get(target.key) != target:
                self.targets[target.key] = target
                self._results.update(run(self.client, [target]))
            exchange = self._results[target.key]
            if self.resolver_failed and _lookup_failed(exchange):
                self._resolver_outcome(target)
            return exchange

    def _resolver_outcome(self, target: Target) -> None:
        from releasegate.core.resolver_once import ResolverSilent

        if self._reported is None or self._reported == target:
            self._reported = target  # one ERROR per run, shared with the registries (resolver_once)
            raise ResolverSilent(target.environment, resolver(), self.resolver_failed or "", "failed")
        first = self._reported
        pytest.skip(f"{target.environment}: {target.host} not checked: {resolver()} failed "
                    f"(reported once, at {first.environment}-{first.item})")


def _details(target: Target, ex: Exchange, **extra: Any) -> dict:
    details = {
        "url": target.url, "address": ex.address, "attempts": ex.attempts, "elapsed_ms": ex.elapsed_ms,
        "steps": [{"step": s.name, "ok": s.ok, "ms": s.ms, "detail": s.detail} for s in ex.steps],
    }
    if ex.redirects:
        details["redirects"] = ex.redirects
    if ex.response is not None:
        details["status"] = ex.response.status
    if ex.cert is not None:
        details["certificate"] = {"subject": ex.cert.subject, "issuer": ex.cert.issuer,
                                  "sans": list(ex.cert.sans), "not_after": ex.cert.not_after.isoformat()}
    details.update(extra)
    return details


def _where(target: Target, ex: Exchange) -> str:
    return f"{target.host} ({ex.address})" if ex.address else target.host


def _failure(target: Target, ex: Exchange, client_ca: str | None, now: dt.datetime) -> Finding:
    fail = ex.failure
    env, host, where = target.environment, target.host, _where(target, ex)
    tries = f" after {ex.attempts} attempts" if ex.attempts > 1 else ""
    cert = ex.cert
    if fail.kind == "timeout":
        msg = f"{env}: {where} gave {fail.reason} during {fail.step.upper()}: {_TIMEOUT_WHAT[fail.step]}"
    elif fail.step == "dns" and fail.kind in ("resolver", "client"):
        msg = f"{env}: {fail.reason}"
    elif fail.step == "dns":
        msg = (f"{env}: {fail.reason}; fix the DNS record or network.resolve" if fail.kind == "not-found"
               else f"{env}: {fail.reason}; fix subdomains/domain in the environments file")
    elif fail.kind == "refused":
        msg = f"{env}: {where} refuses connections{tries}: nothing listens there; is the service/ingress up?"
    elif fail.step == "tcp":
        msg = f"{env}: {fail.reason}{tries}; check the address and routing"
    elif fail.kind == "expired" and cert:
        days = int(-cert.days_left(now))
        msg = (f"{env}: {host} certificate expired on {cert.not_after:%Y-%m-%d} ({days} days ago); "
               f"renew it")
    elif fail.kind == "hostname":
        covers = ", ".join(cert.sans) if cert and cert.sans else "other names"
        msg = f"{env}: {host} certificate is not valid for this name (it covers {covers}); reissue it with {host}"
    elif fail.kind == "self-signed":
        msg = (f"{env}: {host} serves a self-signed certificate"
               f"{f' ({cert.subject})' if cert else ''}; install one issued by a trusted CA")
    elif fail.kind in ("untrusted", "not-yet-valid", "expired"):
        trust = f"network.ca_file {client_ca}" if client_ca else "the system trust store"
        msg = (f"{env}: {host} certificate is not trusted ({fail.reason}) against {trust}; "
               f"serve the full chain or set network.ca_file")
    elif fail.step == "tls":
        msg = f"{env}: {where} {fail.reason}"
    elif fail.kind == "redirects":
        msg = f"{env}: {target.url} {fail.reason} (last: {ex.redirects[-1]}); fix the redirect loop"
    else:
        msg = f"{env}: {target.url} {fail.reason}{tries}"
    return Finding(BLOCKER, fail.step, msg, _details(target, ex, kind=fail.kind))


def _cert_expiry(target: Target, ex: Exchange, policy: Policy, now: dt.datetime) -> Finding | None:
    if ex.cert is None:
        return None
    days = ex.cert.days_left(now)
    if days >= policy.cert_warning_days:
        return None
    severity = BLOCKER if days < policy.cert_blocker_days else WARNING
    limit = policy.cert_blocker_days if severity == BLOCKER else policy.cert_warning_days
    msg = (f"{target.environment}: {target.host} certificate expires in {round(days)} days "
           f"({ex.cert.not_after:%Y-%m-%d}, {severity} under {limit:g} days); renew it")
    return Finding(severity, "tls", msg, _details(target, ex, days_left=round(days, 2)))


def json_path(document: Any, key: str) -> tuple[bool, Any]:
    """Look up a dotted key ("status", "checks.db") -> (found, value)."""
    value = document
    for part in key.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def body_matches(expected: str, body: str) -> bool:
    """`re:<pattern>` searches the body; anything else must equal the body (outer whitespace ignored)."""
    if expected.startswith("re:"):
        return re.search(expected[3:], body) is not None
    return body.strip() == expected.strip()


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _content(target: Target, ex: Exchange) -> list[Finding]:
    env, url, resp = target.environment, target.url, ex.response
    if resp.truncated and (target.expect_body is not None or target.expect_json):
        needs = "expect_json" if target.expect_json else "expect_body"
        return [Finding(BLOCKER, "body", (
            f"{env}: {url} answered more than the {MAX_BODY >> 20} MiB cap, so {needs} cannot be "
            "checked: serve a smaller answer at that path"), _details(target, ex))]
    text = resp.text()
    found = []
    if target.expect_body is not None and not body_matches(str(target.expect_body), text):
        how = "regex" if str(target.expect_body).startswith("re:") else "expected"
        found.append(Finding(BLOCKER, "body", (
            f"{env}: {url} body {_snippet(text)!r} does not match expect_body ({how} "
            f"{_snippet(str(target.expect_body).removeprefix('re:'))!r})"), _details(target, ex)))
    if target.expect_json:
        try:
            document = json.loads(text)
        except ValueError as exc:
            return found + [Finding(BLOCKER, "json", (
                f"{env}: {url} did not answer JSON ({exc.msg}) but expect_json needs "
                f"{', '.join(k for k, _ in target.expect_json)}"), _details(target, ex))]
        for key, allowed in target.expect_json:
            ok, value = json_path(document, key)
            if not ok:
                found.append(Finding(BLOCKER, "json", f"{env}: {url} JSON has no key {key!r} (expect_json)",
                                     _details(target, ex, key=key)))
            elif value not in allowed and str(value) not in {str(a) for a in allowed}:
                found.append(Finding(BLOCKER, "json", (
                    f"{env}: {url} JSON {key}={value!r}, expected one of "
                    f"{', '.join(map(str, allowed))}"), _details(target, ex, key=key, value=value)))
    return found


def assess(target: Target, ex: Exchange, policy: Policy = Policy(), now: dt.datetime | None = None,
           ca_file: str | None = None) -> list[Finding]:
    """Every finding for one endpoint: a broken step stops the steps after it."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if ex.failure is not None:
        return [_failure(target, ex, ca_file, now)]
    found = [f for f in [_cert_expiry(target, ex, policy, now)] if f]
    resp = ex.response
    if resp.status != target.expect_status:
        moved = f" -> {resp.headers['location']}" if "location" in resp.headers else ""
        tries = f" after {ex.attempts} attempts" if ex.attempts > 1 else ""
        found.append(Finding(BLOCKER, "http", (
            f"{target.environment}: {target.url} answered HTTP {resp.status}{moved}{tries}, "
            f"expected {target.expect_status}"), _details(target, ex)))
        return found
    found += _content(target, ex)
    if ex.elapsed_ms > target.budget_ms:
        found.append(Finding(WARNING, "time", (
            f"{target.environment}: {target.url} took {ex.elapsed_ms:.0f} ms, over its budget of "
            f"{target.budget_ms:.0f} ms"), _details(target, ex, budget_ms=target.budget_ms)))
    return found


def served_build(ex: Exchange, json_key: str | None = None, header: str | None = None) -> tuple[str | None, str]:
    """The build an endpoint reports -> (value or None, why it could not be read)."""
    if ex.failure is not None or ex.response is None:
        return None, ex.failure.reason if ex.failure else "no answer"
    resp = ex.response
    if resp.status != 200:
        return None, f"answered HTTP {resp.status}"
    if header:
        value = resp.headers.get(header.lower())
        return (value.strip(), "") if value else (None, f"has no {header} header")
    try:
        ok, value = json_path(json.loads(resp.text()), json_key or "version")
    except ValueError:
        return None, "did not answer JSON"
    if not ok or value in (None, ""):
        return None, f"JSON has no key {json_key!r}"
    return str(value).strip(), ""
