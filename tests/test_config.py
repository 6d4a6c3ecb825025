import dataclasses
from pathlib import Path

import pytest

from ragcli.config import Settings, load_settings
from ragcli.errors import ConfigError


def test_defaults_resolve_index_and_cache_dirs(tmp_path):
    settings = load_settings(environ={"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert settings.index_path == (tmp_path / "data" / "ragcli" / "index").resolve()
    assert settings.cache_path == tmp_path / "cache" / "ragcli"
    assert settings.retrieval.k == Settings().retrieval.k


def test_precedence_file_then_environment_then_flags(tmp_path: Path):
    config = tmp_path / "rag.toml"
    config.write_text('[retrieval]\nk = 7\ncandidates = 11\n[generation]\nmodel = "from-file"\ntemperature = 0\n')
    environ = {"RAG_RETRIEVAL_K": "9", "RAG_INDEX": str(tmp_path / "env-index")}
    settings = load_settings(config, flags={"retrieval.k": None}, environ=environ)
    assert settings.retrieval.k == 9  # environment beats file
    assert settings.retrieval.candidates == 11  # file beats default
    assert settings.generation.model == "from-file"
    assert settings.generation.temperature == 0.0 and isinstance(settings.generation.temperature, float)
    assert settings.index_path == (tmp_path / "env-index").resolve()
    flagged = load_settings(config, flags={"retrieval.k": 3, "index.dir": str(tmp_path / "flag")}, environ=environ)
    assert flagged.retrieval.k == 3  # flags beat everything
    assert flagged.index_path == (tmp_path / "flag").resolve()


def test_settings_are_frozen():
    settings = load_settings(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.retrieval.k = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "text, message",
    [
        ("[retrieval]\nk = 'many'\n", "retrieval.k"),
        ("[nonsense]\nx = 1\n", "unknown section"),
        ("[retrieval]\nkay = 1\n", "unknown setting"),
        ("[chunking]\ntokens = 100\noverlap = 90\n", "overlap"),
        ("[retrieval]\nmax_per_page = 0\n", "max_per_page"),
        ("[retrieval]\nrrf_k = -1\n", "rrf_k"),
        ("[generation]\nmax_answer_tokens = 4000\n", "n_ctx"),
        ("not toml at all = = =", "not valid TOML"),
    ],
)
def test_bad_config_files_are_explained(tmp_path, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(config, environ={})
    assert caught.value.hint


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match="retrieval.k"):
        load_settings(environ={"RAG_RETRIEVAL_K": "lots"})


def test_boolean_environment_values():
    assert load_settings(environ={"RAG_RETRIEVAL_LEXICAL": "off"}).retrieval.lexical is False
    assert load_settings(environ={"RAG_RETRIEVAL_LEXICAL": "yes"}).retrieval.lexical is True


def test_shipped_default_config_matches_built_in_defaults():
    shipped = load_settings(Path(__file__).resolve().parent.parent / "configs" / "default.toml", environ={})
    assert shipped == load_settings(environ={})


def test_every_shipped_profile_loads_and_changes_only_what_it_says():
    configs = Path(__file__).resolve().parent.parent / "configs"
    fast = load_settings(configs / "fast.toml", environ={})
    assert (fast.embedding.read_tokens, fast.embedding.precision, fast.embedding.backend) == (64, "int8", "onnx")
    assert dataclasses.replace(fast, embedding=load_settings(environ={}).embedding, notes=()) == load_settings(environ={})


def test_every_setting_is_in_default_toml_with_a_comment_above_it():
    from ragcli.config import SECTIONS

    lines = (Path(__file__).resolve().parent.parent / "configs" / "default.toml").read_text().splitlines()
    documented, section = set(), ""
    for number, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip("[]") + "."
        elif "=" in line and not line.startswith("#"):
            key = section + line.split("=")[0].strip()
            assert lines[number - 1].startswith("#"), f"{key} has no comment above it in configs/default.toml"
            documented.add(key)
    wanted = {f"{name}.{field.name}" for name, cls in SECTIONS.items() for field in dataclasses.fields(cls)} | {"cache_dir", "state_dir"}
    assert documented == wanted


def test_renamed_settings_keep_working_with_a_note_and_retired_ones_are_ignored(tmp_path):
    config = tmp_path / "old.toml"
    config.write_text("[retrieval]\nmin_similarity = 0.4\n[generation]\nmin_support = 0.7\nmerge_adjacent = true\n")
    settings = load_settings(config, environ={"RAG_RETRIEVAL_UNKNOWN_NAMES": "false"})
    assert settings.answer.min_similarity == 0.4 and settings.answer.unknown_names is False
    assert settings.verification.min_support == 0.7
    notes = "\n".join(settings.notes)
    assert "retrieval.min_similarity is now answer.min_similarity" in notes
    assert "generation.min_support is now verification.min_support" in notes
    assert "environment: retrieval.unknown_names is now answer.unknown_names" in notes
    assert "generation.merge_adjacent is no longer a setting and is ignored" in notes
    # Given both ways, the new name wins.
    both = load_settings(flags={"answer.min_similarity": 0.2, "retrieval.min_similarity": 0.9}, environ={})
    assert both.answer.min_similarity == 0.2
    assert load_settings(environ={}).notes == ()


def test_choices_come_from_the_registries_that_serve_them():
    from ragcli.answer.verify import METHODS

    for method in METHODS:
        assert load_settings(flags={"verification.method": method}, environ={}).verification.method == method
    with pytest.raises(ConfigError, match="verification.method must be one of 'lexical', 'embedding', 'llm'"):
        load_settings(flags={"verification.method": "oracle"}, environ={})


@pytest.mark.parametrize("text", ["[parsing]\ntimeout_s = inf\n", "[parsing]\nmax_file_mb = nan\n"])
def test_an_infinite_or_undefined_number_never_switches_a_limit_off(tmp_path, text):
    config = tmp_path / "limits.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match="not a finite number"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match="not a finite number"):
        load_settings(environ={"RAG_PARSING_TIMEOUT_S": "inf"})


def test_a_fifo_given_as_the_config_file_is_refused_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_settings(fifo, environ={})
