"""Command-line tools: `flask universe seed`, `flask users create-admin EMAIL`, `flask scores refresh`."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

universe_cli = AppGroup("universe", help="The stock universe.")
users_cli = AppGroup("users", help="User accounts.")
scores_cli = AppGroup("scores", help="Growth scores.")


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


@scores_cli.command("refresh")
@click.option("--index", "indices", multiple=True, help="An index to score (repeatable).")
@click.option("--country", "country_names", multiple=True, help="A country to score (repeatable).")
@click.option("--all", "everything", is_flag=True, help="Also score the whole universe as one.")
def refresh_scores_command(indices: tuple[str, ...], country_names: tuple[str, ...], everything: bool) -> None:
    """Recompute and cache growth scores (default: every index)."""
    from app.ops.errors import APIError
    from app.research import services
    from app.universe import INDEX_NAMES

    try:
        universes = [services.resolve_universe(index=name) for name in indices]
        universes += [services.resolve_universe(country=name) for name in country_names]
    except APIError as exc:
        raise click.ClickException(f"{exc.message} {exc.details}") from None
    if not universes:
        universes = [services.resolve_universe(index=name) for name in INDEX_NAMES]
    if everything:
        universes.append(services.resolve_universe())
    for row in services.refresh_scores(universes):
        click.echo("{universe}: {count} stocks scored in {seconds} s".format(**row))
