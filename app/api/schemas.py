"""Response and request shapes shared by API endpoints (marshmallow, for OpenAPI too)."""

from __future__ import annotations

import marshmallow as ma


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
