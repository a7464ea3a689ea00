"""Settings: environment over ``.env``, the small ``.env`` parser, masking, clear errors."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from cronofy_avail.app.settings import ConfigError, Settings, mask, parse_env
from cronofy_avail.core.ratewindows import CRONOFY_DEFAULT_WINDOWS, RateWindow

SECRET = "CRN_settingsSECRETvalue77aa4f"
ACCESS = "ACC-settings-5ecret-token-91"
REFRESH = "REF-settings-5ecret-token-38"


def test_parse_env_comments_export_quotes() -> None:
    text = """
# a comment

export CRONOFY_CLIENT_ID=app_123
CRONOFY_CLIENT_SECRET="CRN_quoted # not a comment"
CRONOFY_ACCESS_TOKEN='single quoted'
CRONOFY_TZID=Europe/Paris   # trailing comment
CRONOFY_AVAIL_USER =  spaced
EMPTY=
"""
    assert parse_env(text) == {
        "CRONOFY_CLIENT_ID": "app_123",
        "CRONOFY_CLIENT_SECRET": "CRN_quoted # not a comment",
        "CRONOFY_ACCESS_TOKEN": "single quoted",
        "CRONOFY_TZID": "Europe/Paris",
        "CRONOFY_AVAIL_USER": "spaced",
        "EMPTY": "",
    }


def test_parse_env_rejects_garbage_with_line_number() -> None:
    with pytest.raises(ConfigError, match=r"\.env:2"):
        parse_env("A=1\nnot a pair\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{SECRET}\n", "line 1 has no '='"),
        (f"A=1\nexport {SECRET}\n", "line 2 has no '='"),
        (f"{SECRET} x={SECRET}\n", "not a variable name"),
        (f'CRONOFY_CLIENT_SECRET="{SECRET}\n', "quote that is not closed"),
    ],
)
def test_parse_env_errors_never_show_a_value(text: str, expected: str) -> None:
    """A malformed line may be a secret pasted without its name: never echo it."""
    with pytest.raises(ConfigError) as info:
        parse_env(text, source="config/x.env")
    message = str(info.value)
    assert expected in message
    assert "config/x.env" in message
    assert SECRET[:8] not in message
    assert SECRET[-8:] not in message


def test_parse_env_quoted_value_with_a_trailing_comment() -> None:
    text = (
        f'CRONOFY_CLIENT_SECRET="{SECRET}" # current\n'
        f"CRONOFY_ACCESS_TOKEN='{ACCESS}'   # from the OAuth exchange\n"
        f"CRONOFY_REFRESH_TOKEN={REFRESH} # comment\n"
        "HASHED=a#b\n"
    )
    assert parse_env(text) == {
        "CRONOFY_CLIENT_SECRET": SECRET,
        "CRONOFY_ACCESS_TOKEN": ACCESS,
        "CRONOFY_REFRESH_TOKEN": REFRESH,
        "HASHED": "a#b",
    }


def test_parse_env_decodes_escapes_in_one_pass() -> None:
    values = parse_env('A="a\\\\nb"\nB="x\\ny"\nC="say \\"hi\\""\nD=\'a\\nb\'\n')
    assert values["A"] == "a\\nb"  # an escaped backslash, then a plain n
    assert values["B"] == "x\ny"
    assert values["C"] == 'say "hi"'
    assert values["D"] == "a\\nb"  # single quotes: literal


def test_an_explicit_env_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "missing.env"
    with pytest.raises(ConfigError) as info:
        Settings.load({}, missing, env_file_required=True)
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)
    with pytest.raises(ConfigError, match="is not a file"):
        Settings.load({}, tmp_path, env_file_required=True)
    # The default ./.env may be absent.
    assert Settings.load({}, missing).env_file is None


def test_environment_overrides_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "CRONOFY_CLIENT_ID=from_file\nCRONOFY_DATA_CENTER=uk\nCRONOFY_TZID=Europe/Paris\n"
    )
    settings = Settings.load({"CRONOFY_CLIENT_ID": "from_env", "HOME": "/x"}, env_file)
    assert settings.client_id == "from_env"
    assert settings.data_center == "uk"
    assert settings.api_url == "https://api-uk.cronofy.com"
    assert settings.tzid == "Europe/Paris"
    assert settings.env_file == env_file


def test_defaults_without_anything(tmp_path: Path) -> None:
    settings = Settings.load({}, tmp_path / "missing.env")
    assert settings.data_center == "us"
    assert settings.api_url == "https://api.cronofy.com"
    assert settings.user_id == "default"
    assert settings.db_path == Path("~/.cronofy_avail/state.db").expanduser()
    assert settings.max_attempts == 5
    assert settings.sync_overlap == 2.0
    assert settings.db_give_up == 300.0
    assert settings.rate_limit == CRONOFY_DEFAULT_WINDOWS
    assert settings.env_file is None


def test_base_url_and_db(tmp_path: Path) -> None:
    settings = Settings.load(
        {
            "CRONOFY_API_BASE_URL": "http://127.0.0.1:8181/",
            "CRONOFY_AVAIL_DB": str(tmp_path / "s.db"),
            "CRONOFY_AVAIL_USER": "jane",
            "CRONOFY_AVAIL_MAX_ATTEMPTS": "2",
            "CRONOFY_AVAIL_SYNC_OVERLAP": "12.5",
            "CRONOFY_AVAIL_DB_GIVE_UP": "2.5",
        },
        None,
    )
    assert settings.sync_overlap == 12.5
    assert settings.db_give_up == 2.5
    assert settings.api_url == "http://127.0.0.1:8181"
    assert settings.db_path == tmp_path / "s.db"
    assert settings.user_id == "jane"
    assert settings.max_attempts == 2


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CRONOFY_DATA_CENTER", "mars", "CRONOFY_DATA_CENTER='mars' is not a Cronofy data center"),
        ("CRONOFY_API_BASE_URL", "ftp://x", "must be an absolute http(s) URL"),
        ("CRONOFY_AVAIL_MAX_ATTEMPTS", "zero", "CRONOFY_AVAIL_MAX_ATTEMPTS"),
        ("CRONOFY_AVAIL_SYNC_OVERLAP", "soon", "CRONOFY_AVAIL_SYNC_OVERLAP must be a number"),
        ("CRONOFY_AVAIL_SYNC_OVERLAP", "-1", "from 0 to 3600"),
        ("CRONOFY_AVAIL_SYNC_OVERLAP", "nan", "from 0 to 3600"),
        ("CRONOFY_AVAIL_SYNC_OVERLAP", "7200", "from 0 to 3600"),
        ("CRONOFY_AVAIL_DB_GIVE_UP", "0", "CRONOFY_AVAIL_DB_GIVE_UP (or `worker --give-up-after`)"),
        ("CRONOFY_AVAIL_DB_GIVE_UP", "-5", "must be a number of seconds above 0"),
        ("CRONOFY_AVAIL_DB_GIVE_UP", "nan", "must be a number of seconds above 0"),
        ("CRONOFY_AVAIL_DB_GIVE_UP", "inf", "must be a number of seconds above 0"),
        ("CRONOFY_AVAIL_DB_GIVE_UP", "five minutes", "must be a number of seconds above 0"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load({name: value}, None)
    assert expected in str(info.value)


def test_missing_variables_say_where_to_get_them() -> None:
    settings = Settings.load({}, None)
    with pytest.raises(ConfigError) as info:
        settings.require_app()
    assert "CRONOFY_CLIENT_ID is not set" in str(info.value)
    assert "developer dashboard" in str(info.value)
    with pytest.raises(ConfigError) as info:
        Settings.load({"CRONOFY_CLIENT_ID": "a"}, None).require_app()
    assert "CRONOFY_CLIENT_SECRET" in str(info.value)
    with pytest.raises(ConfigError) as info:
        settings.require_tokens()
    assert "CRONOFY_ACCESS_TOKEN" in str(info.value)
    assert "personal token" in str(info.value)


def test_secrets_never_shown() -> None:
    settings = Settings.load(
        {
            "CRONOFY_CLIENT_SECRET": f"{SECRET},CRN_previousSECRETvalue00zz",
            "CRONOFY_ACCESS_TOKEN": ACCESS,
            "CRONOFY_REFRESH_TOKEN": REFRESH,
        },
        None,
    )
    assert settings.client_secrets == [SECRET, "CRN_previousSECRETvalue00zz"]
    shown = repr(settings) + str(settings) + str(settings.masked())
    for secret in (SECRET, "CRN_previousSECRETvalue00zz", ACCESS, REFRESH):
        assert secret not in shown
        assert secret[:-2] not in shown
    assert "CRN_…4f" in shown


def test_mask() -> None:
    assert mask(SECRET) == "CRN_…4f"
    assert mask("short") == "***"
    assert mask(None) == "(not set)"
    assert mask("abcdefghijklmnopqrstu") == "…tu"


# ---------------------------------------------------------------------- on pydantic-settings


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CRONOFY_AVAIL_MAX_ATTEMPTS", "CRONOFY_AVAIL_MAX_ATTEMPTS must be a whole number ≥ 1"),
        ("CRONOFY_AVAIL_SYNC_OVERLAP", "CRONOFY_AVAIL_SYNC_OVERLAP must be a number of seconds"),
    ],
)
def test_a_secret_pasted_into_the_wrong_variable_is_never_shown(name: str, expected: str) -> None:
    """pydantic's own messages quote the input: they never reach the user, nor the traceback."""
    with pytest.raises(ConfigError) as info:
        Settings.load({name: SECRET, "CRONOFY_CLIENT_SECRET": SECRET}, None)
    message = str(info.value)
    assert expected in message
    assert SECRET[:8] not in message
    assert SECRET[-8:] not in message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("value", "windows"),
    [
        ("50/s,500/min", CRONOFY_DEFAULT_WINDOWS),
        (" 500/min , 50/s ", CRONOFY_DEFAULT_WINDOWS),
        ("100/second,1000/minutes", (RateWindow(100, 1.0), RateWindow(1000, 60.0))),
        ("200/10s,30000/h", (RateWindow(200, 10.0), RateWindow(30000, 3600.0))),
        ("2/min", (RateWindow(2, 60.0),)),
    ],
)
def test_a_raised_rate_limit_is_read_from_the_environment_or_env_file(
    tmp_path: Path, value: str, windows: tuple[RateWindow, ...]
) -> None:
    settings = Settings.load({"CRONOFY_AVAIL_RATE_LIMIT": value}, None)
    assert settings.rate_limit == windows
    env_file = tmp_path / ".env"
    env_file.write_text(f"CRONOFY_AVAIL_RATE_LIMIT='{value}'\n")
    assert Settings.load({}, env_file).rate_limit == windows


