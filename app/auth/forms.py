"""The account forms (CSRF-protected by Flask-WTF)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.auth.schemas import CURRENCIES, MAX_PASSWORD, MIN_PASSWORD


class LoginForm(FlaskForm):
    """Log in with email and password."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_PASSWORD)])
    remember = BooleanField("Keep me logged in")


class RegisterForm(FlaskForm):
    """Create an account."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[
        DataRequired(), Length(min=MIN_PASSWORD, max=MAX_PASSWORD,
                               message=f"The password must be at least {MIN_PASSWORD} characters long.")])
    confirm = PasswordField("Repeat the password", validators=[
        DataRequired(), EqualTo("password", message="The two passwords differ.")])


class ChangePasswordForm(FlaskForm):
    """Change the password."""

    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[
        DataRequired(), Length(min=MIN_PASSWORD, max=MAX_PASSWORD,
                               message=f"The password must be at least {MIN_PASSWORD} characters long.")])
    confirm = PasswordField("Repeat the new password", validators=[
        DataRequired(), EqualTo("new_password", message="The two passwords differ.")])


class SettingsForm(FlaskForm):
    """Account settings."""

    base_currency = SelectField("Base currency", choices=list(CURRENCIES))


class DeleteAccountForm(FlaskForm):
    """Erase the account: the user confirms with the password."""

    password = PasswordField("Your password", validators=[DataRequired()])
    confirm_text = StringField('Type "DELETE" to confirm', validators=[DataRequired()])
