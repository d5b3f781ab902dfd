"""``nemorun ui`` in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium, against a real records directory.

The runs are made once for the module with ``nemorun run`` and ``nemorun launch`` on the local
target: a two-point sweep that writes ``metrics.jsonl``, the same spec with another learning
rate, a failing run, and a run that prints a line, then waits for a file the test creates
after the page has loaded before printing a second line (the page must follow it). The server
is the ``nemorun ui`` command in its own process, on a free loopback port. Screenshots are
kept under pytest's temporary directory (their paths are printed).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import NEMORUN, nemorun

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (the test extra)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (tests/run.sh installs them as root)",
)
WAIT = 30.0
"""Seconds the page may take to show what a step expects."""

TASK = """
import concurrent.futures
import itertools
import json
import os
import pathlib
import time


def train(lr: float, steps: int = 5) -> None:
    where = pathlib.Path(os.environ["NEMORUN_POINT_DIR"])
    with open(where / "metrics.jsonl", "w") as out:
        for step in range(steps):
            out.write(json.dumps({"step": step, "loss": lr / (step + 1)}) + "\\n")
    print(f"trained lr={lr}", flush=True)


def broken() -> None:
    raise SystemExit("broken on purpose")


def slow(gate: str) -> None:
    print("<img src=x onerror=alert(1)> stays text", flush=True)
    print("first line", flush=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.1)
    print("late line after the gate", flush=True)
"""


def spec(name: str, task: str, extra: str = "") -> str:
    return (
        textwrap.dedent(
            f"""\
        nemorun: 1
        name: {name}
        pythonpath: [code]
        task: {task}
        executor: {{target: local}}
        """
        )
        + extra
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The records directory: four runs by name, their ids, the gate file and the home."""
    work = tmp_path_factory.mktemp("ui-runs")
    (work / "code").mkdir()
    (work / "code" / "uitask.py").write_text(TASK, encoding="utf-8")
    gate = work / "gate"
    specs = {
        "sweep": spec(
            "sweep", "{_target_: uitask:train, lr: 0.1}", "sweep: {task.lr: [0.1, 0.2]}\n"
        ),
        "broken": spec("broken", "{_target_: uitask:broken}"),
        "slow": spec("slow", f"{{_target_: uitask:slow, gate: '{gate}'}}"),
    }
    for name, text in specs.items():
        (work / f"{name}.yaml").write_text(text, encoding="utf-8")
    home = {"NEMORUN_HOME": str(work / "home")}
    chains = [  # the chains run side by side; a chain's commands one after the other
        [("run", "sweep.yaml"), ("run", "sweep.yaml", "task.lr=0.3")],  # the diff reads old → new
        [("run", "broken.yaml")],
        [("launch", "slow.yaml")],
    ]

    def run_chain(chain: list[tuple[str, ...]]) -> list[subprocess.CompletedProcess[str]]:
        return [nemorun(*command, cwd=work, **home) for command in chain]

    with concurrent.futures.ThreadPoolExecutor(len(chains)) as pool:
        for done in itertools.chain.from_iterable(pool.map(run_chain, chains)):
            assert done.returncode in (0, 1), done.stderr
    listed = json.loads(nemorun("ls", "--json", cwd=work, **home).stdout)
    return {"work": work, "gate": gate, "home": work / "home", "listed": listed}


