"""Fleet scenario files: the physiology scenario reused, plus the [fleet] table."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.fleet.config import Mix
from simulators.fleet.scenario import load_fleet_scenario
from simulators.physiology.baselines import Condition
from simulators.physiology.loader import ScenarioError

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(p for p in (REPO / "scenarios").iterdir()
                  if p.suffix in (".toml", ".yaml", ".yml"))


def test_there_are_examples() -> None:
    assert {p.suffix for p in EXAMPLES} >= {".toml", ".yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_loads(path: Path) -> None:
    loaded = load_fleet_scenario(path)
    assert loaded.scenario is not None or loaded.fleet.gateways is not None


def test_fleet_only_file_has_no_physiology_scenario(tmp_path: Path) -> None:
    path = tmp_path / "load.toml"
    path.write_text('name = "load"\n[fleet]\ngateways = 7\nmix = "caseload"\n'
                    'conditions = { copd = 1 }\n')
    loaded = load_fleet_scenario(path)
    assert loaded.scenario is None
    assert (loaded.fleet.gateways, loaded.fleet.mix) == (7, Mix.CASELOAD)
    assert loaded.fleet.conditions == {Condition.COPD: 1.0}


def test_yaml_and_physiology_parts(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("name: s\nduration: 10m\npatients:\n  - {id: p1, seed: 1}\n"
                    "fleet: {gateways: 3, duration: 30s}\n")
    loaded = load_fleet_scenario(path)
    assert loaded.scenario is not None and loaded.scenario.patients[0].id == "p1"
    assert loaded.fleet.duration is not None and loaded.fleet.duration.total_seconds() == 30


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("a.toml", "[fleet]\ngatways = 3\n", "fleet.gatways: unknown field"),
        ("b.toml", "[fleet]\ngateways = 0\n", "fleet.gateways"),
        ("c.toml", "[fleet]\nmix = \"icu\"\n", "fleet.mix"),
        ("d.toml", "[fleet.random_faults]\nlow_battery_fraction = 2\n",
         "fleet.random_faults.low_battery_fraction"),
        ("e.toml", "name = \"x\"\nduration = \"1h\"\npatients = []\n", "patients"),
        ("f.toml", "this is = not toml\n", "not valid TOML"),
        ("g.json", "{}", "must end in .toml"),
        ("h.yaml", "- a\n- b\n", "top level must be a table"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, name: str, text: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScenarioError, match=problem.replace(".", r"\.")) as caught:
        load_fleet_scenario(path)
    assert str(path) in str(caught.value)


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_fleet_scenario(tmp_path / "nope.toml")
