"""Account pages: register, log in, log out, account (password, settings, export, erase)."""
from __future__ import annotations

import re
from decimal import Decimal

from flask import (Blueprint, Response, current_app, flash, has_request_context, jsonify, redirect, render_template,
                   request, url_for)
from flask_babel import gettext as _, ngettext, refresh as refresh_language
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import services, sessions
from app.auth.api import login_failed, login_ip_key, throttle_login
from app.auth.forms import (COST_BASIS_LABELS, ChangePasswordForm, DeleteAccountForm, LoginForm, RegisterForm,
                            SettingsForm, percent_text)
from app.extensions import db, limiter
from app.ops.i18n import LANGUAGE_NAMES, number
from app.ops.errors import APIError, rate_limited, seconds_until_allowed, wants_json

bp = Blueprint("auth", __name__)
bp.app_context_processor(lambda: {"page_theme": page_theme()})
FORMS = {"auth.login": (LoginForm, "auth/login.html"), "auth.register": (RegisterForm, "auth/register.html")}


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(exc: RateLimitExceeded):
    """Log-in or registration over its budget: the form again (what was typed kept, never the password),
    saying how long to wait. Other pages of this blueprint answer the standard 429."""
    if request.endpoint not in FORMS or wants_json():
        return rate_limited(exc)
    form_class, template = FORMS[request.endpoint]
    form = form_class()
    wait = seconds_until_allowed()
    minutes = -(-wait // 60)
    when = (ngettext("%(num)d second", "%(num)d seconds", wait) if wait < 120
            else ngettext("%(num)d minute", "%(num)d minutes", minutes))
    message = _("Too many attempts from here. Please wait %(when)s, then try again.", when=when)
    return render_template(template, form=form, wait_message=message), 429


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_REGISTER"], key_func=login_ip_key, methods=["POST"])
def register():
    """Show and handle the registration form."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register_user(form.email.data, form.password.data)
        except services.AccountError as exc:
            getattr(form, exc.field or "email").errors.append(exc.message)
        else:
            services.audit("login_succeeded", user.id, via="register")
            _start_page_session(user, remember=False)
            flash(_("Welcome to Tickerdesk! Your account is ready."), "success")
            return redirect(url_for("dashboard.index"))
    return render_template("auth/register.html", form=form), (400 if form.errors else 200)


@bp.route("/login", methods=["GET", "POST"])
@throttle_login
def login():
    """Show and handle the log-in form."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            _start_page_session(user, remember=bool(form.remember.data))
            return redirect(_safe_next(request.args.get("next")))
        db.session.commit()  # keep the audit row
        login_failed()
        form.password.errors.append(_("Invalid email or password."))
    return render_template("auth/login.html", form=form), (400 if form.errors else 200)


@bp.post("/logout")
def logout():
    """End this log-in session: its cookies and live sockets (POST with the CSRF token)."""
    if current_user.is_authenticated:
        sessions.end(current_user.login_session_id)
        db.session.commit()
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/logout-all")
@login_required
def logout_all():
    """End every log-in session of the account, this one included (POST with the CSRF token)."""
    ended = services.log_out_everywhere(current_user.id)
    db.session.commit()
    logout_user()
    flash(ngettext("You are logged out everywhere (%(num)d session ended).",
                   "You are logged out everywhere (%(num)d sessions ended).", ended), "info")
    return redirect(url_for("auth.login"))


def _start_page_session(user, remember: bool) -> None:
    """Open a log-in session for the pages and put its id in the session (and remember-me) cookie."""
    sessions.start(user, sessions.PAGE, sessions.page_lifetime(remember))
    db.session.commit()
    login_user(user, remember=remember)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """Show the account page and handle its forms (which one is named by the submit button)."""
    password_form = ChangePasswordForm(prefix="pw")
    settings_form = SettingsForm(prefix="settings", base_currency=current_user.base_currency
                                 or current_app.config["BASE_CURRENCY"],
                                 risk_free_rate=percent_text(current_user.risk_free_rate),
                                 cost_basis_method=current_user.cost_basis_method
                                 if current_user.cost_basis_method in COST_BASIS_LABELS else "fifo",
                                 language=current_user.locale or "", theme=current_user.theme or "auto")
    delete_form = DeleteAccountForm(prefix="del")
    status = 200
    action = request.form.get("action")
    if action == "password" and password_form.validate_on_submit():
        try:
            services.change_password(current_user, password_form.current_password.data,
                                     password_form.new_password.data)
        except services.AccountError as exc:
            target = password_form.new_password if exc.field == "password" else password_form.current_password
            target.errors.append(exc.message)
        else:
            remember = bool(request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")))
            _start_page_session(current_user._get_current_object(), remember)  # commits the change too
            flash(_("Your password was changed. Other sessions and tokens are logged out."), "success")
            return redirect(url_for("auth.account"))
    elif action == "settings" and settings_form.validate_on_submit():
        user = current_user._get_current_object()
        user.risk_free_rate = settings_form.risk_free_rate.fraction
        user.cost_basis_method = settings_form.cost_basis_method.data
        user.locale = settings_form.language.data or None
        user.theme = settings_form.theme.data
        try:
            services.set_base_currency(user, settings_form.base_currency.data)  # commits all three
        except services.AccountError as exc:
            db.session.rollback()
            settings_form.base_currency.errors.append(exc.message)
        else:
            refresh_language()  # the message in the language just chosen, as the page it is shown on
            rate = number(Decimal(user.risk_free_rate or 0) * 100, 10, at_least=0)
            flash(_("Base currency set to %(currency)s; risk-free rate %(rate)s %% a year; cost basis: %(method)s.",
                    currency=user.base_currency, rate=rate, method=COST_BASIS_LABELS[user.cost_basis_method]),
                  "success")
            flash(_("Language: %(language)s; colour theme: %(theme)s.",
                    language=LANGUAGE_NAMES.get(user.locale or "", _("as the browser asks")),
                    theme={"auto": _("as the device is set"), "light": _("light"), "dark": _("dark")}[user.theme]),
                  "success")
            return redirect(url_for("auth.account"))
    elif action == "delete" and delete_form.validate_on_submit():
        if delete_form.confirm_text.data.strip() != "DELETE":
            delete_form.confirm_text.errors.append(_("Type DELETE in capitals to confirm."))
        elif not services.verify_password(current_user, delete_form.password.data):
            delete_form.password.errors.append(_("The password is not correct."))
        else:
            services.delete_account(current_user)
            logout_user()
            flash(_("Your account and all its data were deleted."), "info")
            return redirect(url_for("auth.register"))
    if request.method == "POST":
        status = 400
    return render_template("auth/account.html", password_form=password_form, settings_form=settings_form,
                           delete_form=delete_form), status


@bp.get("/account/export")
@login_required
def export():
    """Download all of the user's data as JSON."""
    response: Response = jsonify(services.export_user_data(current_user))
    response.headers["Content-Disposition"] = 'attachment; filename="tickerdesk-export.json"'
    return response


THEMES = ("auto", "light", "dark")
THEME_COOKIE = "td_theme"


@bp.post("/theme")
def theme():
    """Choose the colour theme: saved on the account, or in a cookie before logging in (CSRF-checked).

    The page's toggle sends it with fetch (204) and switches at once; without JavaScript the form
    posts and comes back to the page it was on.
    """
    chosen = request.form.get("theme", "")
    if chosen not in THEMES:
        raise APIError(400, f"Choose a theme: {', '.join(THEMES)}.", code="validation_error",
                       details={"fields": {"theme": [f"Must be one of: {', '.join(THEMES)}."]}})
    if current_user.is_authenticated:
        current_user.theme = chosen
        db.session.commit()
    response = (Response(status=204) if wants_json()
                else redirect(_safe_next(request.form.get("next"))))
    response.set_cookie(THEME_COOKIE, chosen, max_age=365 * 86400, samesite="Lax",
                        secure=request.is_secure, httponly=True)
    return response


def page_theme() -> str:
    """The theme this page is drawn in: the account's, else the cookie's, else the browser's ("auto")."""
    if not has_request_context():
        return "auto"
    if current_user.is_authenticated:
        return current_user.theme or "auto"
    chosen = request.cookies.get(THEME_COOKIE, "auto")
    return chosen if chosen in THEMES else "auto"


# A same-site path: one "/" then printable URL characters only (no "//", "/\\", control
# characters or spaces, which browsers drop or reinterpret: "/\t/evil.example" is "//evil.example").
_SAFE_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?#]*")


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths; never an open redirect.
    if target and len(target) <= 2048 and _SAFE_PATH.fullmatch(target):
        return target
    return url_for("dashboard.index")
