"""One config reader for every command: `${VAR}` interpolation, flag > config > environment, unknown
keys with a "did you mean", no silent fallback to the local stack, and the published JSON Schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from mysql2dynamo.cli import main
from mysql2dynamo.config import ConfigError, load_config, load_config_text, schema
from mysql2dynamo.keymap.ast import KeymapError
from mysql2dynamo.keymap.spec import mapping_from_config

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "mysql2dynamo" / "sample" / "mapping.yaml"
NO_MYSQL = {"M2D_MYSQL_URL": None, "M2D_CDC_MYSQL_URL": None}  # CliRunner: unset in the command's environment
MINIMAL = 'tables:\n  db.t:\n    target: "${TABLE:-t}"\n    key: {PK: "${id}-{id}"}\n'


def cli(args: list[str], env: dict | None = None):
    return CliRunner().invoke(main, args, env=env or {})


def write(tmp_path: Path, text: str, name: str = "m2d.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_snapshot_with_the_sample_config_interpolates_the_source(local_stack, sample_db, tmp_path):
    """The sample config's `mysql_url: "${M2D_MYSQL_URL}"` (it failed with "not a MySQL URL ... ${M2D_MYSQL_URL}")."""
    config = write(tmp_path, SAMPLE.read_text().replace("\n  shop.", f"\n  {sample_db}."), "mapping.yaml")
    r = cli(["snapshot", "--config", config, "--to", str(tmp_path / "snap")],
            {"M2D_MYSQL_URL": local_stack.cdc_mysql_url})
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(summary["tables"]) == {f"{sample_db}.customers", f"{sample_db}.orders", f"{sample_db}.order_items"}
    assert summary["tables"][f"{sample_db}.customers"] == 200


def test_the_config_section_of_a_command_and_the_flag_that_overrides_it(tmp_path):
    load = "load:\n  manifest: s3://b/snap\n  max_wcu: ${MAX_WCU:-2000}\n  sink: dynamodb\n"
    config = write(tmp_path, MINIMAL + load)
    r = cli(["load", "--config", config, "--print-submit"])
    assert r.exit_code == 0, r.output
    assert r.output.strip().endswith(f"--manifest s3://b/snap --mapping {config} --sink dynamodb --max-wcu 2000.0")
    r = cli(["load", "--config", config, "--print-submit", "--max-wcu", "30", "--sink", "emr-connector"],
            {"MAX_WCU": "999"})
    assert r.exit_code == 0, r.output
    assert r.output.strip().endswith(f"--manifest s3://b/snap --mapping {config} --max-wcu 30.0")
    r = cli(["load", "--config", config, "--print-submit"], {"MAX_WCU": "999"})
    assert "--max-wcu 999.0" in r.output


def test_source_precedence_is_flag_then_config_then_environment(tmp_path):
    from mysql2dynamo.commands.common import source_url

    cfg = load_config(write(tmp_path, 'source:\n  mysql_url: "mysql://u@${DB_HOST:-cfg}:3306/"\n' + MINIMAL))
    env_url = "mysql://u@env:3306/"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("M2D_MYSQL_URL", env_url)
        assert source_url("mysql://u@flag:3306/", cfg) == "mysql://u@flag:3306/"
        assert source_url(None, cfg) == "mysql://u@cfg:3306/"
        assert source_url(None, load_config(write(tmp_path, MINIMAL, "no-source.yaml"))) == env_url
        assert source_url(None, None) == env_url


@pytest.mark.parametrize("command", [
    ["verify"], ["status", "--stream", "s"], ["cutover", "--stream", "s"],
])
def test_no_mysql_url_anywhere_is_a_usage_error_not_the_local_stack(tmp_path, command):
    config = write(tmp_path, MINIMAL)
    r = cli([*command, "--config", config], NO_MYSQL)
    assert r.exit_code == 2, r.output
    assert "no MySQL server named: pass --mysql-url, set source.mysql_url in the --config file, or set " \
           "M2D_MYSQL_URL" in r.output
    assert "13306" not in r.output and "Traceback" not in r.output


def test_status_without_a_config_and_without_a_url_fails_too():
    r = cli(["status", "--stream", "s"], NO_MYSQL)
    assert r.exit_code == 2 and "no MySQL server named" in r.output


def test_an_unset_source_variable_is_named_where_it_is_written(tmp_path):
    config = write(tmp_path, 'source:\n  mysql_url: "${PROD_DB_URL}"\n' + MINIMAL)
    r = cli(["status", "--stream", "s", "--config", config], NO_MYSQL)
    assert r.exit_code == 2
    assert f"{config}:2:14: environment variable PROD_DB_URL is not set" in r.output


def test_typo_under_emr_is_an_error_with_a_suggestion(tmp_path):
    config = write(tmp_path, MINIMAL + "load:\n  manifest: s3://b/snap\nemr:\n  artifacs: s3://b/m2d/\n")
    r = cli(["emr", "submit", "--config", config, "--dry-run"])
    assert r.exit_code == 2, r.output
    assert f"{config}:8:3: unknown key 'artifacs' in emr: (did you mean 'artifacts'?)" in r.output
    nested = write(tmp_path, MINIMAL + "emr:\n  artifacts: s3://b/m2d/\n  core: {instance_typ: m6i.large}\n", "n.yaml")
    with pytest.raises(ConfigError, match=r"n.yaml:7:10: unknown key 'instance_typ' in emr.core: \(did you mean "
                                          r"'instance_type'\?\)"):
        load_config(nested)


