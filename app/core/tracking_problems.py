"""A failed certificate order in plain words: what the CA said, and what the customer can do.

ACME servers report problems as RFC 8555 §6.7 error types with a free-text detail; the
portal shows the detail as the CA wrote it, after a sentence saying what it means here.
"""

from __future__ import annotations

from dataclasses import dataclass

ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:"
UNAVAILABLE = "unavailable"  # the CA could not be reached or answered nonsense
TIMEOUT = "timeout"  # the CA did not finish within our deadline
RETRY = "Nothing to change: we retry automatically."


@dataclass(frozen=True)
class CertificateProblem:
    code: str  # acme_<ACME error type>, acme_unavailable or acme_timeout
    message: str
    fix: str


def explain(kind: str, detail: str, hostname: str, platform_host: str) -> CertificateProblem:
    """`kind` is an ACME error type (with or without its URN prefix), UNAVAILABLE or TIMEOUT."""
    kind = kind.removeprefix(ACME_ERROR_PREFIX) or "serverInternal"
    detail = " ".join((detail or "no details given").split())
    point = (f"Make sure {hostname} is a CNAME to {platform_host} and that no proxy, CDN or "
             "web server answers for it in our place; then press Retry (we also retry by "
             "ourselves).")
    words = {
        UNAVAILABLE: (f"We could not reach the certificate authority: {detail}.", RETRY),
        TIMEOUT: (f"The certificate authority did not finish checking {hostname} in time "
                  f"({detail}).", RETRY),
        "connection": (f"The certificate authority could not connect to {hostname} to check "
                       f"that we serve it. It said: {detail}", point),
        "dns": (f"The certificate authority could not look up {hostname} in DNS. It said: "
                f"{detail}", point),
        "unauthorized": (f"The certificate authority reached {hostname} but did not get our "
                         f"answer to its check. It said: {detail}", point),
        "incorrectResponse": (f"The certificate authority reached {hostname} but got a wrong "
                              f"answer to its check. It said: {detail}", point),
        "tls": (f"The certificate authority could not talk TLS to {hostname}. It said: "
                f"{detail}", point),
        "caa": (f"A CAA record forbids the certificate authority to issue for {hostname}. It "
                f"said: {detail}", "Add a CAA record that names our certificate authority "
                "(see the finding above), or remove the CAA record that forbids it."),
        "rejectedIdentifier": (f"The certificate authority will not issue certificates for "
                               f"{hostname}. It said: {detail}",
                               "Use another host name for tracking."),
        "rateLimited": (f"The certificate authority's rate limit was reached. It said: {detail}",
                        RETRY),
        "serverInternal": (f"The certificate authority had an internal error. It said: {detail}",
                           RETRY),
    }
    message, fix = words.get(kind, (f"The certificate authority refused the certificate for "
                                    f"{hostname} ({kind}). It said: {detail}",
                                    "We retry automatically; if it keeps failing, contact "
                                    "support with this message."))
    return CertificateProblem(code=f"acme_{kind}"[:64], message=message, fix=fix)