def test_a_raised_rate_limit_is_shown_with_the_settings() -> None:
    settings = Settings.load({"CRONOFY_AVAIL_RATE_LIMIT": "100/s, 1000/min"}, None)
    assert settings.masked()["CRONOFY_AVAIL_RATE_LIMIT"] == "100/s,1000/min"
    default = Settings.load({}, None).masked()["CRONOFY_AVAIL_RATE_LIMIT"]
    assert default == "50/s,500/min (Cronofy's default)"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("fast", "'fast' is not <requests>/<period>"),
        ("50", "'50' is not <requests>/<period>"),
        ("50/s;500/min", "is not <requests>/<period>"),
        ("50/s,500/m", "'500/m' is not <requests>/<period> with a period of s, min or h"),
        ("50/ms", "'50/ms' is not <requests>/<period>"),
        ("50/s,", "none empty"),
        ("-1/s", "is not <requests>/<period>"),
        ("0/s", "'0/s' must allow from 1 to 1000000 requests"),
        ("5000000/s", "must allow from 1 to 1000000 requests"),
        ("50/0s", "needs a period longer than 0 and at most a day"),
        ("50/2h,500/120min", "'500/120min' repeats the period of another window"),
        ("1.5/s", "is not <requests>/<period>"),
    ],
)
def test_a_bad_rate_limit_names_the_variable_and_a_correct_example(
    value: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load({"CRONOFY_AVAIL_RATE_LIMIT": value}, None)
    message = str(info.value)
    assert message.startswith("CRONOFY_AVAIL_RATE_LIMIT=")
    assert problem in message
    assert "as CRONOFY_AVAIL_RATE_LIMIT=50/s,500/min (Cronofy's default)" in message
    assert info.value.__cause__ is None  # no chained pydantic error to print
    assert info.value.__suppress_context__


def test_the_first_invalid_variable_is_reported_in_the_old_order() -> None:
    with pytest.raises(ConfigError, match="CRONOFY_AVAIL_MAX_ATTEMPTS"):
        Settings.load({"CRONOFY_TZID": "Mars/Base", "CRONOFY_AVAIL_MAX_ATTEMPTS": "0"}, None)


def test_a_blank_variable_hides_the_env_file_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CRONOFY_CLIENT_ID=from_file\nCRONOFY_AVAIL_USER=jane\n")
    settings = Settings.load({"CRONOFY_CLIENT_ID": "", "CRONOFY_AVAIL_USER": "  "}, env_file)
    assert settings.client_id is None
    assert settings.user_id == "default"
    assert Settings.load({"CRONOFY_CLIENT_ID": " padded "}, None).client_id == "padded"


def test_only_the_documented_names_are_read(tmp_path: Path) -> None:
    """Field names, other variables and other spellings set nothing, from either source."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "db_url=postgresql://u:pw@h/d\nenv_file=/elsewhere\nclient_id=lower\n"
        "cronofy_client_id=lower\nCRONOFY_UNKNOWN=1\n"
    )
    environ = {"user_id": "x", "cronofy_avail_user": "x", "CRONOFY_AVAIL_NOPE": "1"}
    settings = Settings.load(environ, env_file)
    assert settings.db_url is None
    assert settings.env_file == env_file
    assert settings.client_id is None
    assert settings.user_id == "default"


def test_load_reads_os_environ_but_direct_construction_does_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRONOFY_CLIENT_ID", "from_os")
    monkeypatch.setenv("CRONOFY_AVAIL_USER", "os_user")
    assert Settings.load(env_file=tmp_path / "missing.env").client_id == "from_os"
    direct = Settings(client_id="given", db_path=tmp_path / "s.db")
    assert direct.client_id == "given"
    assert direct.user_id == "default"
    assert direct.db_path == tmp_path / "s.db"


def test_postgres_db_sets_the_url_and_a_local_anchor() -> None:
    url = "postgresql://app:pg5ecretPW@db.example:5433/avail"
    settings = Settings.load({"CRONOFY_AVAIL_DB": url}, None)
    assert settings.db_url == url
    assert settings.db_path == Path("~/.cronofy_avail/pg-db.example-5433-avail").expanduser()
    assert "pg5ecretPW" in settings.secrets()
    assert "pg5ecretPW" not in repr(settings) + settings.db_label


def test_secrets_masked_in_every_display_and_settings_frozen() -> None:
    settings = Settings.load(
        {"CRONOFY_ACCESS_TOKEN": ACCESS, "CRONOFY_CLIENT_SECRET": SECRET}, None
    )
    assert repr(settings).startswith("Settings(CRONOFY_CLIENT_ID=")
    shown = repr(settings) + str(settings) + repr(list(settings.__repr_args__()))
    assert ACCESS not in shown
    assert SECRET not in shown
    with pytest.raises(FrozenInstanceError) as info:  # as when Settings was a dataclass
        settings.access_token = REFRESH  # type: ignore[misc]
    assert REFRESH not in str(info.value)
    with pytest.raises(FrozenInstanceError):
        del settings.access_token
    assert settings.access_token == ACCESS


@pytest.mark.parametrize("value", ["2.0", "1e1", "two", " "])
def test_max_attempts_takes_whole_numbers_only(value: str) -> None:
    if not value.strip():  # blank: unset, the default
        assert Settings.load({"CRONOFY_AVAIL_MAX_ATTEMPTS": value}, None).max_attempts == 5
        return
    with pytest.raises(ConfigError, match="CRONOFY_AVAIL_MAX_ATTEMPTS must be a whole number"):
        Settings.load({"CRONOFY_AVAIL_MAX_ATTEMPTS": value}, None)


# --------------------------------------------------------------------------- .env above


def _project(tmp_path: Path) -> Path:
    """``proj/`` (a project root: pyproject.toml) with ``proj/notebooks/`` below it."""
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return root


def test_a_notebook_kernel_finds_the_projects_env_above_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kernels run in notebooks/; the README's .env is at the project's top."""
    root = _project(tmp_path)
    (root / ".env").write_text("CRONOFY_CLIENT_ID=app_from_top\n")
    monkeypatch.chdir(root / "notebooks")
    monkeypatch.delenv("CRONOFY_CLIENT_ID", raising=False)
    settings = Settings.load(search_parents=True)
    assert settings.client_id == "app_from_top"
    assert settings.env_file == root / ".env"
    assert settings.env_note() == f"read {root / '.env'}; tried ./.env, ../.env"
    # the commands read ./.env only
    assert Settings.load().client_id is None


def test_the_search_stops_at_the_project_root_and_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path)
    (tmp_path / ".env").write_text("CRONOFY_CLIENT_ID=outside_the_project\n")
    monkeypatch.chdir(root / "notebooks")
    for name in ("CRONOFY_CLIENT_ID", "CRONOFY_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.load(search_parents=True)
    assert settings.client_id is None
    assert settings.env_file is None
    assert settings.env_note() == "no .env file found; tried ./.env, ../.env"
    with pytest.raises(ConfigError) as info:
        settings.require_app()
    assert str(info.value).startswith(
        "CRONOFY_CLIENT_ID is not set (no .env file found; tried ./.env, ../.env)."
    )


def test_the_nearest_env_wins_and_a_git_checkout_is_a_root_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cronofy_avail.app.settings import find_env_file

    root = tmp_path / "checkout"
    (root / ".git").mkdir(parents=True)
    (root / "a" / "b").mkdir(parents=True)
    (root / ".env").write_text("CRONOFY_CLIENT_ID=top\n")
    (root / "a" / ".env").write_text("CRONOFY_CLIENT_ID=nearer\n")
    found = find_env_file(root / "a" / "b")
    assert found.found == root / "a" / ".env"
    assert found.tried == (root / "a" / "b" / ".env", root / "a" / ".env")
    (root / "a" / ".env").unlink()
    assert find_env_file(root / "a" / "b").found == root / ".env"
    assert find_env_file(tmp_path).tried[0] == tmp_path / ".env"  # up to the filesystem root


def test_a_notebook_shows_a_missing_variable_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cronofy_avail.notebook.config import NotebookError, load_settings

    root = _project(tmp_path)
    (root / ".env").write_text("CRONOFY_DATA_CENTER=uk\n")
    monkeypatch.chdir(root / "notebooks")
    for name in ("CRONOFY_CLIENT_ID", "CRONOFY_CLIENT_SECRET", "CRONOFY_DATA_CENTER"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings().data_center == "uk"
    with pytest.raises(NotebookError) as info:
        load_settings(require_app=True)
    message = str(info.value)
    assert message.startswith(
        f"CRONOFY_CLIENT_ID is not set (read {root / '.env'}; tried ./.env, ../.env)."
    )
    # What IPython shows instead of a traceback: the message, nothing else.
    shown = "\n".join(info.value._render_traceback_())
    assert "Traceback" not in shown
    assert "CRONOFY_CLIENT_ID is not set" in shown
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    with pytest.raises(ConfigError):  # debug=True: the real exception, traceback and all
        load_settings(require_app=True, debug=True)
    (root / ".env").write_text("CRONOFY_DATA_CENTER=mars\n")
    with pytest.raises(NotebookError, match=r"not a Cronofy data center.*read .*\.env; tried"):
        load_settings()
