"""Who a request comes from, for limits that count per client."""

from __future__ import annotations

import hashlib
import ipaddress

from fastapi import Request

from imageapi.core.settings import get_settings

from .api import bearer_token


def owner_key(request: Request) -> str:
    """With API_TOKENS, the bearer token presented (require_token has checked it), as a digest:
    the table never holds a token. Behind the gateway's JWT authorizer, the token's subject, which
    the gateway has checked. Without either, the client's address."""
    settings = get_settings()
    if settings.token_list():
        return f"token:{_digest((bearer_token(request) or b'').decode())}"
    if settings.auth_at_gateway and (subject := _jwt_subject(request)):
        return f"jwt:{_digest(subject)}"
    return f"address:{client_address(request)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _jwt_subject(request: Request) -> str:
    """The `sub` claim API Gateway's JWT authorizer put in the event (HTTP API payload 2.0)."""
    event = request.scope.get("aws.event") or {}
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return str(((authorizer.get("jwt") or {}).get("claims") or {}).get("sub") or "")


def client_address(request: Request) -> str:
    """On Lambda, API Gateway's sourceIp: the peer of its own connection, which no header sets.
    Elsewhere the socket's peer. Never X-Forwarded-For, which any client may write. An IPv6
    address counts as its /64, which one host usually holds whole."""
    raw = _source_ip(request)
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _source_ip(request: Request) -> str:
    event = request.scope.get("aws.event")
    if event:
        context = event.get("requestContext") or {}
        found = (context.get("http") or {}).get("sourceIp") or (context.get("identity") or {}).get("sourceIp")
        return str(found or "")
    client = request.scope.get("client")
    return str(client[0]) if client else ""
