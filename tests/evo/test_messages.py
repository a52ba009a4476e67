"""Config values in error messages read as they were written in the TOML file."""

from __future__ import annotations

import math
import shlex

import pytest

from evo.config import ConfigError, load_config
from evo.messages import resume_command, toml_value


@pytest.mark.parametrize(("value", "written"), [
    (True, "true"),
    (False, "false"),
    ("aging", '"aging"'),
    ('say "hi"', '"say \\"hi\\""'),
    (3, "3"),
    (0.25, "0.25"),
    (math.inf, "inf"),
    (-math.inf, "-inf"),
    (math.nan, "nan"),
    ([1, "a", True], '[1, "a", true]'),
    ({}, "{}"),
    ({"rungs": 3, "eta": "x"}, '{ rungs = 3, eta = "x" }'),
    (None, "None"),
])
def test_toml_value(value, written):
    assert toml_value(value) == written


@pytest.mark.parametrize(("setting", "message"), [
    ("population = true", "[search] population = true is invalid"),
    ('inherit_weights = "yes"', '[search] inherit_weights = "yes" is invalid'),
    ('algorithm = "agin"', '[search] algorithm = "agin" is invalid'),
    ("successive_halving = { rungs = true, eta = 3 }", "successive_halving.rungs = true is invalid"),
])
def test_config_error_shows_toml_value(tmp_path, setting, message):
    path = tmp_path / "campaign.toml"
    path.write_text(f'name = "messages"\n[task]\nname = "digits"\n[search]\n{setting}\n')

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert message in str(raised.value)


@pytest.mark.parametrize("db, campaign", [("runs/smoke.sqlite", "smoke"), ("/tmp/my runs/d b.sqlite", "it's mine"),
                                          ("plain.sqlite", None)])
def test_resume_command_pastes_into_shell(db, campaign):
    command = resume_command(db, campaign)

    expected = ["evo", "resume", db] + ([] if campaign is None else ["--campaign", campaign])
    assert shlex.split(command) == expected
