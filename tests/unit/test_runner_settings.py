"""The flow runner's settings (COC_RUNNER_*, COC_OUTBOX_LOOP_*) are Settings fields: same names and defaults as
when flows/serve.py read the environment itself, validated, and passed on to `coc up`'s flow runner child."""

from __future__ import annotations

import pytest

from api.stack.supervisor import child_env
from core.errors import ConfigError
from core.settings import Settings, load_settings

RUNNER_ENV = ("COC_RUNNER_POLL_S", "COC_RUNNER_LIMIT", "COC_RUNNER_START", "COC_RUNNER_QUIET_POLLS",
              "COC_OUTBOX_LOOP_S", "COC_OUTBOX_LOOP_MIN_AGE_S")


@pytest.fixture
def clean_env(monkeypatch):
    for name in RUNNER_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_are_the_runners_old_ones(clean_env):
    s = Settings()
    assert (s.runner_poll_s, s.runner_limit, s.runner_start, s.runner_quiet_polls, s.outbox_loop_s,
            s.outbox_loop_min_age_s) == (0.2, 20, "forkserver", True, 5.0, 2.0)


def test_the_environment_names_are_unchanged(clean_env):
    for name, value in zip(RUNNER_ENV, ("0.5", "7", " Spawn ", "0", "9", "0"), strict=True):
        clean_env.setenv(name, value)
    s = Settings()
    assert (s.runner_poll_s, s.runner_limit, s.runner_start, s.runner_quiet_polls, s.outbox_loop_s,
            s.outbox_loop_min_age_s) == (0.5, 7, "spawn", False, 9.0, 0.0)
    clean_env.setenv("COC_RUNNER_START", "")
    assert Settings().runner_start == "forkserver"  # empty means the default, as before


@pytest.mark.parametrize(("name", "value"), [
    ("COC_RUNNER_POLL_S", "0"), ("COC_RUNNER_POLL_S", "fast"), ("COC_RUNNER_LIMIT", "0"),
    ("COC_RUNNER_LIMIT", "1.5"), ("COC_RUNNER_QUIET_POLLS", "maybe"), ("COC_OUTBOX_LOOP_S", "-1"),
    ("COC_OUTBOX_LOOP_MIN_AGE_S", "-0.1"),
])
def test_invalid_values_are_refused_naming_the_setting(clean_env, tmp_path, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings(data_dir=tmp_path)
    assert name in str(err.value)


def test_coc_up_passes_them_to_its_children(clean_env, tmp_path):
    """The supervisor drops inherited COC_* variables, so the runner's must be among the settings it passes."""
    clean_env.setenv("COC_RUNNER_LIMIT", "99")  # inherited by the supervisor: not what the child gets
    settings = Settings(data_dir=tmp_path, runner_poll_s=0.5, runner_limit=3, runner_start="spawn",
                        runner_quiet_polls=False, outbox_loop_s=7.0, outbox_loop_min_age_s=1.5)
    env = child_env(settings)
    assert {name: env[name] for name in RUNNER_ENV} == {
        "COC_RUNNER_POLL_S": "0.5", "COC_RUNNER_LIMIT": "3", "COC_RUNNER_START": "spawn",
        "COC_RUNNER_QUIET_POLLS": "false", "COC_OUTBOX_LOOP_S": "7.0", "COC_OUTBOX_LOOP_MIN_AGE_S": "1.5"}
    for name in RUNNER_ENV:
        clean_env.setenv(name, env[name])
    child = Settings()
    assert (child.runner_poll_s, child.runner_limit, child.runner_start, child.runner_quiet_polls,
            child.outbox_loop_s, child.outbox_loop_min_age_s) == (0.5, 3, "spawn", False, 7.0, 1.5)


def test_the_operators_settings_reach_the_children_and_generated_secrets_do_not(clean_env, tmp_path):
    """A centre key, a retired key and the jurisdiction given to `coc up` in the environment are what its
    children use (a child falling back to the data dir's generated key could not open the case keys made under
    the operator's); the secrets the stack generated itself stay in secrets.json, out of every environment."""
    import os

    from cryptography.fernet import Fernet

    from core.settings import load_settings

    for name in [n for n in os.environ if n.startswith("COC_")]:
        clean_env.delenv(name)
    given, retired = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    clean_env.setenv("COC_IDENTITY_KEY", given)
    clean_env.setenv("COC_IDENTITY_KEYS_RETIRED", retired)
    clean_env.setenv("COC_DEFAULT_JURISDICTION", "us-mi")
    settings = load_settings(data_dir=tmp_path)
    env = child_env(settings)
    assert (env["COC_IDENTITY_KEY"], env["COC_IDENTITY_KEYS_RETIRED"], env["COC_DEFAULT_JURISDICTION"]) == (
        given, retired, "us-mi")
    assert "COC_S3_SECRET_KEY" not in env and "COC_S3_ACCESS_KEY" not in env  # generated: read from the data dir
    for name, value in env.items():
        if name.startswith("COC_"):
            clean_env.setenv(name, value)
    child = load_settings(data_dir=tmp_path)
    assert child.secret("identity_key") == given
    assert child.secret("s3_secret_key") == settings.secret("s3_secret_key")


def test_children_get_two_malloc_arenas_unless_the_operator_chose(clean_env, tmp_path):
    """Threaded children (the API's thread pool) keep fragmented memory with glibc's default arenas; `coc up` gives
    them MALLOC_ARENA_MAX=2 like the production image, and an operator's own value is kept."""
    from core.settings import load_settings

    clean_env.delenv("MALLOC_ARENA_MAX", raising=False)
    settings = load_settings(data_dir=tmp_path)
    assert child_env(settings)["MALLOC_ARENA_MAX"] == "2"
    clean_env.setenv("MALLOC_ARENA_MAX", "4")
    assert child_env(settings)["MALLOC_ARENA_MAX"] == "4"
