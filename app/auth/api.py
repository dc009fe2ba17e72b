"""The auth JSON API: register, log in, refresh, log out, me, export, erase."""
from __future__ import annotations

from flask import current_app, request
from flask_jwt_extended import (create_access_token, create_refresh_token, current_user, get_jwt,
                                jwt_required)
from app.ops.apidoc import Blueprint

from app.auth import blocklist, services
from app.auth.schemas import (CredentialsSchema, ExportSchema, LogoutSchema, RegisterSchema, SettingsSchema,
                              TokensSchema, UserSchema)
from app.extensions import db, limit_key, limiter
from app.ops.errors import APIError, validation_error

bp = Blueprint("auth_api", __name__, url_prefix="/api/v1", description="Accounts and tokens")


def _login_ip_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def _login_account_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN_ACCOUNT"]


def _register_limit() -> str:
    return current_app.config["RATELIMIT_REGISTER"]


def login_ip_key() -> str:
    """Rate-limit key for log-in attempts from one address."""
    return limit_key("login-ip", request.remote_addr or "-")


def login_account_key() -> str:
    """Rate-limit key for log-in attempts on one account (the normalised email sent)."""
    payload = request.get_json(silent=True) if request.is_json else request.form
    raw = payload.get("email") if hasattr(payload, "get") else None  # a JSON list has no email
    try:
        email = services.normalize_email(raw) if isinstance(raw, str) else ""
    except services.AccountError:
        email = ""
    return limit_key("login-account", email or "-")


@bp.post("/auth/register")
@limiter.limit(_register_limit, key_func=login_ip_key)
@bp.arguments(RegisterSchema)
@bp.response(201, UserSchema)
def register(payload):
    """Create an account."""
    try:
        return services.register_user(payload["email"], payload["password"])
    except services.AccountError as exc:
        raise _account_error(exc) from None


@bp.post("/auth/login")
@limiter.limit(_login_ip_limit, key_func=login_ip_key)
@limiter.limit(_login_account_limit, key_func=login_account_key)
@bp.arguments(CredentialsSchema)
@bp.response(200, TokensSchema)
def login(payload):
    """Exchange email and password for an access and a refresh token."""
    user = services.authenticate(payload["email"], payload["password"])
    db.session.commit()  # keep the audit row, success or failure
    if user is None:
        raise APIError(401, "Invalid email or password.", code="invalid_credentials")
    claims = {"ver": user.token_version}
    return {
        "access_token": create_access_token(identity=str(user.id), additional_claims=claims),
        "refresh_token": create_refresh_token(identity=str(user.id), additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    }


@bp.post("/auth/refresh")
@jwt_required(refresh=True)
@bp.response(200, TokensSchema)
def refresh():
    """Issue a new access token for a refresh token."""
    token = create_access_token(identity=str(current_user.id),
                                additional_claims={"ver": current_user.token_version})
    return {"access_token": token, "token_type": "Bearer",
            "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())}


@bp.post("/auth/logout")
@jwt_required(verify_type=False)
@bp.response(200, LogoutSchema)
def logout():
    """Revoke the presented token (access or refresh)."""
    claims = get_jwt()
    blocklist.revoke(claims["jti"], float(claims["exp"]))
    services.audit("token_revoked", current_user.id, token_type=claims.get("type"))
    db.session.commit()
    return {"revoked": True, "token_type": claims.get("type")}


@bp.get("/me")
@jwt_required()
@bp.response(200, UserSchema)
def me():
    """Return the current account."""
    return current_user


@bp.patch("/me")
@jwt_required()
@bp.arguments(SettingsSchema)
@bp.response(200, UserSchema)
def update_me(payload):
    """Change the account's settings: the base currency, the benchmark index (null: the default)."""
    for field in ("base_currency", "benchmark"):  # validated by SettingsSchema; one commit for both
        if field in payload:
            setattr(current_user, field, payload[field])
    db.session.commit()
    return current_user


@bp.delete("/me")
@jwt_required()
@bp.response(204)
def delete_me():
    """Erase the account and every row that belongs to it."""
    claims = get_jwt()
    services.delete_account(current_user)
    blocklist.revoke(claims["jti"], float(claims["exp"]))


@bp.get("/me/export")
@jwt_required()
@bp.response(200, ExportSchema, headers={"Content-Disposition": {"schema": {"type": "string"}}})
def export_me():
    """Return all of the user's data as JSON (a download)."""
    return services.export_user_data(current_user), 200, {
        "Content-Disposition": 'attachment; filename="tickerdesk-export.json"'}


def _account_error(exc: services.AccountError) -> APIError:
    if exc.status == 409:
        return APIError(409, exc.message, code="conflict", details={"fields": {exc.field: [exc.message]}})
    return validation_error({exc.field or "_schema": [exc.message]}, exc.message)
