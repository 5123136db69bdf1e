"""Signing outgoing mail with a domain's active DKIM key(s)."""

from __future__ import annotations

from app.core import dkim
from app.domains.models import Domain, KeyState
from app.errors import Conflict
from app.extensions import keystore


def sign_message(domain: Domain, message: bytes) -> bytes:
    """The message with one DKIM-Signature per active key (RSA first, then Ed25519).

    Only `active` keys sign: a key becomes active once every authoritative nameserver
    serves it, so receivers can always find the key a signature names.
    """
    active = sorted((k for k in domain.keys if k.state == KeyState.ACTIVE),
                    key=lambda k: k.key_type != "rsa")
    if not active:
        raise Conflict(f"{domain.fqdn} has no active DKIM key yet: verify the domain first.",
                       code="no_active_key")
    signed = message
    for key in active:
        private_pem = keystore().get(key.private_key_ref)
        signed = dkim.sign_message(signed, domain=domain.fqdn, selector=key.selector,
                                   private_key_pem=private_pem, algorithm=key.key_type)
    return signed
