"""`coc up`: run the whole embedded stack in the foreground (registered on the `coc` typer app as `up`)."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError

from core.errors import ConfigError


def _echo(line: str) -> None:
    typer.echo(line)


def _echo_err(line: str) -> None:
    typer.echo(line, err=True)


def up(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="State dir (default ./.coc; COC_DATA_DIR)."),
    api_port: int | None = typer.Option(None, "--api-port", help="API port (COC_API_PORT, default 8000)."),
    prefect_port: int | None = typer.Option(None, "--prefect-port", help="Prefect server port (COC_PREFECT_PORT)."),
    s3_port: int | None = typer.Option(None, "--s3-port", help="S3 store port (COC_S3_PORT, default 8333)."),
) -> None:
    """Run Chain of Care on this machine (database, S3 store, Prefect, flows, API) until Ctrl-C."""
    from api.stack.supervisor import StackError, ensure_writable_dir, run
    from core.settings import Settings, load_settings

    overrides = {k: v for k, v in {"data_dir": data_dir, "api_port": api_port, "prefect_port": prefect_port,
                                   "s3_port": s3_port}.items() if v is not None}
    try:
        # Validate first without touching the disk: load_settings writes secrets.json into the data dir,
        # and an unwritable data dir must be reported as such, not as a stack trace from that write.
        try:
            pre = Settings(**overrides)
        except ValidationError:
            load_settings(**overrides)  # raises the one-line ConfigError naming the setting
            raise
        if not pre.embedded:
            raise ConfigError("COC_MODE=production: `coc up` runs only the embedded stack; "
                              "run production with docker compose (see README)")
        ensure_writable_dir(pre.data_dir)
        settings = load_settings(**overrides)
        from evidence.bootstrap import bootstrap

        bootstrap(settings)  # the composition root (hooks) before the supervisor migrates and seeds
    except (ConfigError, StackError) as exc:
        _echo_err(f"error: {exc.detail}")
        raise typer.Exit(2) from None
    except OSError as exc:  # e.g. secrets.json unreadable
        _echo_err(f"error: cannot use the data directory: {exc}")
        raise typer.Exit(2) from None
    code = run(settings, say=_echo, err=_echo_err)
    raise typer.Exit(code)


if __name__ == "__main__":  # `python -m api.cli.up` works before the `coc` app registers the command
    typer.run(up)