@pytest.mark.parametrize(("text", "message"), [
    ("sorce:\n  mysql_url: x\n", "m2d.yaml:5:1: unknown key 'sorce' (did you mean 'source'?)"),
    ("load:\n  max_wcus: 5\n", "m2d.yaml:6:3: unknown key 'max_wcus' in load: (did you mean 'max_wcu'?)"),
    ("stream:\n  shard: 4\n", "m2d.yaml:6:3: unknown key 'shard' in stream: (did you mean 'shards'?)"),
    ("replay:\n  dead_leter: x\n", "m2d.yaml:6:3: unknown key 'dead_leter' in replay: (did you mean 'dead_letter'?)"),
    ("source:\n  mysql_ulr: x\n", "m2d.yaml:6:3: unknown key 'mysql_ulr' in source: (did you mean 'mysql_url'?)"),
])
def test_unknown_keys_in_any_section(tmp_path, text, message):
    with pytest.raises(ConfigError, match=re.escape(f"/{message}")):
        load_config(write(tmp_path, MINIMAL + text))


def test_values_are_checked_when_a_command_reads_them(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL + "load:\n  max_wcu: lots\n  sink: dynamo\n"))
    with pytest.raises(ConfigError, match="m2d.yaml:6:12: load.max_wcu: expected number, got 'lots'"):
        cfg.section("load")
    r = cli(["load", "--config", cfg.path, "--print-submit"])
    assert r.exit_code == 2 and "load.max_wcu: expected number" in r.output


def test_the_keymap_section_keeps_its_own_errors(tmp_path):
    with pytest.raises(KeymapError) as e:
        load_config(write(tmp_path, "tables:\n  db.t:\n    tagret: t\n    key: {PK: '{id}'}\n"))
    assert str(e.value).startswith(f"{tmp_path / 'm2d.yaml'}:3:5: ") and "did you mean 'target'" in str(e.value)
    r = cli(["keymap", "check", "--config", str(tmp_path / "m2d.yaml")])
    assert r.exit_code == 2 and "m2d.yaml:3:5:" in r.output


def test_interpolation_everywhere_but_the_templates():
    text = MINIMAL + "version_attribute: ${VER:-_v}\nsnapshot:\n  to: s3://${BUCKET}/snap\n  workers: ${W:-3}\n"
    cfg = load_config_text(text, "c.yaml", {"TABLE": "prod_t", "BUCKET": "b", "W": "4"})
    rule = cfg.mapping.rules[0]
    assert rule.target == "prod_t" and rule.key["PK"].raw == "${id}-{id}" and cfg.mapping.version_attribute == "_v"
    assert cfg.section("snapshot") == {"to": "s3://b/snap", "workers": 4}
    # a section is interpolated when read: a command that does not use `source:` needs none of its variables
    lazy = load_config_text('source:\n  mysql_url: "${UNSET}"\n' + MINIMAL, "c.yaml", {})
    assert lazy.mapping.rules[0].target == "t"
    with pytest.raises(ConfigError, match="UNSET is not set"):
        _ = lazy.mysql_url


def test_the_jobs_read_only_the_mapping_with_the_same_interpolation():
    """The spark-submit job and the Lambda parse the mapping alone: variables of other sections need not be set."""
    text = 'source:\n  mysql_url: "${NOT_ON_EMR}"\nload:\n  max_wcu: ${ALSO_NOT}\n' + MINIMAL
    job = mapping_from_config(text, "c.yaml", {"TABLE": "prod_t"})
    assert job == load_config_text(text, "c.yaml", {"TABLE": "prod_t"}).mapping
    assert job.rules[0].target == "prod_t"


def test_published_schema_is_the_commands_own():
    from mysql2dynamo.commands.schema import build_schema

    assert schema() == json.loads(json.dumps(build_schema())), \
        "regenerate: python -m mysql2dynamo.commands.schema > mysql2dynamo/config.schema.json"


@pytest.mark.parametrize("path", [SAMPLE, ROOT / "keymap" / "examples" / "shop.yaml"])
def test_sample_configs_validate_against_the_schema(path):
    jsonschema.validate(yaml.safe_load(path.read_text()), schema())


def test_the_schema_refuses_what_the_reader_refuses():
    doc = yaml.safe_load(SAMPLE.read_text())
    doc["emr"] = {"artifacs": "s3://b/"}
    with pytest.raises(jsonschema.ValidationError, match="artifacs"):
        jsonschema.validate(doc, schema())


def test_a_flag_setting_is_a_boolean_in_the_schema():
    """`verify: {ignore_tombstones: true}` is what a user writes for the flag --ignore-tombstones."""
    doc = yaml.safe_load(SAMPLE.read_text())
    doc["verify"] = {"ignore_tombstones": True, "repair": False}
    jsonschema.validate(doc, schema())
    doc["verify"] = {"ignore_tombstones": "yes"}
    with pytest.raises(jsonschema.ValidationError, match="boolean"):
        jsonschema.validate(doc, schema())


def test_load_options_have_one_definition():
    """argparse (the spark-submit job), click (`load`) and the config's `load:` come from LoadOptions."""
    from mysql2dynamo.cdc.stream import StreamSettings
    from mysql2dynamo.commands.load import load
    from mysql2dynamo.jobs.bulk_load import LoadOptions, options_from_args

    assert options_from_args(["--manifest", "m", "--mapping", "c.yaml"]) == LoadOptions("m", "c.yaml")
    clicked = {p.name: p.default for p in load.params}
    assert clicked["threads"] == LoadOptions.threads and clicked["write_percent"] == LoadOptions.write_percent
    assert schema()["properties"]["load"]["properties"]["progress_interval"]["default"] == \
        LoadOptions.progress_interval
    assert schema()["properties"]["stream"]["properties"]["shards"]["default"] == StreamSettings.shards
