"""Command-line tools: `flask universe seed`, `flask users create-admin EMAIL`."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

universe_cli = AppGroup("universe", help="The stock universe.")
users_cli = AppGroup("users", help="User accounts.")


@universe_cli.command("seed")
def seed_command() -> None:
    """Load every index that pytickersymbols ships into the database (idempotent)."""
    from app.stocks.services import seed_universe

    counts = seed_universe()
    click.echo("universe: {stocks} stocks ({created} new, {updated} updated; memberships "
               "+{memberships_added}/-{memberships_removed})".format(**counts))


@users_cli.command("create-admin")
@click.argument("email")
@click.option("--password", envvar="ADMIN_PASSWORD", help="Password for a new account (or ADMIN_PASSWORD).")
def create_admin_command(email: str, password: str | None) -> None:
    """Make EMAIL an administrator, creating the account when a password is given."""
    from app.auth import services
    from app.extensions import db
    from app.models import User

    try:
        normalized = services.normalize_email(email)
    except services.AccountError as exc:
        raise click.ClickException(exc.message) from None
    user = db.session.scalar(select(User).where(User.email == normalized))
    if user is None:
        if not password:
            raise click.ClickException(f"No account for {normalized}; pass --password to create one.")
        try:
            user = services.register_user(normalized, password)
        except services.AccountError as exc:
            raise click.ClickException(exc.message) from None
    user.is_admin = True
    db.session.commit()
    click.echo(f"{normalized} is an administrator.")
