"""MONAI Label's token check, mended: its ``from_token`` calls ``jwt.decode`` without
``algorithms``, which PyJWT 2 refuses, so with authentication on every token was rejected.

:func:`from_token` does what MONAI Label's does (the realm's public key, its username, email,
name and roles claims from the ``MONAI_LABEL_AUTH_TOKEN_*`` settings, expiry checked), with
the algorithms pinned to RSA signatures (Keycloak's RS256 and friends). :func:`install`
puts it in place of MONAI Label's, whose ``get_current_user`` looks it up at each request.
"""

from __future__ import annotations

from typing import Any

ALGORITHMS = ["RS256", "RS384", "RS512"]


def _claim(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for key in path.split("#"):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def from_token(token: str):
    """The MONAI Label ``User`` of a bearer token (``jwt.InvalidTokenError`` when it is not valid)."""
    import jwt
    from monailabel.config import settings
    from monailabel.endpoints.user import auth

    if not settings.MONAI_LABEL_AUTH_ENABLE:
        return auth.DEFAULT_USER
    key = auth.get_public_key(settings.MONAI_LABEL_AUTH_REALM_URI)
    payload = jwt.decode(token, key, algorithms=ALGORITHMS, options={"verify_aud": False, "verify_exp": True})
    roles = _claim(payload, settings.MONAI_LABEL_AUTH_TOKEN_ROLES) or []
    return auth.User(
        username=payload.get(settings.MONAI_LABEL_AUTH_TOKEN_USERNAME) or "",
        email=payload.get(settings.MONAI_LABEL_AUTH_TOKEN_EMAIL),
        name=payload.get(settings.MONAI_LABEL_AUTH_TOKEN_NAME),
        roles=list(roles) if isinstance(roles, list) else [],
    )


def install() -> None:
    """Use :func:`from_token` for every request's user."""
    from monailabel.endpoints.user import auth

    auth.from_token = from_token
