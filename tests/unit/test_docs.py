"""The docs stay true to the code: the configuration table is every setting with its
default, the commands table every subcommand with its options, and every link resolves."""

import argparse
import re
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel

from duanka.cli import build_parser
from duanka.settings import POLICY_FILE_VARIABLE, Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"


def table_rows(page: Path, heading: str) -> list[list[str]]:
    """The rows of the first table after `heading`, cells stripped, header row left out."""
    lines = page.read_text().splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
        elif rows:
            break
    return rows[2:]


def settings_defaults(model: BaseModel, prefix: str = "DUANKA_") -> dict[str, object]:
    """Every setting's environment variable and its default."""
    found: dict[str, object] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        variable = f"{prefix}{name.upper()}"
        if isinstance(value, BaseModel):
            found |= settings_defaults(value, f"{variable}__")
        else:
            found[variable] = value
    return found


def as_documented(value: object) -> str | None:
    """A default as the table writes it: ISO 8601 durations, plain literals; None for no
    default."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        if value.seconds == 0 and value.microseconds == 0:
            return f"P{value.days}D"
        hours, rest = divmod(int(value.total_seconds()), 3600)
        minutes, seconds = divmod(rest, 60)
        parts = [(hours, "H"), (minutes, "M"), (seconds, "S")]
        return "PT" + "".join(f"{n}{unit}" for n, unit in parts if n)
    return str(value)


def test_the_configuration_table_is_every_setting_with_its_default() -> None:
    rows = table_rows(DOCS / "configuration.md", "## Settings")
    documented = {row[0].strip("`"): row[1] for row in rows}
    expected = settings_defaults(Settings()) | {POLICY_FILE_VARIABLE: None}
    assert sorted(documented) == sorted(expected)
    for variable, default in expected.items():
        shown = as_documented(default)
        cell = documented[variable]
        if shown is None:
            assert cell == "—", variable
        elif shown == "":
            assert cell == "(empty)", variable
        else:
            assert cell == f"`{shown}`", variable


def subcommands() -> dict[str, argparse.ArgumentParser]:
    actions = build_parser()._subparsers._group_actions  # type: ignore[union-attr]
    [commands] = [a for a in actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def test_the_commands_table_is_every_subcommand_with_its_options() -> None:
    rows = table_rows(DOCS / "operations.md", "## Commands")
    documented = {}
    for row in rows:
        usage = row[0].strip("`")
        words = usage.split()
        assert words[0] == "duanka", usage
        documented[words[1]] = set(re.findall(r"--[a-z-]+", usage))
    parsers = subcommands()
    assert sorted(documented) == sorted(parsers)
    for name, parser in parsers.items():
        options = {
            option
            for action in parser._actions
            for option in action.option_strings
            if option.startswith("--") and option != "--help"
        }
        assert documented[name] == options, name


def test_the_readme_is_a_front_door() -> None:
    assert len(README.read_text().splitlines()) <= 200


def test_every_link_of_the_readme_and_the_docs_resolves() -> None:
    for page in [README, *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name}: {target}"
