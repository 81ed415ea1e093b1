"""Command-line tasks: migrate, deploy diagrams, seed demo data, run the scheduler, back up and restore."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.engine import audit
from app.extensions import db

CLI = audit.Origin("cli")


def _index_cases(everything: bool) -> None:
    """Index the cases that have no search document (or every case)."""
    from app.services.case_search import backfill

    with audit.origin(CLI), db.database.transaction() as session:
        count = backfill(session, everything)
    if count:
        click.echo(f"case search: {count} case(s) indexed")


def _list_assessments() -> None:
    """Write the list row of every weekly assessment that has none (``assessment_week``)."""
    from app.services.assessment_weeks import backfill

    with audit.origin(CLI), db.database.transaction() as session:
        count = backfill(session, current_app.extensions["runtime"])
    if count:
        click.echo(f"weekly assessments: {count} listed")


def _register_search(app: Flask) -> None:
    @app.cli.command("search-reindex")
    def search_reindex_command() -> None:
        """Rebuild every case's search document (``flask migrate`` indexes the missing ones)."""
        _index_cases(everything=True)


def _register_rollup(app: Flask) -> None:
    @app.cli.command("cycle-rollup")
    def cycle_rollup_command() -> None:
        """Count the cycle times of the sealed months not counted yet (the scheduler does it hourly)."""
        from app.services.analytics.rollup import fill_missing

        filled = fill_missing(db.database.transaction)
        click.echo(f"cycle times: {filled} month(s) counted")


def register_cli(app: Flask) -> None:
    _register_search(app)
    _register_rollup(app)
    @app.cli.command("migrate")
    def migrate_command() -> None:
        """Apply the database migrations (alembic upgrade head)."""
        from app.data.migrate import upgrade

        upgrade(current_app.config["DATABASE_URL"])
        click.echo("database is up to date")
        _index_cases(everything=False)
        _list_assessments()

    @app.cli.command("deploy")
    def deploy_command() -> None:
        """Deploy bpmn/ and forms/ (identical content deploys nothing new)."""
        from app.engine.errors import DefinitionError
        from app.services.setup import deploy_folder, ensure_departments

        with audit.origin(CLI), db.database.transaction() as session:
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
        from app.extensions import runtime
        from app.services.demo_cases import seed_demo_cases
        from app.services.setup import seed_demo

        with audit.origin(CLI), db.database.transaction() as session:
            created = seed_demo(session)
        click.echo(f"demo users created: {', '.join(created) if created else 'none (already there)'}")
        with audit.origin(CLI), db.database.transaction() as session:
            cases = seed_demo_cases(session, runtime())
        click.echo(f"demo cases opened: {', '.join(cases) if cases else 'none'}")

    @app.cli.command("scheduler")
    def scheduler_command() -> None:
        """Run the timer scheduler in the foreground (its own process in production)."""
        from app.scheduler import run_forever

        run_forever(current_app._get_current_object())  # type: ignore[attr-defined]  # the proxied app

    _register_backup(app)

    audit_group = AppGroup("audit", help="The audit trail's hash chain: verify it, publish its head.")

    @audit_group.command("verify")
    @click.option("--published", "published_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
                  help="A file with published heads (lines with seq=N hash=H: the daily log, an export).")
    @click.option("--head", "heads", multiple=True, metavar="SEQ:HASH", help="A published head to check.")
    def audit_verify(published_files: tuple[str, ...], heads: tuple[str, ...]) -> None:
        """Walk the hash chain and report the first edited, deleted, inserted or reordered event
        and a truncated tail (exit status 1 when the chain is broken)."""
        from app.services.audit_trail import parse_published, verify_chain

        published = []
        for path in published_files:
            with open(path, encoding="utf-8-sig", errors="replace") as source:
                published += parse_published(source.read())
        for item in heads:
            found = parse_published(f"seq={item.partition(':')[0]} hash={item.partition(':')[2]}")
            if not found:
                raise click.BadParameter(f"{item!r}: expected SEQ:HASH (64 hex digits)", param_hint="--head")
            published += found
        result = verify_chain(db.database, published)
        head_seq, head_hash = result.stored_head
        click.echo(f"stored head: seq={head_seq} hash={head_hash}")
        click.echo(f"checked {result.checked} events in chain order, ending at seq={result.last_seq} "
                   f"hash={result.last_hash}; {len(result.published_checked)} published heads")
        finding = result.finding
        if result.ok or finding is None:
            click.echo("OK: the audit chain is intact")
            return
        click.echo(f"BROKEN: {finding.kind} at seq {finding.seq} (event id {finding.event_id}): {finding.detail}",
                   err=True)
        raise SystemExit(1)

    @audit_group.command("head")
    @click.option("--publish", is_flag=True, help="Also append it to AUDIT_HEAD_LOG (what the daily job does).")
    def audit_head(publish: bool) -> None:
        """Print the chain head (seq and hash) to keep outside the database."""
        from app.services.audit_trail import chain_head, publish_head

        if publish:
            seq, digest = publish_head(db.database, current_app.config.get("AUDIT_HEAD_LOG"))
        else:
            with db.database.session() as session:
                seq, digest = chain_head(session)
        click.echo(f"seq={seq} hash={digest}")

    app.cli.add_command(audit_group)


def _register_backup(app: Flask) -> None:
    @app.cli.command("backup")
    @click.argument("path", type=click.Path(dir_okay=False))
    def backup_command(path: str) -> None:
        """Write the database and the uploads to PATH (a .tar.gz with a manifest holding the
        audit chain head); safe while the app runs."""
        from app.services.backup import BackupError, backup

        try:
            manifest = backup(db.database, current_app.config["UPLOAD_DIR"], path)
        except BackupError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"backup written to {path}: {manifest.dialect} at revision {manifest.revision}, "
                   f"{sum(manifest.counts.values())} rows, {len(manifest.uploads)} uploads, "
                   f"audit head seq={manifest.audit_head['seq']} hash={manifest.audit_head['hash']}")

    @app.cli.command("restore")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--force", is_flag=True, help="Replace the content of a database that already holds data.")
    def restore_command(path: str, force: bool) -> None:
        """Restore a backup archive into DATABASE_URL and UPLOAD_DIR, then check rows, schema
        revision and the audit chain against its manifest (stop the app and the scheduler first)."""
        from app.services.backup import BackupError, restore

        try:
            manifest = restore(db.database, current_app.config["UPLOAD_DIR"], path, force=force)
        except BackupError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"restored {path}: revision {manifest.revision}, {sum(manifest.counts.values())} rows, "
                   f"{len(manifest.uploads)} uploads; audit chain verified up to seq={manifest.audit_head['seq']}")
