"""Account pages: register, log in, log out, account (password, settings, export, erase)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import services
from app.auth.api import login_account_key, login_ip_key
from app.auth.forms import ChangePasswordForm, DeleteAccountForm, LoginForm, RegisterForm, SettingsForm
from app.extensions import db, limiter

bp = Blueprint("auth", __name__)


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
            login_user(user)
            services.audit("login_succeeded", user.id, via="register")
            db.session.commit()
            flash("Welcome to Tickerdesk! Your account is ready.", "success")
            return redirect(url_for("dashboard.index"))
    return render_template("auth/register.html", form=form), (400 if form.errors else 200)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], key_func=login_ip_key, methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_ACCOUNT"], key_func=login_account_key,
               methods=["POST"])
def login():
    """Show and handle the log-in form."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        db.session.commit()
        if user is not None:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append("Invalid email or password.")
    return render_template("auth/login.html", form=form), (400 if form.errors else 200)


@bp.post("/logout")
def logout():
    """End the session (POST with the CSRF token, so other sites cannot log you out)."""
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """Show the account page and handle its forms (which one is named by the submit button)."""
    password_form = ChangePasswordForm(prefix="pw")
    settings_form = SettingsForm(prefix="settings", base_currency=current_user.base_currency
                                 or current_app.config["BASE_CURRENCY"])
    delete_form = DeleteAccountForm(prefix="del")
    status = 200
    action = request.form.get("action")
    if action == "password" and password_form.validate_on_submit():
        try:
            services.change_password(current_user, password_form.current_password.data,
                                     password_form.new_password.data)
        except services.AccountError as exc:
            password_form.current_password.errors.append(exc.message)
        else:
            db.session.commit()
            login_user(current_user)  # the session id carries the new token version
            flash("Your password was changed. Other sessions and tokens are logged out.", "success")
            return redirect(url_for("auth.account"))
    elif action == "settings" and settings_form.validate_on_submit():
        services.set_base_currency(current_user, settings_form.base_currency.data)
        flash(f"Base currency set to {current_user.base_currency}.", "success")
        return redirect(url_for("auth.account"))
    elif action == "delete" and delete_form.validate_on_submit():
        if delete_form.confirm_text.data.strip() != "DELETE":
            delete_form.confirm_text.errors.append('Type DELETE in capitals to confirm.')
        elif services.authenticate(current_user.email, delete_form.password.data) is None:
            db.session.commit()
            delete_form.password.errors.append("The password is not correct.")
        else:
            services.delete_account(current_user)
            logout_user()
            flash("Your account and all its data were deleted.", "info")
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


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths; never an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.index")
