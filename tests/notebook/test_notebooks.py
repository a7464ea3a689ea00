"""The notebooks: derived from their sources in ``notebooks/src/`` by ``notebooks/build.py``
(committed with the same cells, and no outputs), and executed headless with nbclient against
the emulator, results asserted.

Notebook 01 (the wizard) is executed here too; the browser test runs it in JupyterLab.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support import instants

nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[notebook]'")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def _build_module() -> ModuleType:
    pytest.importorskip("jupytext", reason="pip install -e '.[dev]'")
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def _as_committed(path: Path) -> str:
    """The notebook as git's index holds it (what a commit takes), else as on disk: running
    and saving a notebook locally is fine; committing its outputs is not."""
    shown = subprocess.run(  # noqa: S603 - git, on a path of ours
        ["git", "show", f":{path.relative_to(ROOT).as_posix()}"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.stdout if shown.returncode == 0 else path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- derived


def test_the_notebooks_have_the_cells_their_sources_derive() -> None:
    problems = _build_module().stale()
    assert problems == [], "\n".join(problems) + "\nrun: python notebooks/build.py"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs_and_with_stable_unique_ids(path: Path) -> None:
    nb = nbformat.reads(_as_committed(path), as_version=4)
    nbformat.validate(nb)
    ids = [cell.id for cell in nb.cells]
    assert len(ids) == len(set(ids))
    stem = path.name.split("_", 1)[0]
    assert all(re.fullmatch(rf"nb{stem}s?-\d\d", i) for i in ids)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], (
                f"{path.name} has outputs in git: run python notebooks/build.py and git add it"
            )
            assert cell.execution_count is None


def _run_and_save(path: Path) -> None:
    """What running a notebook in JupyterLab and saving it does to the file."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["language_info"] = {
        "name": "python",
        "version": "3.11.7",
        "mimetype": "text/x-python",
    }
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for count, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = count + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"ran {count}\n")]
        cell.metadata["execution"] = {"iopub.status.idle": "2026-01-05T10:00:00.000Z"}
        cell.metadata["scrolled"] = True
    nbformat.write(nb, path)


def test_a_notebook_run_and_saved_with_outputs_still_passes_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = _build_module()
    assert build.main([], folder=tmp_path) == 0
    ran = tmp_path / "02_under_the_hood.ipynb"
    _run_and_save(ran)
    assert "ran 0" in ran.read_text(encoding="utf-8")
    capsys.readouterr()
    assert build.main(["--check"], folder=tmp_path) == 0
    assert capsys.readouterr().out == ""

    # A cell whose source changed (edited in the .ipynb instead of its source) is reported.
    nb = nbformat.read(ran, as_version=4)
    nb.cells[3].source += "\nprint('edited in the notebook')"
    nbformat.write(nb, ran)
    assert build.main(["--check"], folder=tmp_path) == 1
    assert capsys.readouterr().out.splitlines() == [
        "notebooks/02_under_the_hood.ipynb: differs from notebooks/src/02_under_the_hood.py"
        " (cell nb02-03): run python notebooks/build.py"
    ]
    assert "edited in the notebook" in ran.read_text(encoding="utf-8")  # --check writes nothing

    # Building writes every notebook afresh, outputs gone.
    assert build.main([], folder=tmp_path) == 0
    assert build.main(["--check"], folder=tmp_path) == 0
    assert ran.read_text(encoding="utf-8") == build.render(build.derive(build.TARGETS[1]))


