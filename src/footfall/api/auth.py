"""Scoped API keys on the analytics API: a route declares the scope it needs, the key must carry it.

    @router.get("/profiles/{identifier}", dependencies=[Depends(require_scope("profiles:read"))])

or, to know which key called, take it as a parameter: `key: ApiKey = Depends(require_scope(...))`.
Keys are sent as `Authorization: Bearer ffa_...` (created with `footfall keys create-api`; see
`footfall.keys`). No or a bad key → 401 JSON (`invalid_api_key`); a good key without the scope → 403
JSON (`missing_scope`, naming the scope). The tracking API keeps its write keys: a write key is never
an API key, so the key a website exposes cannot read customer data.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from footfall.errors import MissingScopeError
from footfall.keys import SCOPES, ApiKey, ApiKeyCache

# The security scheme in the OpenAPI document. auto_error=False: a missing key is answered by
# Footfall's own 401 JSON (with code and message) rather than FastAPI's bare 403.
bearer = HTTPBearer(
    scheme_name="ApiKey",
    bearerFormat="ffa_...",
    description="An API key from `footfall keys create-api NAME --scope SCOPE`, sent as "
                "`Authorization: Bearer <key>`. Scopes: " + "; ".join(f"`{s}`: {d}" for s, d in SCOPES.items()),
    auto_error=False,
)


def api_key_cache(request: Request) -> ApiKeyCache:
    """The app's API key cache (made by `create_app`)."""
    return request.app.state.api_keys


def require_scope(scope: str) -> Callable[..., ApiKey]:
    """A FastAPI dependency admitting requests whose API key carries `scope`; it returns the key."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")  # a programming error

    def check_scope(request: Request,
                    credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> ApiKey:
        record = api_key_cache(request).authenticate(credentials.credentials if credentials else None)
        if not record.allows(scope):
            raise MissingScopeError(scope, record.key_id)
        return record

    check_scope.__name__ = "require_" + scope.replace(":", "_")
    return check_scope
