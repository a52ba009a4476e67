import pytest

from evo.config import CampaignConfig, ConfigError, load_config, load_preset, preset_names


def write(tmp_path, text):
    path = tmp_path / "campaign.toml"
    path.write_text(text)
    return path


def test_presets_load():
    assert {"mnist1d", "smoke"} <= set(preset_names())
    for name in preset_names():
        config = load_preset(name)
        assert config.name == name


def test_unknown_key_suggests_correction(tmp_path):
    path = write(tmp_path, 'name = "x"\n[search]\npopulaton = 8\n')
    with pytest.raises(ConfigError, match="Did you mean 'population'"):
        load_config(path)


def test_unknown_budget_key_suggests_correction(tmp_path):
    path = write(tmp_path, 'name = "x"\n[budget]\nstep = 8\n')
    with pytest.raises(ConfigError, match="Did you mean 'steps'"):
        load_config(path)


def test_unknown_section_rejected(tmp_path):
    path = write(tmp_path, 'name = "x"\n[serach]\n')
    with pytest.raises(ConfigError, match="Did you mean 'search'"):
        load_config(path)


def test_missing_name_rejected(tmp_path):
    with pytest.raises(ConfigError, match="top-level name"):
        load_config(write(tmp_path, "seed = 1\n"))


@pytest.mark.parametrize("section, text, message", [
    ("search", "population = 1", "population"),
    ("search", "crossover_rate = 2.0", "crossover_rate"),
    ("search", 'operators = ["teleport"]', "teleport"),
    ("search", 'seeds = ["resnet9000"]', "resnet9000"),
    ("search", 'objectives = ["beauty"]', "beauty"),
    ("run", "workers = 0", "workers"),
    ("run", 'executor = "cloud"', "cloud"),
])
def test_invalid_values_named(tmp_path, section, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, f'name = "x"\n[{section}]\n{text}\n'))


def test_invalid_toml_names_file(tmp_path):
    path = write(tmp_path, "name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_unknown_preset_suggests():
    with pytest.raises(ConfigError, match="Did you mean 'smoke'"):
        load_preset("smok")


def test_round_trip_through_dict():
    config = load_preset("mnist1d")
    assert CampaignConfig.from_dict(config.to_dict()) == config


def test_overrides():
    config = load_preset("smoke").with_overrides(generations=5, workers=3, seed=9, db="x.sqlite")
    assert config.search.generations == 5
    assert config.run.workers == 3
    assert config.run.executor_name == "process"
    assert config.seed == 9
    assert str(config.db_path) == "x.sqlite"


def test_default_db_is_outside_packages():
    config = load_preset("smoke")
    assert str(config.db_path) == "runs/smoke.sqlite"


@pytest.mark.parametrize("text, message", [
    ("population = 100000000000", "population = 100000000000 is invalid; use an integer from 2 to 100,000"),
    ("generations = 10000000000000000000", "generations"),
    ("offspring = 0", "offspring = 0 is invalid"),
])
def test_absurd_sizes_rejected(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, f'name = "x"\n[search]\n{text}\n'))
