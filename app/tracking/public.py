"""What tracking hosts serve to the world: ACME HTTP-01 answers, click redirects, open pixels,
and the "ask" endpoint an on-demand-TLS proxy (Caddy, HAProxy) consults before getting a
certificate.

Nothing here needs a session or a token: the Host header says which tracking host was asked,
and only hosts we serve answer (anything else is a 404, as is any bad token; never a 500).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, redirect, request

from app.tracking import challenges, service
from app.uow import commit

bp = Blueprint("tracking_public", __name__)

# The smallest transparent GIF: 1x1, one colour, fully transparent.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00"
         b"\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
NO_STORE = "no-store, no-cache, must-revalidate, max-age=0"
HSTS = "max-age=31536000"  # a year; no includeSubDomains: the customer's other names are theirs


def _request_hostname() -> str:
    try:
        return urlsplit(f"//{request.host}").hostname or ""
    except ValueError:
        return ""


def _served() -> service.ServedHost:
    served = service.served_host(_request_hostname())
    if served is None:
        abort(404)
    return served


def _tracking_response(response: Response, served: service.ServedHost) -> Response:
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays out of the next site
    if served.https:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


@bp.route("/.well-known/acme-challenge/<token>")
def acme_challenge(token: str):
    """RFC 8555 §8.3: the key authorization for a token, on the host being validated."""
    answer = challenges.answer_for(token, _request_hostname())
    if answer is None:
        abort(404)
    return Response(answer, mimetype="text/plain")


@bp.route("/c/<token>")
def click(token: str):
    served = _served()
    url = service.follow_click(served, token)
    if url is None:
        abort(404)
    commit()
    return _tracking_response(redirect(url, code=302), served)


@bp.route("/o/<token>.gif")
def open_pixel(token: str):
    served = _served()
    if not service.record_open(served, token):
        abort(404)
    commit()
    response = Response(PIXEL, mimetype="image/gif")
    response.headers["Pragma"] = "no-cache"
    response.headers["Expires"] = "0"
    return _tracking_response(response, served)


@bp.route("/tracking/ask")
def ask():
    """200 when a TLS terminator may serve `?domain=` (a tracking host whose CNAME reaches us),
    404 when not: Caddy's `on_demand_tls ask` contract."""
    hostname = request.args.get("domain", "")
    if not hostname:
        abort(400, description="Ask with ?domain=<host name>.")
    if not service.tls_allowed(hostname):
        abort(404)
    return Response("allowed\n", mimetype="text/plain")
