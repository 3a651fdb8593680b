"""`runner observe …` and `runner report`: Elementary observability."""

from __future__ import annotations

from pathlib import Path

import click

from runner.core import dbt
from runner.core import observe as obs
from runner.core import roles as role_setup
from runner.settings import load_settings


@click.group()
def observe() -> None:
    """Turn Elementary observability on (install its dbt package) and check it."""


@observe.command()
@click.option("--from", "mirror", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Local mirror folder holding elementary/ and dbt_utils/.")
def install(mirror: Path | None) -> None:
    """Install the pinned Elementary dbt package (and dbt_utils) into dbt_packages/.

    Then builds Elementary's own models so the next `runner build` records its results.

    Example: runner observe install --from /srv/dbt-mirror
    """
    settings = role_setup.as_transformer(load_settings())
    version = obs.install(settings, mirror)
    click.echo(f"installed elementary {version} and dbt_utils into {obs.packages_dir(settings)}")
    dbt.run_dbt_checked(settings, ["run", "--select", "elementary"])
    click.echo("observability is on: every dbt run now records its results")


@observe.command()
def uninstall() -> None:
    """Turn observability off: remove the Elementary package (and dbt_utils) from
    dbt_packages/. Its results stay in the elementary schema.

    Example: runner observe uninstall
    """
    settings = load_settings()
    removed = obs.uninstall(settings)
    click.echo(f"removed {', '.join(removed)}; observability is off" if removed
               else "observability was already off")


@observe.command()
def status() -> None:
    """Say whether observability is on, which version, and where results live.

    Example: runner observe status
    """
    state = obs.status(load_settings())
    if not state.enabled:
        click.echo("observability: off (no Elementary package in dbt_packages/)")
        click.echo("turn it on: runner observe install --from DIR")
        return
    click.echo(f"observability: on (elementary {state.version} in {state.path})")
    click.echo(f"results: schema {state.schema} of the warehouse database")


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the HTML report (default: report/elementary.html).")
def report(out: Path | None) -> None:
    """Build the Elementary HTML report (one self-contained file).

    Example: runner report --out /tmp/observability.html
    """
    settings = role_setup.as_transformer(load_settings())
    path = obs.report(settings, out or settings.project_dir / "report" / "elementary.html")
    click.echo(f"report written to {path}")


COMMANDS = [observe, report]


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--no-serve", is_flag=True, help="Only generate the site into target/.")
def docs(port: int, no_serve: bool) -> None:
    """Generate dbt's docs site (models, lineage, columns, the catalog) and serve it on
    127.0.0.1 until Ctrl-C.

    Example: runner docs --port 8080
    """
    from runner.commands.build import ensure_server
    from runner.core import docs as site

    settings = role_setup.as_transformer(ensure_server())
    target = site.generate(settings)
    click.echo(f"docs generated in {target}")
    if no_serve:
        return
    httpd = site.server(target, port)
    click.echo(f"serving the docs on http://127.0.0.1:{httpd.server_port}/ (Ctrl-C to stop)")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


COMMANDS.append(docs)


@click.command()
@click.option("--notify", metavar="URL", envvar="WAREHOUSE_ALERT_WEBHOOK", required=True,
              help="Slack (or Slack-compatible) webhook; default $WAREHOUSE_ALERT_WEBHOOK.")
@click.option("--days-back", type=click.IntRange(1, 30), default=1, show_default=True,
              help="Alert on results recorded this many days back (sent ones are not resent).")
def alerts(notify: str, days_back: int) -> None:
    """Send Elementary's new test failures and warnings to a webhook (`edr monitor`).

    Example: runner alerts --notify https://hooks.slack.com/services/T/B/X
    """
    settings = role_setup.as_transformer(load_settings())
    click.echo(obs.monitor(settings, notify, days_back))


COMMANDS.append(alerts)