@pytest.fixture(scope="module")
def url(runs: dict[str, Any]) -> Iterator[str]:
    """``nemorun ui --port 0 --home HOME`` running; the URL it printed."""
    server = subprocess.Popen(
        [*NEMORUN, "ui", "--port", "0", "--home", str(runs["home"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("nemorun ui: http://127.0.0.1:"), first + server.stderr.read()
        assert "?token=" in first  # the page passes it on to every question it asks
        yield first.split(": ", 1)[1].strip()
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def visit(driver: Any, url: str) -> None:
    """Load ``url`` afresh (from another URL of the page only its #fragment would change)."""
    driver.get("about:blank")
    driver.get(url)


def until(driver: Any, what: Any, message: str) -> Any:
    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(what, message)


def cells(driver: Any, table: str) -> list[list[str]]:
    """The text of each cell of each row of ``table`` (a CSS selector), read at one instant."""
    read = "return [...document.querySelectorAll(arguments[0] + ' tbody tr')]"
    read += ".map(tr => [...tr.cells].map(td => td.innerText))"
    return list(driver.execute_script(read, table))


def rows(driver: Any) -> list[list[str]]:
    """The run table's rows as the page shows them (without the selection box)."""
    return [row[1:] for row in cells(driver, "#runs")]


def shoot(driver: Any, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    path = tmp_path_factory.getbasetemp() / f"ui-{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}", file=sys.stderr)
    return path


def by_name(runs: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in runs["listed"] if r["name"] == name]


def test_the_list_shows_every_run_and_filters_them(
    browser: Any, url: str, runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    visit(browser, url)
    until(browser, lambda d: len(rows(d)) == 4, "the page never showed the 4 runs")
    expected = [[r["id"], r["name"], "local", r["created"]] for r in runs["listed"]]
    assert [row[:4] for row in rows(browser)] == expected  # newest first, as `ls` says
    until(
        browser,
        lambda d: (
            {row[1]: row[4] for row in rows(d)}
            == {"sweep": "completed", "broken": "failed", "slow": "running"}
        ),
        "the runs' states are not shown",
    )

    search = browser.find_element(By.ID, "search")
    search.send_keys("swe")
    until(browser, lambda d: len(rows(d)) == 2, "search 'swe' did not keep the 2 sweep runs")
    assert {row[1] for row in rows(browser)} == {"sweep"}
    search.clear()
    search.send_keys(" ")  # clear() sends no input event
    Select(browser.find_element(By.ID, "status")).select_by_value("failed")
    until(browser, lambda d: len(rows(d)) == 1, "the status filter did not keep the failed run")
    assert rows(browser)[0][0] == by_name(runs, "broken")[0]["id"]
    shoot(browser, tmp_path_factory, "list-filtered")


def test_a_run_page_follows_its_log_live(
    browser: Any, url: str, runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    (slow,) = by_name(runs, "slow")
    visit(browser, f"{url}#/run/{slow['id']}")
    log = until(browser, lambda d: d.find_element(By.ID, "log"), "no log on the run page")
    until(browser, lambda d: "first line" in log.text, "the log never showed its first line")
    assert "late line" not in log.text
    assert "<img src=x onerror=alert(1)> stays text" in log.text.splitlines()
    assert browser.find_elements(By.CSS_SELECTOR, "#log img") == []
    keys = browser.find_elements(By.CSS_SELECTOR, "#spec-files pre .hl-k")
    assert {"name", "task", "gate"} <= {k.text for k in keys}  # the spec, highlighted
    artifacts = browser.find_elements(By.CSS_SELECTOR, "#artifacts-files details")
    assert "artifacts/entry.py" in [a.get_attribute("data-path") for a in artifacts]

    runs["gate"].touch()  # only now does the job print its second line
    until(browser, lambda d: "late line after the gate" in log.text, "the new line never came")
    until(
        browser,
        lambda d: d.find_element(By.ID, "run-status").text == "completed",
        "the run's status never turned completed",
    )
    assert log.text.splitlines()[-2:] == ["first line", "late line after the gate"]
    shoot(browser, tmp_path_factory, "run-log")


def test_a_sweep_shows_its_points_and_metric_plots(
    browser: Any, url: str, runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    sweep = by_name(runs, "sweep")[-1]  # the older one: both points
    visit(browser, f"{url}#/run/{sweep['id']}")
    until(browser, lambda d: cells(d, "#point-table"), "no points")
    head = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#point-table th")]
    table = [dict(zip(head, row)) for row in cells(browser, "#point-table")]
    # the last loss each point wrote: lr / 5
    assert [(r["point"], r["values"], r["state"], r["loss"]) for r in table] == [
        ("0", "lr=0.1", "completed", "0.02"),
        ("1", "lr=0.2", "completed", "0.04"),
    ]
    plot = browser.find_element(By.CSS_SELECTOR, "#plots svg[aria-label=loss]")
    assert len(plot.find_elements(By.TAG_NAME, "polyline")) == 2  # a line per point
    shoot(browser, tmp_path_factory, "run-sweep")


def select_the_two_sweep_runs(browser: Any, url: str, runs: dict[str, Any]) -> None:
    visit(browser, url)
    until(browser, lambda d: len(rows(d)) == 4, "the page never showed the 4 runs")
    for run in by_name(runs, "sweep"):
        browser.find_element(By.CSS_SELECTOR, f"input.pick[data-id='{run['id']}']").click()
    browser.find_element(By.ID, "compare").click()


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot (graphviz)")
def test_selected_runs_open_their_graph_diff(
    browser: Any, url: str, runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    select_the_two_sweep_runs(browser, url, runs)
    changes = until(browser, lambda d: d.find_element(By.ID, "changes"), "no graph diff shown")
    assert "~ task.lr: 0.1 → 0.3" in changes.text.splitlines()
    picture = until(browser, lambda d: d.find_element(By.ID, "diff-svg"), "no diff picture")
    until(browser, lambda d: picture.get_property("naturalWidth") > 0, "the picture is empty")
    shoot(browser, tmp_path_factory, "compare")


def test_selected_runs_open_their_comparison_table(
    browser: Any, url: str, runs: dict[str, Any]
) -> None:
    pytest.importorskip("nemorun.launchers.comparison", reason="compare is built separately")
    select_the_two_sweep_runs(browser, url, runs)
    until(browser, lambda d: cells(d, "#comparison"), "no comparison table")
    head = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#comparison th")]
    assert "run" in head and "task.lr" in head
    shown = browser.find_element(By.ID, "comparison").text
    assert all(r["id"] in shown for r in by_name(runs, "sweep"))