def test_the_check_reports_a_missing_a_stray_and_a_cell_too_many(tmp_path: Path) -> None:
    build = _build_module()
    assert build.main([], folder=tmp_path) == 0
    (tmp_path / "01_walkthrough.ipynb").unlink()
    (tmp_path / "05_new.ipynb").write_text((tmp_path / "04_exercises.ipynb").read_text("utf-8"))
    nb = nbformat.read(tmp_path / "04_solutions.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    nbformat.write(nb, tmp_path / "04_solutions.ipynb")
    assert build.stale(tmp_path) == [
        "05_new.ipynb: no source derives it (delete it, or add it to TARGETS)",
        "01_walkthrough.ipynb: missing (derived from notebooks/src/01_walkthrough.py)",
        f"04_solutions.ipynb: differs from notebooks/src/04_exercises.py ({len(nb.cells)} cells,"
        f" {len(nb.cells) - 1} expected)",
    ]


def test_a_source_is_compiled_as_jupyter_compiles_a_cell(tmp_path: Path) -> None:
    """Top-level await is fine (mypy is told so); anything Python refuses elsewhere is not."""
    build = _build_module()
    target = build.Target("01_walkthrough", "01_walkthrough", "01")
    (tmp_path / "01_walkthrough.py").write_text(
        "# %%\nasync with lock:\n    await thing()\n", encoding="utf-8"
    )
    assert [c.source for c in build.derive(target, tmp_path).cells] == [
        "async with lock:\n    await thing()"
    ]
    (tmp_path / "01_walkthrough.py").write_text(
        "# %%\ndef f() -> None:\n    async with lock:\n        pass\n", encoding="utf-8"
    )
    with pytest.raises(SyntaxError, match="'async with' outside async function"):
        build.derive(target, tmp_path)


def test_every_source_is_type_checked_as_a_notebook() -> None:
    """mypy names a source's module after its file; each needs the top-level-await override."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert "notebooks" in config["files"]
    override = next(o for o in config["overrides"] if "01_walkthrough" in o["module"])
    assert set(override["module"]) == {p.stem for p in (NOTEBOOKS / "src").glob("*.py")}
    sources = {t.source for t in _build_module().TARGETS}
    assert sources == set(override["module"])


def test_exercises_and_solutions_differ_only_in_the_exercise_cells() -> None:
    ex = nbformat.read(NOTEBOOKS / "04_exercises.ipynb", as_version=4)
    so = nbformat.read(NOTEBOOKS / "04_solutions.ipynb", as_version=4)
    assert len(ex.cells) == len(so.cells)
    differing = [
        (a.metadata.get("tags"), b.metadata.get("tags"))
        for a, b in zip(ex.cells, so.cells, strict=True)
        if a.source != b.source
    ]
    assert differing == [(["exercise"], ["solution"])] * 4


# --------------------------------------------------------------------------- executed


def _texts(cell: Any) -> str:
    out = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            out.append(output.text)
        elif output.output_type == "error":
            out.append(f"{output.ename}: {output.evalue}\n" + "\n".join(output.traceback))
        elif "data" in output:
            out.append(str(output.data.get("text/plain", "")))
    return "".join(out)


def _all_text(nb: Any) -> str:
    return "\n".join(_texts(c) for c in nb.cells if c.cell_type == "code")


def _client(nb: Any, cwd: Path) -> Any:
    """An nbclient that files outputs the way JupyterLab does: under the cell whose execution
    they belong to (their parent message), even while another cell runs. nbclient drops those;
    JupyterLab shows them in the earlier cell, which is how background work started in one cell
    printed into it while later cells ran. ``client.late`` lists them: (cell index, text)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionComplete
    from nbclient.util import ensure_async

    class Routed(NotebookClient):
        late: list[tuple[int, str]]

        async def _async_poll_output_msg(
            self, parent_msg_id: str, cell: Any, cell_index: int
        ) -> None:
            # nbclient's own loop (0.11), plus the filing of other cells' outputs
            cells[parent_msg_id] = (cell_index, cell)
            assert self.kc is not None
            while True:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
                parent = msg["parent_header"].get("msg_id")
                if parent == parent_msg_id:
                    try:
                        self.process_message(msg, cell, cell_index)
                    except CellExecutionComplete:
                        return
                elif parent in cells and msg["msg_type"] in _OUTPUTS:
                    index, earlier = cells[parent]
                    output = nbformat.v4.output_from_msg(msg)
                    earlier.outputs.append(output)
                    self.late.append((index, _texts({"outputs": [output]})))

    cells: dict[str, tuple[int, Any]] = {}
    client = Routed(
        nb,
        kernel_name="python3",
        timeout=180,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.late = []
    return client


_OUTPUTS = ("stream", "display_data", "execute_result", "error")


def _probe(source: str) -> Any:
    """A cell the test adds before the teardown to print facts as one JSON line."""
    return nbformat.v4.new_code_cell(source)


def _before_teardown(nb: Any, cell: Any) -> None:
    index = next(i for i, c in enumerate(nb.cells) if "teardown" in c.metadata.get("tags", []))
    nb.cells.insert(index, cell)


def _facts(nb: Any) -> dict[str, Any]:
    for line in _all_text(nb).splitlines():
        if line.startswith("FACTS "):
            facts: dict[str, Any] = json.loads(line[len("FACTS ") :])
            return facts
    raise AssertionError("no FACTS line:\n" + _all_text(nb))


@pytest.mark.slow
def test_02_under_the_hood_runs_and_shows_what_it_claims(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOKS / "02_under_the_hood.ipynb", as_version=4)
    _before_teardown(
        nb,
        _probe(
            "print('FACTS ' + json.dumps({"
            "'seed_lost': seed_lost_change, 'engine_kept': engine_kept_change,"
            "'seed_lost_write': seed_lost_write, 'engine_kept_write': engine_kept_write,"
            "'hits': fault.hits, 'retries': coordinator.stats.retries['ada'],"
            "'trap_slots': len(trap.results), 'slots': len(answer.results),"
            "'deliveries': sorted({d.notification_type for d in await store.list_deliveries()}),"
            "'what_if': what_if.counts(), 'owned': len(await store.get_periods('ada')),"
            # Reversed, so that the probe's own line (which the kernel's debug log repeats)
            # does not itself put a secret-shaped value in a log record.
            "'secret': emu.client_secret[::-1], 'token': account.access_token[::-1]}))"
        ),
    )
    client = _client(nb, tmp_path)
    client.execute()
    facts = _facts(nb)
    text = _all_text(nb)
    # Each cell shows only its own output: the receiver's refusal of cell 7's forged POST and
    # the engine's retries of cell 17's 503s (background work started in cell 5) printed
    # into cell 5 while those cells ran.
    assert client.late == []
    receiver_cell = next(c for c in nb.cells if "coordinator = await system" in c.source)
    assert _texts(receiver_cell).splitlines()[0].startswith("channel chn_")
    for elsewhere in ("malformed_signature", "retry", "503", "failed"):
        assert elsewhere not in _texts(receiver_cell)
    assert facts["seed_lost"] is True
    assert facts["engine_kept"] is True
    assert facts["seed_lost_write"] is True
    assert facts["engine_kept_write"] is True
    assert facts["hits"] == 5  # every injected 503 was met, and still nothing was lost
    assert facts["retries"] >= 1
    assert facts["trap_slots"] == 0
    assert facts["slots"] > 0
    assert facts["deliveries"] == ["change", "verification"]
    assert facts["what_if"] == {"upsert": 0, "delete": 1, "skip": 1}
    assert facts["owned"] == 4
    assert "tampered body: refused (signature_mismatch)" in text
    assert "no signature: refused (missing_signature)" in text
    assert "forged POST -> 401" in text
    assert "signed POST -> 202" in text
    assert "query_availability refuses the trap" in text
    # Secrets never reach an output (the probe's own line excepted).
    shown = text.replace(text[text.index("FACTS ") :].splitlines()[0], "")
    assert facts["secret"][::-1] not in shown
    assert facts["token"][::-1] not in shown


def _kernel_at(moment: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the kernels this test starts at ``moment`` (libfaketime: the kernel, its embedded
    emulator and receiver all see that clock)."""
    lib = instants.libfaketime()
    if lib is None:
        if os.environ.get("CI"):
            pytest.fail("libfaketime is missing (apt-get install faketime)")
        pytest.skip("libfaketime is not installed (apt-get install faketime)")
    for key, value in instants.env_at(instants.Instant("kernel", moment), lib).items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["now", "sunday-night"])
def test_01_walkthrough_reaches_step_4_with_periods_and_slots(
    tmp_path: Path, when: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a Sunday night "tomorrow" is in next week's calendar week: the week view must still
    # show what the notebook adds, and step 4 must still offer its slots.
    if when == "sunday-night":
        # Sunday night in the notebook's zone (23:50 UTC is Monday in London in summer)
        _kernel_at(instants.next_sunday_night(datetime.now(UTC), "Europe/London"), monkeypatch)
    nb = nbformat.read(NOTEBOOKS / "01_walkthrough.ipynb", as_version=4)
    _before_teardown(
        nb,
        _probe(
            "import json\n"
            "_c = wizard.controller\n"
            "print('FACTS ' + json.dumps({"
            "'states': {k: str(s.state) for k, s in wizard.steps.items()},"
            "'periods': sorted(r[3] for r in _c.period_rows()),"
            "'managed': len(_c.managed_slots), 'unmanaged': len(_c.unmanaged_slots),"
            "'period_bars': wizard.week.svg.count('data-kind=\"period\"'),"
            "'weekday': _c.today().weekday(),"
            "'deliveries': sorted({f.text.split()[1].rstrip(',')"
            " for f in _c.feed if f.kind == 'delivery'}),"
            # Reversed: the probe's own line must not put a secret-shaped value anywhere.
            "'secrets': [v[::-1] for v in _c._secret_values()"
            " + _c.backend.server.config.client_secrets]}))"
        ),
    )
    nb.cells.append(_probe("print('AFTER', wizard.controller.backend is None)"))
    client = _client(nb, tmp_path)
    client.execute()
    assert client.late == []  # the wizard's background work prints into no cell
    facts = _facts(nb)
    text = _all_text(nb)
    assert set(facts["states"].values()) == {"done"}
    assert facts["periods"] == ["After lunch", "Morning"]
    assert facts["period_bars"] == 2
    if when == "sunday-night":
        assert facts["weekday"] == 6  # the wizard's today really was a Sunday
    assert 0 < facts["managed"] < facts["unmanaged"]
    assert facts["deliveries"] == ["change", "verification"]
    assert "'availability': 'done'" in text  # what the reader sees after run_all()
    assert "Morning" in text
    assert "slot(s) with managed availability" in text
    assert "AFTER True" in text  # shutdown() stopped the emulator and the receiver
    # The wizard's display after shutdown(): its last state as plain HTML under "Stopped",
    # which the saved notebook shows as it was when reopened (a widget view would read "Error
    # displaying widget: model not found" there).
    wizard_cell = next(
        c for c in nb.cells if c.cell_type == "code" and "Wizard.start()" in c.source
    )
    (shown,) = [o.data for o in wizard_cell.outputs if "data" in o]
    assert "application/vnd.jupyter.widget-view+json" not in shown
    assert shown["text/plain"].startswith("Stopped: the receiver and syncs were shut down")
    assert 'class="cav-stopped-note"' in shown["text/html"]
    assert "✔ 4. Availability (done)" in shown["text/html"]
    assert shown["text/html"].count('data-kind="period"') == 2  # the week as it was
    assert "Traceback" not in text
    # No secret in any output or saved widget state (the probe's own line excepted).
    probe_line = text[text.index("FACTS ") :].splitlines()[0]
    shown = json.dumps(nb).replace(json.dumps(probe_line)[1:-1], "")
    assert len(facts["secrets"]) >= 3
    for secret in facts["secrets"]:
        assert secret[::-1] not in shown


def _checks(nb: Any) -> dict[str, bool]:
    for line in _all_text(nb).splitlines():
        if line.startswith("CHECKS "):
            checks: dict[str, bool] = json.loads(line[len("CHECKS ") :])
            return checks
    raise AssertionError("no CHECKS line:\n" + _all_text(nb))


def _check_outputs(nb: Any) -> list[str]:
    return [_texts(c) for c in nb.cells if "check" in c.metadata.get("tags", [])]


@pytest.mark.slow
def test_04_checks_fail_on_the_exercises_and_say_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRONOFY_AVAIL_SEAT", str(tmp_path / "no-seat.json"))  # no workshop
    nb = nbformat.read(NOTEBOOKS / "04_exercises.ipynb", as_version=4)
    client = _client(nb, tmp_path)
    client.execute()
    assert client.late == []
    assert _checks(nb) == {
        "Make Thursday afternoon available": False,
        "Why did this slot disappear?": False,
        "Make an all-day event count": False,
        "Recover after the receiver was down": False,
    }
    one, two, three, four = _check_outputs(nb)
    assert "no event in the Availability calendar covers" in one
    assert "set blocking_event_uid" in two
    assert "still skips all-day events" in three
    assert "run a full reconcile" in three
    assert "the channel is closed" in four
    assert "2 event(s) have no Available Period" in four  # exercise 3's event is not listed
    assert "+00:00" not in four  # local times, as the other checks say them
    assert all("still wrong" in out for out in (one, two, three, four))


@pytest.mark.slow
def test_04_checks_pass_on_the_solutions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRONOFY_AVAIL_SEAT", str(tmp_path / "no-seat.json"))  # no workshop
    nb = nbformat.read(NOTEBOOKS / "04_solutions.ipynb", as_version=4)
    client = _client(nb, tmp_path)
    client.execute()
    assert client.late == []
    assert set(_checks(nb).values()) == {True}
    assert all("solved" in out for out in _check_outputs(nb))
    assert "Traceback" not in _all_text(nb)


# --------------------------------------------------------------------------- 03


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _control(base: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - a loopback URL the test built
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def _authorization_code(text: str) -> str:
    """Follow the printed authorization URL as the person would; the emulator consents."""
    import http.client
    from urllib.parse import parse_qs, urlsplit

    url = urlsplit(re.search(r"Open: (\S+)", text).group(1))  # type: ignore[union-attr]
    connection = http.client.HTTPConnection(url.netloc, timeout=30)
    connection.request("GET", f"{url.path}?{url.query}")
    response = connection.getresponse()
    assert response.status == 302
    location = response.getheader("Location") or ""
    connection.close()
    return parse_qs(urlsplit(location).query)["code"][0]


def _availability_calendar(base: str) -> str:
    for summary in _control(base, "GET", "/_emulator/accounts")["accounts"]:
        account = _control(base, "GET", f"/_emulator/accounts/{summary['account_id']}")
        for calendar in account["calendars"]:
            if calendar["calendar_name"] == "Availability":
                return str(calendar["calendar_id"])
    raise AssertionError("no Availability calendar: step 1 did not run")


@pytest.mark.slow
@pytest.mark.parametrize("authorize", [False, True], ids=["tokens", "authorize"])
def test_03_runs_against_the_emulator_standing_in_for_cronofy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, authorize: bool
) -> None:
    emulator = subprocess.Popen(  # noqa: S603 - our own command
        [str(Path(sys.executable).parent / "cronofy-avail"), "emulator", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        info = json.loads(emulator.stdout.readline())
        base = info["base_url"]
        port = _free_port()
        for key in list(os.environ):
            if key.startswith("CRONOFY_"):
                monkeypatch.delenv(key)
        # As a user has it: the application in the project's .env, the kernel in notebooks/.
        dotenv = {
            "CRONOFY_API_BASE_URL": base,
            "CRONOFY_CLIENT_ID": info["client_id"],
            "CRONOFY_CLIENT_SECRET": info["client_secret"],
        }
        if not authorize:
            dotenv["CRONOFY_ACCESS_TOKEN"] = info["access_token"]
            dotenv["CRONOFY_REFRESH_TOKEN"] = info["refresh_token"]
        project = tmp_path / "project"
        (project / "notebooks").mkdir(parents=True)
        (project / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
        (project / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
        monkeypatch.setenv("CRONOFY_AVAIL_PUBLIC_URL", f"http://127.0.0.1:{port}/cronofy")
        monkeypatch.setenv("CRONOFY_AVAIL_PORT", str(port))
        monkeypatch.chdir(project / "notebooks")

        nb = nbformat.read(NOTEBOOKS / "03_live_with_real_cronofy.ipynb", as_version=4)
        client = _client(nb, project / "notebooks")
        skipped = 0
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                tags = cell.metadata.get("tags", [])
                if authorize and 'CODE = ""' in cell.source:
                    # The person pastes the code from the page the emulator redirected to.
                    code = _authorization_code(_all_text(nb))
                    cell.source = cell.source.replace('CODE = ""', f"CODE = {code!r}")
                elif "real-network" in tags:
                    skipped += 1
                    continue
                if "waits-for-user" in tags:
                    # The person adds availability in their calendar app; here, the emulator's.
                    sub = _availability_calendar(base)
                    _control(
                        base,
                        "POST",
                        f"/_emulator/calendars/{sub}/events",
                        {"summary": "Free", "start": "2099-01-05", "end": "2099-01-06"} | _soon(),
                    )
                client.execute_cell(cell, index)
        text = _all_text(nb)
        assert f"configuration: read {project / '.env'}; tried ./.env, ../.env" in text
        assert skipped == (1 if authorize else 2)
        if authorize:
            assert "authorized; scopes:" in text
        else:
            assert "tokens configured; no authorization needed" in text
        assert "verification notification received and verified" in text
        assert "1 Available Period(s):" in text
        assert re.search(r"[1-9]\d* slots of 30 minutes", text)
        assert "closed chn_" in text
        assert "deleted 1 period(s)" in text
        after = _control(base, "GET", "/_emulator/channels")
        assert all(not c["active"] for c in after["channels"])
        for secret in (info["client_secret"], info["access_token"], info["refresh_token"]):
            assert secret not in text
        # Tokens the code flow issued are unknown here; the emulator's have a length that no
        # id shown in the notebook reaches.
        assert not re.search(r"[A-Za-z0-9_-]{40,}", text)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


def _soon() -> dict[str, str]:
    from datetime import UTC, datetime, timedelta

    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {"start": start.strftime(fmt), "end": (start + timedelta(hours=3)).strftime(fmt)}


def test_the_exercise_checks_import_no_widget_library() -> None:
    """The checks run in scripts and tests too: no ipywidgets/anywidget/IPython in them."""
    import ast

    source = (ROOT / "cronofy_avail" / "notebook" / "exercises.py").read_text(encoding="utf-8")
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    assert names.isdisjoint({"ipywidgets", "anywidget", "IPython", "traitlets"})


# --------------------------------------------------------------------------- make notebook


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_make_notebook_gives_jupyterlab_and_everything_the_notebooks_import(
    tmp_path: Path,
) -> None:
    """``make notebook`` on a fresh clone installs the ``notebook`` extra (a dry run on a copy
    of the Makefile), and that extra plus the base dependencies cover JupyterLab, its kernel
    and every third-party module a notebook imports (the wizard's included)."""
    import ast
    import importlib.metadata
    import shutil
    import tomllib

    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed (apt-get install make)")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    dry = subprocess.run(  # noqa: S603 - make, on a copy of our own Makefile
        [make, "--no-print-directory", "-n", "notebook"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert dry.returncode == 0, dry.stderr
    assert "-m venv .venv" in dry.stdout  # a fresh clone gets its environment
    assert 'pip install --quiet -e ".[notebook]"' in dry.stdout
    assert ".venv/bin/jupyter lab --notebook-dir=notebooks" in dry.stdout

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    installed = _requirement_names(project["dependencies"])
    installed |= _requirement_names(project["optional-dependencies"]["notebook"])
    assert {"jupyterlab", "ipykernel", "ipywidgets", "anywidget"} <= installed

    imported: set[str] = {
        "ipywidgets",
        "anywidget",
    }  # what `from cronofy_avail import Wizard` needs
    for path in NOTEBOOKS.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Import):
                    imported.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module.split(".")[0])
    ours = {"cronofy_avail", "webhook_server"}
    third_party = {m for m in imported - ours if m not in sys.stdlib_module_names}
    distributions = importlib.metadata.packages_distributions()
    for module in sorted(third_party):
        names = {d.lower() for d in distributions.get(module, [module])}
        assert names & installed, f"notebooks import {module}: add it to the notebook extra"
