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
    parent_id = ma.fields.Integer(allow_none=True)
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
    dkim_rotation_days = ma.fields.Integer(strict=True, required=True, allow_none=True, metadata={
        "description": "Rotate the RSA key this many days after it went active; null: only "
                       "by hand.", "minimum": 1, "maximum": MAX_ROTATION_DAYS, "example": 90})


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
