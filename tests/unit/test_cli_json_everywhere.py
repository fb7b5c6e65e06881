"""Every `coc` command that prints something takes --json (for scripts); `coc up` is the foreground stack itself
(its machine-readable state is the stack.json file it writes)."""

from __future__ import annotations

import typer.main

from api.cli.main import app


def _leaves(command, path):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _leaves(sub, [*path, name])
    else:
        yield " ".join(path), {opt for param in command.params for opt in getattr(param, "opts", [])}


def test_every_command_but_up_takes_json() -> None:
    commands = dict(_leaves(typer.main.get_command(app), ["coc"]))
    assert len(commands) > 50
    assert [name for name, opts in commands.items() if "--json" not in opts and name != "coc up"] == []
