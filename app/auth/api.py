"""The auth JSON API: register, log in, refresh, log out, me, export, erase."""
from __future__ import annotations

from decimal import Decimal

from flask import current_app, g, request
from flask_jwt_extended import (create_access_token, create_refresh_token, current_user, get_jwt,
                                jwt_required)
from app.ops.apidoc import Blueprint

from app.auth import blocklist, services, sessions
from app.auth.schemas import (CredentialsSchema, DeleteAccountSchema, ExportSchema, LogoutAllSchema, LogoutSchema,
                              RegisterSchema, SettingsSchema, TokensSchema, UserSchema)
from app.extensions import db, limit_key, limiter
from app.ops.errors import APIError, validation_error

bp = Blueprint("auth_api", __name__, url_prefix="/api/v1", description="Accounts and tokens")


def _register_limit() -> str:
    return current_app.config["RATELIMIT_REGISTER"]


def login_ip_key() -> str:
    """Rate-limit key for requests from one address (log-in attempts, registrations)."""
    return limit_key("login-ip", request.remote_addr or "-")


def _login_email() -> str:
    """The normalised email a log-in attempt names ("" when it names none)."""
    payload = request.get_json(silent=True) if request.is_json else request.form
    raw = payload.get("email") if hasattr(payload, "get") else None  # a JSON list has no email
    try:
        return services.normalize_email(raw) if isinstance(raw, str) and len(raw) <= 320 else ""
    except services.AccountError:
        return ""


def login_pair_key() -> str:
    """Rate-limit key for failed log-ins on one account from one address."""
    return limit_key("login-pair", f"{_login_email() or '-'}|{request.remote_addr or '-'}")


def login_account_key() -> str:
    """Rate-limit key for failed log-ins on one account from anywhere."""
    return limit_key("login-account", _login_email() or "-")


def _from_known_address() -> bool:
    """Whether the account named has logged in from this address before (its owner, most likely)."""
    email = _login_email()
    return bool(email) and services.has_logged_in_from(email, request.remote_addr)


def _login_failed(_response) -> bool:
    return bool(g.get("tickerdesk_login_failed"))


def login_failed() -> None:
    """Count this request against the failed-log-in budgets (page and API share them)."""
    g.tickerdesk_login_failed = True


# One budget for the log-in page and the API. Every attempt counts per address; failures count
# per account and address, with a longer window behind the short one (a backoff), and per
# account from anywhere, except from addresses the account has logged in from before: an
# attacker can neither guess on without slowing down nor keep the owner out.
login_limits = (
    limiter.shared_limit(lambda: current_app.config["RATELIMIT_LOGIN"], scope="login-ip",
                         key_func=login_ip_key, methods=["POST"]),
    limiter.shared_limit(lambda: current_app.config["RATELIMIT_LOGIN_ACCOUNT"], scope="login-pair",
                         key_func=login_pair_key, deduct_when=_login_failed, methods=["POST"]),
    limiter.shared_limit(lambda: current_app.config["RATELIMIT_LOGIN_ACCOUNT_ANY"], scope="login-account",
                         key_func=login_account_key, deduct_when=_login_failed,
                         exempt_when=_from_known_address, methods=["POST"]),
)


def throttle_login(view):
    """Apply the shared log-in budgets to a view."""
    for limit in login_limits:
        view = limit(view)
    return view


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
@throttle_login
@bp.arguments(CredentialsSchema)
@bp.response(200, TokensSchema)
def login(payload):
    """Exchange email and password for a fresh access token and a refresh token (one log-in session)."""
    user = services.authenticate(payload["email"], payload["password"])
    if user is None:
        db.session.commit()  # keep the audit row
        login_failed()
        raise APIError(401, "Invalid email or password.", code="invalid_credentials")
    row = sessions.start(user, sessions.API, sessions.api_lifetime())
    db.session.commit()
    claims = {"sid": row.id}
    return {
        "access_token": create_access_token(identity=str(user.id), additional_claims=claims, fresh=True),
        "refresh_token": create_refresh_token(identity=str(user.id), additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    }


@bp.post("/auth/refresh")
@jwt_required(refresh=True)
@bp.response(200, TokensSchema)
def refresh():
    """Issue a new access token for a refresh token (of the same log-in session; not fresh)."""
    token = create_access_token(identity=str(current_user.id), additional_claims={"sid": get_jwt()["sid"]})
    return {"access_token": token, "token_type": "Bearer",
            "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())}


@bp.post("/auth/logout")
@jwt_required(verify_type=False)
@bp.response(200, LogoutSchema)
def logout():
    """End the presented token's log-in session: its access and refresh tokens and its live sockets."""
    claims = get_jwt()
    blocklist.revoke(claims["jti"], float(claims["exp"]))
    sessions.end(claims["sid"])
    services.audit("token_revoked", current_user.id, token_type=claims.get("type"))
    db.session.commit()
    return {"revoked": True, "token_type": claims.get("type")}


@bp.post("/auth/logout-all")
@jwt_required(verify_type=False)
@bp.response(200, LogoutAllSchema)
def logout_all():
    """End every log-in session of the account: all pages, remember-me cookies, tokens and sockets."""
    ended = services.log_out_everywhere(current_user.id)
    db.session.commit()
    return {"sessions_ended": ended}


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
    """Change the account's settings: base currency, benchmark index, risk-free rate, cost basis method."""
    if payload.get("risk_free_rate") is not None:  # a float on the wire; stored as the decimal it was written as
        payload["risk_free_rate"] = Decimal(repr(payload["risk_free_rate"]))
    for field in ("base_currency", "benchmark", "risk_free_rate", "cost_basis_method"):  # one commit for all
        if field in payload:
            setattr(current_user, field, payload[field])
    db.session.commit()
    return current_user


@bp.delete("/me")
@jwt_required(fresh=True)
@bp.arguments(DeleteAccountSchema)
@bp.response(204)
def delete_me(payload):
    """Erase the account and every row that belongs to it (a fresh token and the password)."""
    if not services.verify_password(current_user.row, payload["password"]):
        raise validation_error({"password": ["The password is not correct."]}, "The password is not correct.")
    claims = get_jwt()
    services.delete_account(current_user.row)
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
