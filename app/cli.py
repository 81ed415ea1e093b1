"""Command-line tasks: migrate, deploy diagrams, seed demo data, run the scheduler."""

from __future__ import annotations

import click
from flask import Flask, current_app

from app.extensions import db


def register_cli(app: Flask) -> None:
    @app.cli.command("migrate")
    def migrate_command() -> None:
        """Apply the database migrations (alembic upgrade head)."""
        from app.data.migrate import upgrade

        upgrade(current_app.config["DATABASE_URL"])
        click.echo("database is up to date")

    @app.cli.command("deploy")
    def deploy_command() -> None:
        """Deploy bpmn/ and forms/ (identical content deploys nothing new)."""
        from app.engine.errors import DefinitionError
        from app.services.setup import deploy_folder, ensure_departments

        with db.database.transaction() as session:
            ensure_departments(session)
            try:
                result = deploy_folder(
                    session, current_app.config["BPMN_DIR"], current_app.config["FORMS_DIR"]
                )
            except DefinitionError as exc:
                for problem in exc.problems:
                    click.echo(f"  {problem.describe()}", err=True)
                raise click.ClickException("deployment refused") from exc
        for definition in result.definitions:
            state = "new" if definition in result.created else "unchanged"
            click.echo(f"{definition.key} v{definition.version} ({state})")

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create the demo organisation (password 'demo'); running it again changes nothing."""
        from app.services.setup import seed_demo

        with db.database.transaction() as session:
            created = seed_demo(session)
        click.echo(f"demo users created: {', '.join(created) if created else 'none (already there)'}")

    @app.cli.command("scheduler")
    def scheduler_command() -> None:
        """Run the timer scheduler in the foreground (its own process in production)."""
        from app.scheduler import run_forever

        run_forever(current_app._get_current_object())  # type: ignore[attr-defined]  # the proxied app
