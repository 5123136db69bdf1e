"""Certificates from any RFC 8555 CA (Let's Encrypt, pebble …) through certbot's `acme` library.

One call runs one order end to end: directory, account (registered on first use, found again
by its key afterwards), new order, HTTP-01 answers published through `ChallengeAnswers` while
the CA checks, finalization and the chain. Every way it can fail comes out as one `AcmeFailure`
carrying the ACME error type and the CA's own words, so callers never see library exceptions.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Protocol

import josepy as jose
import requests
from acme import challenges, client, errors, messages
from cryptography.hazmat.primitives import serialization

from app.core.tracking_problems import TIMEOUT, UNAVAILABLE

USER_AGENT = "penguinmails-domains (tracking certificates)"


@dataclass(frozen=True)
class AcmeConfig:
    directory_url: str
    contact_email: str = ""
    ca_bundle: str = ""  # a PEM file to trust the CA's own HTTPS with; "" = the system's
    request_timeout: int = 30  # one HTTP request
    order_seconds: int = 90  # validation and finalization of one order


class ChallengeAnswers(Protocol):
    """Where HTTP-01 answers are put for the tracking hosts to serve while the CA looks."""

    def publish(self, token: str, key_authorization: str) -> None: ...

    def withdraw(self, token: str) -> None: ...


@dataclass(frozen=True)
class IssuedCertificate:
    chain_pem: str  # leaf first
    account_uri: str


class AcmeFailure(Exception):
    """`kind` is the ACME error type without its URN prefix (`connection`, `rateLimited` …),
    or UNAVAILABLE / TIMEOUT; `detail` is what the CA (or the network) said."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def obtain_certificate(config: AcmeConfig, account_key_pem: bytes, csr_pem: bytes,
                       answers: ChallengeAnswers) -> IssuedCertificate:
    """Order, prove control of the CSR's names over HTTP-01, and fetch the chain."""
    try:
        acme, account_uri = _client(config, account_key_pem)
        order = acme.new_order(csr_pem)
        published = []
        try:
            for authorization in order.authorizations:
                if authorization.body.status == messages.STATUS_VALID:
                    continue  # the CA reused an earlier proof (RFC 8555 §7.1.3)
                challenge = _http01(authorization)
                response, validation = challenge.response_and_validation(acme.net.key)
                token = challenge.chall.encode("token")
                answers.publish(token, validation)
                published.append(token)
                acme.answer_challenge(challenge, response)
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=config.order_seconds)
            order = acme.poll_and_finalize(order, deadline)
        finally:
            for token in published:
                answers.withdraw(token)
        return IssuedCertificate(chain_pem=order.fullchain_pem, account_uri=account_uri)
    except errors.ValidationError as failure:
        raise _challenge_failure(failure) from None
    except errors.IssuanceError as failure:
        raise AcmeFailure(failure.error.code or "serverInternal", _words(failure.error)) from None
    except messages.Error as failure:
        raise AcmeFailure(failure.code or "serverInternal", _words(failure)) from None
    except errors.TimeoutError:
        raise AcmeFailure(TIMEOUT, f"still pending after {config.order_seconds} seconds") from None
    except requests.RequestException as failure:
        raise AcmeFailure(UNAVAILABLE, _network_words(config.directory_url, failure)) from None
    except (errors.Error, jose.DeserializationError, ValueError, KeyError) as failure:
        # A reply that is not ACME (an HTML error page, a proxy's 502): the CA is not usable.
        raise AcmeFailure(UNAVAILABLE, f"{config.directory_url} did not answer as an ACME "
                                       f"server ({_short(failure)})") from None


def _client(config: AcmeConfig, account_key_pem: bytes) -> tuple[client.ClientV2, str]:
    key = serialization.load_pem_private_key(account_key_pem, password=None)
    net = client.ClientNetwork(jose.JWKRSA(key=key), user_agent=USER_AGENT,
                               verify_ssl=config.ca_bundle or True,
                               timeout=config.request_timeout)
    acme = client.ClientV2(client.ClientV2.get_directory(config.directory_url, net), net)
    registration = messages.NewRegistration.from_data(
        email=config.contact_email or None, terms_of_service_agreed=True)
    try:
        account = acme.new_account(registration)
    except errors.ConflictError as existing:
        # RFC 8555 §7.3.1: this key already has an account; the CA says where it is.
        account = messages.RegistrationResource(uri=existing.location,
                                                body=messages.Registration())
        net.account = account
    return acme, account.uri


def _http01(authorization: messages.AuthorizationResource) -> messages.ChallengeBody:
    for challenge in authorization.body.challenges:
        if isinstance(challenge.chall, challenges.HTTP01):
            return challenge
    raise AcmeFailure("unsupportedChallenge", "the CA offered no http-01 challenge for "
                                              f"{authorization.body.identifier.value}")


def _challenge_failure(failure: errors.ValidationError) -> AcmeFailure:
    for authorization in failure.failed_authzrs:
        for challenge in authorization.body.challenges:
            if challenge.error is not None:
                return AcmeFailure(challenge.error.code or "unauthorized", _words(challenge.error))
    return AcmeFailure("unauthorized", "the CA could not validate the name")


def _words(error: messages.Error) -> str:
    return error.detail or error.description or error.typ


def _network_words(url: str, failure: requests.RequestException) -> str:
    if isinstance(failure, requests.exceptions.SSLError):
        return f"the TLS certificate of {url} is not trusted ({_short(failure)})"
    if isinstance(failure, requests.exceptions.Timeout):
        return f"{url} did not answer in time"
    if isinstance(failure, requests.exceptions.ConnectionError):
        return f"could not connect to {url}"
    return f"{url}: {_short(failure)}"


def _short(failure: Exception) -> str:
    text = " ".join(str(failure).split())
    return text if len(text) <= 300 else text[:297] + "..."
