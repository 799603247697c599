"""Config: validated once, defaults documented, one precise message per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.core.config import ConfigError, dump_config, load_config, parse_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "driftline.yaml"
    path.write_text(text)
    return path


def test_minimal_config_resolves_defaults_next_to_the_file(tmp_path):
    cfg = load_config(write(tmp_path, "project: shop\ndata: {target: churned}\n"))
    assert cfg.root == (tmp_path / ".driftline").resolve()
    assert cfg.tracking_uri == f"sqlite:///{tmp_path.resolve() / '.driftline' / 'mlflow.db'}"
    assert cfg.database_url.endswith(".driftline/driftline.db")
    assert cfg.suite_path == tmp_path.resolve() / "data_contracts" / "suites" / "shop.json"
    assert cfg.data.task == "auto" and cfg.gate.mode == "holdout" and cfg.window.holdout_batches == 1
    assert "drift_share: 0.5" in dump_config(cfg)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("project: a\ndata: {target: y}\ngate: {margn: 0.1}\n", "unknown key 'gate.margn'"),
        ("project: a\ndata: {target: y, task: binaryy}\n", "key 'data.task' has invalid value 'binaryy'"),
        (
            "project: a\ndata: {target: y}\ndrift: {drift_share: 2}\n",
            "key 'drift.drift_share' has invalid value 2",
        ),
        ("project: a\n", "missing required key 'data'"),
        (
            "project: a\ndata: {target: y}\npolicy: {drift_k: 4, drift_m: 3}\n",
            "drift_k=4 must be ≤ drift_m=3",
        ),
        ("project: 'a b'\ndata: {target: y}\n", "key 'project' has invalid value 'a b'"),
    ],
)
def test_wrong_key_or_value_names_key_value_and_rule(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert expected in message and str(tmp_path) in message
    assert "\n" not in message


def test_allowed_values_are_listed(tmp_path):
    with pytest.raises(ConfigError, match="allowed: 'auto', 'binary', 'multiclass' or 'regression'"):
        parse_config({"project": "a", "data": {"target": "y", "task": "x"}}, base_dir=tmp_path)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no config file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "project: [unclosed\n"))


def test_config_show_masks_passwords_and_secret_parameters_but_keeps_env_references():
    from driftline.core.config import mask_credentials

    text = "db: postgresql://bob:s3cr3t@db:5432/x\nt: http://u:${PW}@h\nr: json://h/?token=abc&x=1\np: http://h:5000/"
    masked = mask_credentials(text)
    assert "s3cr3t" not in masked and "abc" not in masked
    assert "postgresql://bob:***@db:5432/x" in masked and "token=***&x=1" in masked
    assert "http://u:${PW}@h" in masked and "http://h:5000/" in masked


def test_storage_root_stays_inside_the_project_unless_allowed(tmp_path):
    from driftline.core.config import ConfigError, parse_config

    base = {"project": "p", "data": {"target": "y"}}
    with pytest.raises(
        ConfigError, match=r"storage.root '\.\./elsewhere' resolves to .*outside the project folder"
    ):
        parse_config({**base, "storage": {"root": "../elsewhere"}}, base_dir=tmp_path / "proj")
    allowed = parse_config(
        {**base, "storage": {"root": "../elsewhere", "allow_outside_project": True}},
        base_dir=tmp_path / "proj",
    )
    assert allowed.root == (tmp_path / "elsewhere").resolve()
    assert parse_config({**base, "storage": {"root": "state"}}, base_dir=tmp_path).root == tmp_path / "state"
