"""The validator's expectations for a domain we manage, read from its row and the app config.

`validation_inputs` turns a Domain into plain keyword arguments for `validate_domain`, so a
sweep can read them inside a DB session, release the session, and only then spend seconds on
DNS. It reads `domain`'s columns and its `keys` relationship (load it with
`selectinload(Domain.keys)` when sweeping many domains) and nothing else: no queries of its own.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from app.adapters.dns import Resolver
from app.core.records import Purpose
from app.core.records import expected_records as core_expected_records
from app.domains.models import Domain
from app.domains.service import current_key, published_keys, record_settings
from app.monitoring.validator import ValidationReport, validate_domain

# The expected records the validator checks itself; SPF, DKIM and DMARC it judges on their own.
DELIVERY_PURPOSES = (Purpose.RETURN_PATH, Purpose.TRACKING)


def validation_inputs(domain: Domain, config: Mapping) -> dict:
    """`validate_domain`'s keyword arguments for `domain`: only str, bytes, tuples and a dict.

    DKIM is checked at every selector whose key must be in DNS (pending, active, retiring),
    against the key we hold; before any key is ready, at the current key's selector, so a
    missing record still shows. The return-path and tracking records are the ones the DNS
    instructions ask for (`record_settings`, which reads the platform names from the app
    config), so what we tell customers to publish and what we check cannot drift apart.
    """
    keys = published_keys(domain)
    selectors = tuple(dict.fromkeys(key.selector for key in keys))
    if not selectors and (upcoming := current_key(domain)) is not None:
        selectors = (upcoming.selector,)
    records = core_expected_records(record_settings(domain))
    return {
        "selectors": selectors,
        "expected_dkim_keys": {key.selector: base64.b64decode(key.public_key) for key in keys},
        "platform_spf_include": config["PLATFORM_SPF_INCLUDE"],
        "platform_ips": tuple(config.get("PLATFORM_SENDING_IPS", ())),
        # Without a return path of its own the domain's mail bounces to our host, which never
        # aligns: that is the customer's choice in the wizard, not a DNS fault, so not judged.
        "return_path_host": (f"{domain.return_path_label}.{domain.fqdn}"
                             if domain.return_path_label else None),
        "dkim_domain": domain.fqdn,  # we sign with d= the domain itself
        "expected_records": tuple(record for record in records
                                  if record.purpose in DELIVERY_PURPOSES),
        "dnsbl_domain_lists": tuple(config.get("DNSBL_DOMAIN_LISTS", ())),
        "dnsbl_ip_lists": tuple(config.get("DNSBL_IP_LISTS", ())),
    }


def validate_managed(domain: Domain, resolver: Resolver, config: Mapping) -> ValidationReport:
    """The full check of a domain we send for: platform expectations included."""
    return validate_domain(domain.fqdn, resolver, **validation_inputs(domain, config))
