"""What one HTTPS exchange learned, step by step: the steps (dns, tcp, tls, http) with their timings,
where it stopped, the server's certificate and the answer of the last hop."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    """One stage of an exchange: dns, tcp, tls or http; `detail` says what happened."""

    name: str
    ok: bool
    ms: float
    detail: str = ""


@dataclass(frozen=True)
class Failure:
    """Where an exchange stopped: the step, a machine kind (timeout, refused, expired...), a reason."""

    step: str
    kind: str
    reason: str


@dataclass(frozen=True)
class CertInfo:
    """The server's leaf certificate, as far as the checks need it."""

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def self_signed(self) -> bool:
        """Issued by itself (subject equals issuer)."""
        return self.subject == self.issuer

    def days_left(self, now: dt.datetime | None = None) -> float:
        """Days until notAfter (negative once expired)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        return (self.not_after - now).total_seconds() / 86400


@dataclass(frozen=True)
class Response:
    """What the server answered on the last hop."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False

    def text(self) -> str:
        """The body as text, undecodable bytes replaced."""
        return self.body.decode("utf-8", "replace")


@dataclass
class Exchange:
    """Everything one fetch learned; `failure` is None when an HTTP answer arrived."""

    url: str
    steps: list[Step] = field(default_factory=list)
    address: str | None = None
    cert: CertInfo | None = None
    response: Response | None = None
    failure: Failure | None = None
    redirects: list[str] = field(default_factory=list)
    attempts: int = 0
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """A response arrived and no step failed."""
        return self.failure is None and self.response is not None

    def step(self, name: str) -> Step | None:
        """The last recorded step of that name."""
        for step in reversed(self.steps):
            if step.name == name:
                return step
        return None


def cert_info(der: bytes) -> CertInfo:
    """Decode a DER certificate into CertInfo."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = tuple(ext.value.get_values_for_type(x509.DNSName)) + tuple(
            str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        sans = ()
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )
