"""Response and request shapes shared by API endpoints (marshmallow, for OpenAPI too)."""

from __future__ import annotations

import marshmallow as ma

from app.domains import accounts
from app.domains.models import DomainStatus, KeyState
from app.domains.rotation import MAX_ROTATION_DAYS
from app.domains.service import DUAL_SIGNING_ALGORITHM, KEY_ALGORITHMS


class ErrorBody(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Stable machine code."})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong, in words."})
    fields = ma.fields.Dict(metadata={"description": "Per-field problems, when any."})


class ErrorResponse(ma.Schema):
    error = ma.fields.Nested(ErrorBody, required=True)


class WorkspaceOut(ma.Schema):
    id = ma.fields.Integer()
    slug = ma.fields.String()
    name = ma.fields.String()
    role = ma.fields.String(metadata={"description": "Your role: owner, admin, member or viewer."})
    current = ma.fields.Boolean(metadata={"description": "True for the token's own workspace."})
    created_at = ma.fields.DateTime()


class TokenOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    hint = ma.fields.String(attribute="token_hint",
                            metadata={"description": "Last four characters of the secret."})
    created_at = ma.fields.DateTime()
    last_used_at = ma.fields.DateTime(allow_none=True)


class MeOut(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    name = ma.fields.String()
    is_platform_admin = ma.fields.Boolean()
    workspace = ma.fields.Nested(WorkspaceOut)
    token = ma.fields.Nested(TokenOut)


# --- sending domains ----------------------------------------------------------------------

class QueryArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # a cache-busting `?_=…` must not turn a read into a 422


class DomainIn(ma.Schema):
    name = ma.fields.String(required=True, metadata={
        "description": "The domain to send from, e.g. example.com; IDNs in either form.",
        "example": "example.com"})
    algorithm = ma.fields.String(load_default="rsa-2048", metadata={
        "description": "DKIM key type.", "enum": list(KEY_ALGORITHMS)})


class DomainListArgs(QueryArgs):
    status = ma.fields.Enum(DomainStatus, by_value=True,
                            metadata={"description": "Only domains in this status."})
    tag = ma.fields.String(metadata={"description": "Only domains with this tag (any case)."})
    group = ma.fields.String(metadata={"description": "Only domains in this group (any case)."})
    parent = ma.fields.String(metadata={
        "description": "A domain id: only its direct subdomains; `none`: only top-level "
                       "domains.", "example": "none"})

    @ma.validates("parent")
    def _parent_is_an_id_or_none(self, value: str, **kwargs) -> None:
        if value != "none" and not (value.isascii() and value.isdigit()):
            raise ma.ValidationError("Use a domain id or none.")


class SubdomainIn(ma.Schema):
    name = ma.fields.String(required=True, metadata={
        "description": "A label (`marketing`) or a full name under the domain "
                       "(`eu.news.example.com`); it hangs under the closest domain of the "
                       "workspace above it.", "example": "marketing"})
    algorithm = ma.fields.String(load_default="rsa-2048", metadata={
        "description": "DKIM key type of its own key.", "enum": list(KEY_ALGORITHMS)})


class DnsRecordsArgs(QueryArgs):
    format = ma.fields.String(load_default="json", metadata={
        "description": "json (default), bind (a zone-file snippet, text/plain) or csv (text/csv).",
        "enum": ["json", "bind", "csv"]})


class DnsRecordOut(ma.Schema):
    type = ma.fields.String(metadata={"description": "TXT, CNAME or MX."})
    host = ma.fields.String(metadata={"description": "Absolute name, without the final dot."})
    value = ma.fields.String(metadata={
        "description": "As a web DNS panel wants it: TXT joined and unquoted."})
    ttl = ma.fields.Integer()
    purpose = ma.fields.String(metadata={
        "description": "ownership, spf, dkim, dmarc, return_path or tracking."})
    why = ma.fields.String(metadata={"description": "What the record is for, in plain words."})


class DkimKeySummaryOut(ma.Schema):
    selector = ma.fields.String()
    state = ma.fields.Enum(KeyState, by_value=True, metadata={
        "description": "`generating` until the key job has run; the DKIM record appears in "
                       "`dns_records` from `pending` on, so poll until then."})


class DomainSummaryOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String(attribute="fqdn", metadata={"description": "Lower-case, IDNA A-label."})
    status = ma.fields.Enum(DomainStatus, by_value=True)
    parent_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "The domain this is a subdomain of; null for a top-level domain."})
    tags = ma.fields.List(ma.fields.String(), metadata={
        "description": "Lower-case, sorted; at most 20."})
    group = ma.fields.String(attribute="group_name", allow_none=True, metadata={
        "description": "The one group (e.g. a team) the domain is in; null: none."})
    dmarc_policy = ma.fields.String()
    created_at = ma.fields.DateTime()
    verified_at = ma.fields.DateTime(allow_none=True)
    last_checked_at = ma.fields.DateTime(allow_none=True)
    next_check_at = ma.fields.DateTime(allow_none=True)
    dkim_rotation_days = ma.fields.Integer(allow_none=True, metadata={
        "description": "The RSA key is rotated this many days after it went active; null: "
                       "only by hand."})


class DomainOut(DomainSummaryOut):
    dkim_key = ma.fields.Nested(DkimKeySummaryOut, allow_none=True, metadata={
        "description": "The key DNS should carry now (null when every key is retired)."})
    dns_records = ma.fields.List(ma.fields.Nested(DnsRecordOut), metadata={
        "description": "Every record to publish; see also /dns-records?format=bind|csv."})


class JobOut(ma.Schema):
    job_id = ma.fields.String(metadata={"description": "The queued verification run."})


class VerificationOut(ma.Schema):
    status = ma.fields.Enum(DomainStatus, by_value=True)
    verified_at = ma.fields.DateTime(allow_none=True)
    last_checked_at = ma.fields.DateTime(allow_none=True)
    next_check_at = ma.fields.DateTime(allow_none=True, metadata={
        "description": "When the next automatic check runs, while verifying."})
    checked_at = ma.fields.DateTime(allow_none=True, metadata={
        "description": "When `records` were observed; null before the first check."})
    records = ma.fields.List(ma.fields.Dict(), metadata={
        "description": "The latest check, record by record: what was expected, what was seen, "
                       "and its status (found, missing or wrong)."})


class DkimKeyOut(ma.Schema):
    """A DKIM key's public side; the private key never leaves the key store."""

    id = ma.fields.Integer()
    selector = ma.fields.String()
    algorithm = ma.fields.String()
    region = ma.fields.String(allow_none=True)
    state = ma.fields.Enum(KeyState, by_value=True)
    public_key = ma.fields.String(allow_none=True, metadata={
        "description": "Base64 SubjectPublicKeyInfo, the DKIM `p=` value; null while generating."})
    created_at = ma.fields.DateTime()
    activated_at = ma.fields.DateTime(allow_none=True)
    retiring_at = ma.fields.DateTime(allow_none=True)
    retire_after = ma.fields.DateTime(allow_none=True)
    retired_at = ma.fields.DateTime(allow_none=True)


class NewDkimKeyOut(ma.Schema):
    """A key just created: `generating` until the key job has run, then `pending` until DNS
    serves it; follow it in /dkim-keys."""

    id = ma.fields.Integer()
    selector = ma.fields.String()
    algorithm = ma.fields.String()
    state = ma.fields.Enum(KeyState, by_value=True)


class DkimKeyIn(ma.Schema):
    algorithm = ma.fields.String(required=True, metadata={
        "description": "ed25519: an extra key that signs beside the RSA key, never alone. "
                       "RSA keys are replaced with /dkim-keys/rotate, not added.",
        "enum": [DUAL_SIGNING_ALGORITHM]})


class DomainPatchIn(ma.Schema):
    """Fields left out stay as they are; at least one must be given."""

    dkim_rotation_days = ma.fields.Integer(strict=True, allow_none=True, metadata={
        "description": "Rotate the RSA key this many days after it went active; null: only "
                       "by hand.", "minimum": 1, "maximum": MAX_ROTATION_DAYS, "example": 90})
    tags = ma.fields.List(ma.fields.String(), metadata={
        "description": "Replaces every tag: 1-50 letters, digits, spaces, - or _, stored "
                       "trimmed and lower-case; at most 20. [] removes them all.",
        "example": ["team-a", "eu"]})
    group = ma.fields.String(allow_none=True, metadata={
        "description": "At most 64 characters; null or blank: no group.",
        "example": "Marketing"})

    @ma.validates_schema
    def _something_to_change(self, data: dict, **kwargs) -> None:
        if not data:
            raise ma.ValidationError("Give dkim_rotation_days, tags or group.")


# --- email accounts -----------------------------------------------------------------------

class AccountIn(ma.Schema):
    local_part = ma.fields.String(required=True, metadata={
        "description": "The part before the @: an RFC 5322 dot-atom, stored lower-case.",
        "maxLength": accounts.MAX_LOCAL_PART_OCTETS, "example": "sales"})
    display_name = ma.fields.String(load_default="", metadata={
        "description": "The name in From:; no line breaks.",
        "maxLength": accounts.MAX_DISPLAY_NAME_CHARACTERS})
    daily_limit = ma.fields.Integer(strict=True, load_default=accounts.DEFAULT_DAILY_LIMIT,
                                    metadata={"minimum": accounts.MIN_DAILY_LIMIT,
                                              "maximum": accounts.MAX_DAILY_LIMIT,
                                              "description": "Messages per day."})


class AccountPatchIn(ma.Schema):
    """Fields left out stay as they are; the address itself cannot change."""

    display_name = ma.fields.String(metadata={"maxLength": accounts.MAX_DISPLAY_NAME_CHARACTERS})
    daily_limit = ma.fields.Integer(strict=True, metadata={
        "minimum": accounts.MIN_DAILY_LIMIT, "maximum": accounts.MAX_DAILY_LIMIT})
    status = ma.fields.Enum(accounts.AccountStatus, by_value=True, metadata={
        "description": "paused stops sending; active resumes it (verified domains only)."})


class AccountOut(ma.Schema):
    id = ma.fields.Integer()
    domain_id = ma.fields.Integer()
    local_part = ma.fields.String()
    address = ma.fields.Function(accounts.address, metadata={"type": "string",
                                                             "example": "sales@example.com"})
    display_name = ma.fields.String()
    daily_limit = ma.fields.Integer()
    status = ma.fields.String(metadata={"enum": [s.value for s in accounts.AccountStatus]})
    created_at = ma.fields.DateTime()


# --- DNS health ---------------------------------------------------------------------------

class DnsFindingRecordOut(ma.Schema):
    host = ma.fields.String(metadata={"description": "The name the record lives at."})
    type = ma.fields.String(metadata={"description": "TXT, CNAME, MX, …"})


class DnsFindingOut(ma.Schema):
    """One problem, as `flask dns check --json` prints it."""

    code = ma.fields.String(metadata={"description": "Stable code; the score page lists them.",
                                      "example": "SPF_PLUS_ALL"})
    severity = ma.fields.String(metadata={"enum": ["error", "warning", "info"]})
    record = ma.fields.Nested(DnsFindingRecordOut)
    message = ma.fields.String(metadata={"description": "What is wrong, with what was seen."})
    fix = ma.fields.String(metadata={"description": "What to publish instead."})


class DomainHealthOut(ma.Schema):
    """A domain's health from its latest check: the JSON of `flask dns check --json`, plus
    `status`."""

    domain = ma.fields.String(metadata={"description": "The domain name (IDNA A-label)."})
    status = ma.fields.String(metadata={
        "enum": ["checked", "not_checked"],
        "description": "not_checked until the first check finishes: score, band and "
                       "checked_at are then null and findings empty."})
    score = ma.fields.Integer(allow_none=True, metadata={"minimum": 0, "maximum": 100})
    band = ma.fields.String(allow_none=True, metadata={"enum": ["healthy", "warning",
                                                                "critical"]})
    checked_at = ma.fields.DateTime(allow_none=True)
    findings = ma.fields.List(ma.fields.Nested(DnsFindingOut), metadata={
        "description": "Open findings, worst first."})


class HealthCheckOut(ma.Schema):
    job_id = ma.fields.String(metadata={
        "description": "The queued check; GET /health shows its result once checked_at moves."})


class RecordCheckIn(ma.Schema):
    type = ma.fields.String(required=True, metadata={"enum": ["spf", "dkim", "dmarc"],
                                                     "description": "Case does not matter."})
    host = ma.fields.String(required=True, metadata={
        "description": "Where the record is published: example.com (SPF), "
                       "pm1._domainkey.example.com (DKIM), _dmarc.example.com or example.com "
                       "(DMARC).", "example": "example.com"})
    value = ma.fields.String(required=True, metadata={
        "description": "The TXT value, joined or as zone-file quoted strings; at most 4,096 "
                       "bytes.", "example": "v=spf1 include:_spf.example.net ~all"})


class RecordCheckOut(ma.Schema):
    findings = ma.fields.List(ma.fields.Nested(DnsFindingOut), metadata={
        "description": "Worst first; empty when the record has no problem the box can see."})
    deferred = ma.fields.String(metadata={
        "description": "What needs DNS and is checked on the next sweep instead."})


class HealthListArgs(QueryArgs):
    band = ma.fields.String(metadata={"enum": ["healthy", "warning", "critical", "unchecked"]})
    code = ma.fields.String(metadata={"description": "Only domains with an open finding with "
                                                     "this code.", "example": "DMARC_MISSING"})
    tag = ma.fields.String(metadata={"description": "Only domains with this tag."})
    q = ma.fields.String(metadata={"description": "Domain name contains this text."})
    sort = ma.fields.String(metadata={
        "description": "score (worst first, the default), domain, checked or change; a leading "
                       "- reverses it. Domains never checked come last either way.",
        "example": "-checked"})
    page = ma.fields.String(metadata={"description": "From 1; 50 domains a page."})


class WorstFindingOut(ma.Schema):
    code = ma.fields.String()
    severity = ma.fields.String()
    title = ma.fields.String(allow_none=True)


class HealthRowOut(ma.Schema):
    id = ma.fields.Integer(attribute="domain_id")
    domain = ma.fields.String(attribute="fqdn")
    status = ma.fields.String(metadata={"enum": ["checked", "not_checked"]})
    domain_status = ma.fields.Enum(DomainStatus, by_value=True, metadata={
        "description": "Where the domain is in verification; only verified ones are swept."})
    score = ma.fields.Integer(allow_none=True)
    band = ma.fields.String(allow_none=True)
    change = ma.fields.Integer(allow_none=True, metadata={
        "description": "Score points since the check before the last change."})
    worst_finding = ma.fields.Nested(WorstFindingOut, allow_none=True)
    error_count = ma.fields.Integer(allow_none=True)
    warning_count = ma.fields.Integer(allow_none=True)
    checked_at = ma.fields.DateTime(allow_none=True)
    changed_at = ma.fields.DateTime(allow_none=True)
    tags = ma.fields.List(ma.fields.String())


class HealthListOut(ma.Schema):
    domains = ma.fields.List(ma.fields.Nested(HealthRowOut))
    page = ma.fields.Integer()
    pages = ma.fields.Integer()
    total = ma.fields.Integer(metadata={"description": "Domains matching every filter."})
    tallies = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "Domains per band (and unchecked) under the other filters."})
