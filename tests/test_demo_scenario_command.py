"""``manage.py demo_scenario``: the registry of scenario players and the command's errors
(the players themselves are exercised by the scenario tests, marker ``scenario``)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connectors.simulators.scenarios import SCENARIOS, Played, Stage, scenario


def test_every_scenario_module_is_registered_under_its_number():
    assert 1 in SCENARIOS
    for number, module in SCENARIOS.items():
        assert number == module.NUMBER
        assert module.__name__.endswith(f".s{number}")
        assert module.TITLE
        assert module.RULE_PACK
        assert module.SYSTEMS
        assert callable(module.play)


def test_list_names_each_scenario_with_its_pack_and_systems(capsys):
    call_command("demo_scenario", "--list")
    out = capsys.readouterr().out
    assert "1  Order release to goods receipt with quality hold" in out
    assert "pack order-to-receipt; erp, mes, qms" in out


def test_an_unknown_scenario_is_refused_with_the_known_ones():
    with pytest.raises(CommandError, match=r"no scenario 99; known: 1"):
        call_command("demo_scenario", "99")
    with pytest.raises(CommandError, match="give a scenario number"):
        call_command("demo_scenario")


def test_without_a_running_demo_it_says_to_start_one(tmp_path):
    with pytest.raises(CommandError, match="start the demo first"):
        call_command("demo_scenario", "1", "--keys-file", str(tmp_path / "keys.json"))


def test_a_step_that_fails_stops_the_command_with_its_reason(tmp_path, monkeypatch):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"ERP": "k", "_outbound": {}}))
    seen = {}

    def play(stage: Stage) -> Played:
        seen["stage"] = stage
        from connectors.simulators.scenarios import ScenarioFailed

        raise ScenarioFailed("order WO-1 never came")

    monkeypatch.setattr(scenario(1), "play", play)
    with pytest.raises(CommandError, match="scenario 1 stopped: order WO-1 never came"):
        call_command(
            "demo_scenario", "1", "--keys-file", str(keys), "--plant", "P2", "--port", "8765"
        )
    stage = seen["stage"]
    assert stage.keys == {"ERP": "k"}  # the delivery credentials are not a player's business
    assert stage.plant == "P2"
    assert stage.interlock_url == "http://127.0.0.1:8765"
    assert stage.sim_urls["erp"] == "http://127.0.0.1:8101/erp"
    assert stage.users["p1-super"]  # people's steps log in with the demo password


def test_the_stage_says_when_the_demo_is_not_reachable():
    from connectors.simulators.scenarios import ScenarioFailed

    stage = Stage(interlock_url="http://127.0.0.1:9", sim_urls={}, keys={"ERP": "k"})
    with pytest.raises(ScenarioFailed, match="not reachable"):
        stage.results("orders", system="ERP")
