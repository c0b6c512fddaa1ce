import json

import pytest

from core.config import (
    GenerationConfig,
    LoraSpec,
    ModelSpec,
    PPOConfig,
    RMConfig,
    from_dict,
    load_json,
    save_json,
    to_dict,
)
from core.errors import InputFileError


@pytest.mark.parametrize("config", [ModelSpec(), GenerationConfig(), PPOConfig(), RMConfig()])
def test_configs_round_trip_through_json(config, tmp_path):
    path = tmp_path / "config.json"
    save_json(config, path)
    assert load_json(type(config), path) == config


def test_nested_and_tuple_fields_are_restored():
    spec = ModelSpec("gpt2", lora=LoraSpec(r=4, target_modules=("c_attn", "c_proj")))
    data = json.loads(json.dumps(to_dict(spec)))
    restored = from_dict(ModelSpec, data)
    assert restored == spec
    assert isinstance(restored.lora.target_modules, tuple)


def test_unknown_key_is_named_in_the_error():
    with pytest.raises(InputFileError, match="learning_rat"):
        from_dict(PPOConfig, {"learning_rat": 1e-3})


def test_bad_json_file_gives_clear_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputFileError, match="bad.json"):
        load_json(PPOConfig, path)
