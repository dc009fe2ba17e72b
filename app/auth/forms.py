"""The account forms (CSRF-protected by Flask-WTF)."""
from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app.analysis.portfolio import COST_BASIS_METHODS
from app.analysis.risk import MAX_RISK_FREE_RATE
from app.auth.schemas import CURRENCIES, MAX_PASSWORD, MIN_PASSWORD
from app.portfolio.amounts import AmountError, parse_form_amount, plain

try:
    from wtforms.fields import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) tuples (deprecated since)
    def SelectChoice(value: str, label: str) -> tuple[str, str]:  # noqa: N802 - stands in for the class
        return value, label


# WTForms' Length fills in %(min)d (and would %(max)d) itself.
PASSWORD_LENGTH_MESSAGE = _l("The password must be at least %(min)d characters long.")


class LoginForm(FlaskForm):
    """Log in with email and password."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_PASSWORD)])
    remember = BooleanField(_l("Keep me logged in"))


class RegisterForm(FlaskForm):
    """Create an account."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(), Length(min=MIN_PASSWORD, max=MAX_PASSWORD, message=PASSWORD_LENGTH_MESSAGE)])
    confirm = PasswordField(_l("Repeat the password"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])


class ChangePasswordForm(FlaskForm):
    """Change the password."""

    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[
        DataRequired(), Length(min=MIN_PASSWORD, max=MAX_PASSWORD, message=PASSWORD_LENGTH_MESSAGE)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[
        DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))])


COST_BASIS_LABELS = {"fifo": _l("FIFO: a sale takes the oldest shares first"), "average": _l("Moving average cost")}
MAX_RATE_PERCENT = Decimal(str(MAX_RISK_FREE_RATE)) * 100
RATE_PLACES = Decimal("0.000001")  # the API's precision (SettingsSchema.risk_free_rate)
RATE_MESSAGE = _l("Enter the rate in percent a year, a number from -%(max)s to %(max)s (2.5 for 2.5 %%), "
                  "or leave it empty for 0.", max=plain(MAX_RATE_PERCENT))


def percent_text(fraction: Decimal | None) -> str:
    """A stored rate (a fraction a year) as the form shows it in percent: 0.025 -> "2.5"; None -> ""."""
    return "" if fraction is None else plain(Decimal(fraction) * 100)


def parse_percent(text: str | None) -> Decimal | None:
    """The rate typed in percent ("2.5", "2,5", "2.5 %") as a fraction (0.025); None when empty.

    Raises ValueError (with the message to show) for anything else or beyond MAX_RISK_FREE_RATE.
    """
    text = (text or "").strip().removesuffix("%").strip()
    if not text:
        return None
    if "," in text and "." not in text:
        text = text.replace(",", ".", 1)
    try:
        percent = parse_form_amount(text)
    except AmountError:
        raise ValueError(RATE_MESSAGE) from None
    if abs(percent) > MAX_RATE_PERCENT:
        raise ValueError(RATE_MESSAGE)
    return (percent / 100).quantize(RATE_PLACES)


class SettingsForm(FlaskForm):
    """Account settings."""

    base_currency = SelectField(_l("Base currency"), choices=list(CURRENCIES))
    risk_free_rate = StringField(_l("Risk-free rate (% a year, for the Sharpe ratio)"), validators=[Length(max=64)])
    cost_basis_method = SelectField(_l("Cost basis of a sale"), choices=[
        SelectChoice(m, COST_BASIS_LABELS.get(m, m)) for m in COST_BASIS_METHODS])
    # The language's own name, so it can be found whichever language the page is in.
    language = SelectField(_l("Language"), choices=[
        SelectChoice("", _l("As the browser asks")), SelectChoice("en", "English"), SelectChoice("de", "Deutsch")])
    theme = SelectField(_l("Colour theme"), choices=[
        SelectChoice("auto", _l("As the device is set")), SelectChoice("light", _l("Light")),
        SelectChoice("dark", _l("Dark"))])

    def validate_risk_free_rate(self, field: StringField) -> None:
        """Parse the percentage; the fraction to store is kept as `field.fraction`."""
        try:
            field.fraction = parse_percent(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class DeleteAccountForm(FlaskForm):
    """Erase the account: the user confirms with the password."""

    password = PasswordField(_l("Your password"), validators=[DataRequired()])
    confirm_text = StringField(_l('Type "DELETE" to confirm'), validators=[DataRequired()])
