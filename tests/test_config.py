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
