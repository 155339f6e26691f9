"""Reading scenario files (TOML with the stdlib, YAML with PyYAML when installed).

Every way a file can be wrong ends in one ``ScenarioError`` that names the file and lists each
problem at its place in the document (``patients[0].events[1].nadir_spo2: ...``).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from simulators.physiology.scenario import Scenario

Format = Literal["toml", "yaml"]
BUILTIN_NAMES: tuple[str, ...] = ("stable", "desaturating", "hypertensive", "gateway-offline")
_SUFFIXES: dict[str, Format] = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}


class ScenarioError(ValueError):
    """A scenario file that cannot be read or does not describe a valid scenario."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid scenario {source}:\n{listing}")


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (check its spelling)"
        problems.append(f"{_where(item['loc'])}: {message}")
    return problems


def scenario_from_data(data: object, source: str = "<data>") -> Scenario:
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ScenarioError(source, [f"top level must be a table/mapping, not {kind}"])
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ScenarioError(source, _problems(error)) from None


def parse_scenario(text: str, fmt: Format, source: str = "<text>") -> Scenario:
    """A scenario from TOML or YAML text."""
    if fmt == "toml":
        try:
            data: object = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ScenarioError(source, [f"not valid TOML: {error}"]) from None
    elif fmt == "yaml":
        try:
            import yaml  # optional: only the sim extra installs PyYAML
        except ImportError:
            raise ScenarioError(
                source, ["YAML scenarios need PyYAML: pip install 'vigil[sim]'"]
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ScenarioError(source, [f"not valid YAML: {error}"]) from None
    else:
        raise ScenarioError(source, [f"unknown format {fmt!r}; use 'toml' or 'yaml'"])
    return scenario_from_data(data, source)


def load_scenario(path: str | Path) -> Scenario:
    """A scenario from a .toml, .yaml or .yml file."""
    path = Path(path)
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ScenarioError(str(path), ["file name must end in .toml, .yaml or .yml"])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(str(path), [f"cannot read file: {error}"]) from None
    return parse_scenario(text, fmt, str(path))


def builtin_scenario(name: str) -> Scenario:
    """One of the scenarios shipped for the demo (``BUILTIN_NAMES``)."""
    if name not in BUILTIN_NAMES:
        raise KeyError(f"no built-in scenario {name!r}; choose from {', '.join(BUILTIN_NAMES)}")
    resource = resources.files("simulators.physiology.scenarios").joinpath(f"{name}.toml")
    return parse_scenario(resource.read_text(encoding="utf-8"), "toml", f"built-in {name!r}")
