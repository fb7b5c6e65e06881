"""`coc retention`: extend preservation of an item or a case (files' Object Lock with it), run the purge sweep."""

from __future__ import annotations

import typer

from api.cli.common import JsonOpt, api_errors, client, emit

retention_app = typer.Typer(help="Retention: extend preservation; purge destroyed items' files after their lock.",
                            no_args_is_help=True)

UntilOpt = typer.Option(None, "--until", help="Keep until this date (ISO 8601, e.g. 2050-01-01T00:00:00Z; "
                                               "default: the jurisdiction's default extension). Never shorter.")
ByOpt = typer.Option("staff", "--requested-by", help="staff | survivor (the survivor asked, through staff).")


@retention_app.command("extend")
@api_errors
def retention_extend(item_id: str = typer.Argument(..., help="Item id (barcode)."), until: str = UntilOpt,
                     requested_by: str = ByOpt, as_json: bool = JsonOpt) -> None:
    """Extend an item's preservation: its retention date and every stored file's Object Lock."""
    with client() as api:
        out = api.extend_preservation(item_id, until=until, requested_by=requested_by)
    emit(out, as_json, title=f"Item {item_id} kept until {out.get('retention_until')}")


@retention_app.command("extend-case")
@api_errors
def retention_extend_case(case_id: str = typer.Argument(..., help="Case id."), until: str = UntilOpt,
                          requested_by: str = ByOpt, as_json: bool = JsonOpt) -> None:
    """Extend the preservation of every item of a case that is not destroyed."""
    with client() as api:
        rows = api.extend_case_preservation(case_id, until=until, requested_by=requested_by)
    emit(rows, as_json, title=f"{len(rows)} item(s) extended",
         columns=None if as_json else ["item_id", "previous_until", "retention_until"])


@retention_app.command("purge")
@api_errors
def retention_purge(as_json: bool = JsonOpt) -> None:
    """Delete destroyed items' files whose Object Lock has ended (coordinator); lists what is still locked."""
    with client() as api:
        out = api.purge_files()
    if as_json:
        emit(out, True)
        return
    emit({"deleted": len(out["deleted"]), "still_locked": len(out["still_locked"]), "held": len(out["held"]),
          "missing": len(out["missing"])}, False, title="Purge sweep")
    for row in out["still_locked"]:
        typer.echo(f"still locked: file {row['file_id']} of item {row['item_id']} until {row['retain_until']}")
