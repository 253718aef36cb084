"""optuna-dashboard explains each trial: a recipe's study, opened in a real browser.

``recipes/social.py`` tunes for a few trials on its synthetic data (the default ``rl``
sampler) into a SQLite file; the ``optuna-dashboard`` command the recipe prints is
started on a free port, and headless Chromium (Debian's ``chromium`` package, driven by
Playwright for Python; Playwright's own browser download is never used) clicks through
it as a user would and checks what is on the screen:

* History: the y axis is named by the study's metric name (``ndcg@10``), not
  "Objective 0";
* Note: the study note the recipe wrote (its tuned / default / popularity table);
* Trials (List) -> the last trial: its ``rl:reason`` user attribute, the sampler's
  one-line reason. optuna-dashboard lists user attributes in a box 150 px high that
  scrolls and does not wrap, so the test scrolls that box as a user would and checks
  that the key and the reason's opening words are inside the visible part of it.

Needs ``chromium`` on the PATH (``apt-get install chromium``), ``playwright`` and
``optuna-dashboard`` (``pip install playwright 'optuna-rl-sampler[dashboard]'``); without
them the test skips, but with ``CI=true`` it fails (``.ci/run`` installs all three).

The screenshot ``docs/dashboard-trial.png`` (the trial page showing the reason) comes
from this test::

    python tests/test_dashboard_browser.py --screenshot docs/dashboard-trial.png

(or ``ORS_DASHBOARD_SCREENSHOT=PATH pytest tests/test_dashboard_browser.py``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "social.py"
METRIC = "ndcg@10"  # social.py's tuned metric
TRIALS = 5
REASON_KEY = "rl:reason"  # optuna_rl_sampler.sampler.DASHBOARD_KEY
SCREENSHOT_ENV = "ORS_DASHBOARD_SCREENSHOT"
#: Longest wait for anything (the recipe excepted): a busy CI machine renders slowly.
TIMEOUT_S = 60

pytestmark = pytest.mark.slow


def _unavailable(reason: str) -> NoReturn:
    """Skip where a tool is missing, but fail under ``CI=true``, where it must run."""
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI is set, where this test must run, not skip.")
    pytest.skip(reason)


def _chromium() -> str:
    """Path of Debian's Chromium; skips (fails in CI) when something is missing."""
    missing = []
    chromium = shutil.which("chromium")
    if chromium is None:
        missing.append("chromium (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install playwright; never `playwright install`)")
    if importlib.util.find_spec("optuna_dashboard") is None:
        missing.append("optuna-dashboard (pip install 'optuna-rl-sampler[dashboard]')")
    if missing:
        _unavailable(f"the dashboard browser test needs {', '.join(missing)}")
    assert chromium is not None
    return chromium


def _dashboard_command() -> list[str]:
    """The ``optuna-dashboard`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("optuna-dashboard")
    if script.is_file():
        return [str(script)]
    found = shutil.which("optuna-dashboard")
    if found:
        return [found]
    return [sys.executable, "-c", "from optuna_dashboard._cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecipeRun:
    """The recipe's run: its storage URL, study and printed dashboard command."""

    def __init__(self, stdout: str) -> None:
        hint = stdout.rstrip().splitlines()[-1].split()
        assert hint[0] == "optuna-dashboard" and hint[2] == "--artifact-dir", stdout[-2000:]
        self.dashboard_args = hint[1:]
        self.storage = hint[1]
        (name,) = optuna.get_all_study_names(self.storage)
        self.study = optuna.load_study(study_name=name, storage=self.storage)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> RecipeRun:
    _chromium()  # no recipe run when the test cannot run
    folder = tmp_path_factory.mktemp("dashboard")
    storage = f"sqlite:///{folder / 'study.db'}"
    args = ["--size", "tiny", "--trials", str(TRIALS), "--storage", storage,
            "--out", str(folder / "out"), "--no-progress"]  # fmt: skip
    env = {**os.environ, "OPTUNA_RL_PLUGINS": "", "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(
        [sys.executable, str(RECIPE), *args],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return RecipeRun(proc.stdout)


@pytest.fixture(scope="module")
def dashboard(recipe: RecipeRun) -> Iterator[str]:
    """The recipe's ``optuna-dashboard`` command on a free port; yields its base URL."""
    port = _free_port()
    command = [*_dashboard_command(), *recipe.dashboard_args, "--host", "127.0.0.1",
               "--port", str(port), "--quiet"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            if proc.poll() is not None:
                error = proc.stderr.read()
                pytest.fail(f"optuna-dashboard exited with {proc.returncode}: {error}")
            try:
                with urllib.request.urlopen(f"{base}/api/studies", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"optuna-dashboard did not answer on {base} in {TIMEOUT_S} s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


#: Characters of an element's text that are on the screen: inside the viewport and inside
#: every ancestor that clips its overflow (the scrolling user-attribute box).
_VISIBLE_TEXT_JS = """
element => {
  const clips = [[0, 0, window.innerWidth, window.innerHeight]];
  for (let p = element.parentElement; p; p = p.parentElement) {
    const style = getComputedStyle(p);
    if (style.overflowX !== "visible" || style.overflowY !== "visible") {
      const r = p.getBoundingClientRect();
      clips.push([r.left, r.top, r.right, r.bottom]);
    }
  }
  const inside = r => clips.every(
    ([left, top, right, bottom]) =>
      r.width > 0 && r.left >= left - 0.5 && r.right <= right + 0.5 &&
      r.top >= top - 0.5 && r.bottom <= bottom + 0.5);
  let text = "";
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const range = document.createRange();
    for (let i = 0; i < node.data.length; i++) {
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rects = range.getClientRects();
      text += rects.length && inside(rects[0]) ? node.data[i] : "\\u0000";
    }
  }
  return text;
}
"""

#: Scroll the nearest scrolling ancestor (the user-attribute box) so that the element's
#: line is in its middle, as a user's mouse wheel would; never scroll sideways.
_SCROLL_BOX_JS = """
element => {
  let box = element.parentElement;
  while (box && !["auto", "scroll"].includes(getComputedStyle(box).overflowY)) {
    box = box.parentElement;
  }
  box.scrollIntoView({block: "nearest"});
  const offset = element.getBoundingClientRect().top - box.getBoundingClientRect().top;
  box.scrollTop += offset - (box.clientHeight - element.offsetHeight) / 2;
  window.scrollTo(0, window.scrollY);
}
"""


def _opening(reason: str) -> str:
    """The reason's opening words: up to its first parenthesis (the "why"), or all."""
    return reason.split(" (", 1)[0]


def test_dashboard_shows_reason_metric_name_and_note(recipe: RecipeRun, dashboard: str) -> None:
    from playwright.sync_api import expect
    from playwright.sync_api import sync_playwright

    study = recipe.study
    trial = study.trials[-1]
    reason = trial.user_attrs.get(REASON_KEY)
    assert isinstance(reason, str) and reason, f"trial {trial.number} has no {REASON_KEY!r}"
    from optuna_dashboard._note import get_note_from_system_attrs

    note = get_note_from_system_attrs(study._storage.get_study_system_attrs(study._study_id), None)
    # The note's title line, as the dashboard renders its Markdown heading.
    title = note["body"].splitlines()[0].lstrip("#").strip()
    assert title, note

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            page.set_default_timeout(TIMEOUT_S * 1000)
            expect.set_options(timeout=TIMEOUT_S * 1000)

            # The study list -> the study's History page: the metric name on the y axis.
            page.goto(f"{dashboard}/dashboard")
            page.get_by_role("link", name=re.compile(re.escape(study.study_name))).click()
            expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible()
            y_axis = page.locator("svg text.ytitle").filter(has_text=METRIC).first
            expect(y_axis).to_have_text(METRIC)
            expect(y_axis).to_be_visible()
            expect(page.get_by_text("Objective 0")).to_have_count(0)

            # Note: the study note the recipe wrote, its heading and its table.
            page.get_by_role("link", name="Note", exact=True).click()
            expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
            expect(page.get_by_role("cell", name=f"{METRIC}* test", exact=True)).to_be_visible()
            for column in ("tuned", "default", "popularity"):
                expect(page.get_by_role("columnheader", name=column, exact=True)).to_be_visible()

            # Trials (List) -> the trial: its reason among the user attributes.
            page.get_by_role("link", name="Trials (List)", exact=True).click()
            page.get_by_text(f"Trial {trial.number}", exact=True).click()
            heading = f"Trial {trial.number} (trial_id={trial._trial_id})"
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
            entry = page.get_by_text(f"{REASON_KEY} {reason}", exact=True)
            expect(entry).to_have_count(1)
            entry.evaluate(_SCROLL_BOX_JS)
            expect(entry).to_be_in_viewport()
            shown = entry.evaluate(_VISIBLE_TEXT_JS)
            seen = shown.split("\0")[0]  # the visible run from the start of the line
            wanted = f"{REASON_KEY} {_opening(reason)}"
            assert seen.startswith(wanted), (
                f"on screen only {seen!r} of the reason line ({len(seen)} of "
                f"{len(shown)} characters); expected at least {wanted!r}"
            )

            screenshot = os.environ.get(SCREENSHOT_ENV)
            if screenshot:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=screenshot, animations="disabled")
        finally:
            browser.close()


if __name__ == "__main__":
    # python tests/test_dashboard_browser.py --screenshot docs/dashboard-trial.png
    import argparse

    parser = argparse.ArgumentParser(description="Run the dashboard browser test.")
    parser.add_argument("--screenshot", metavar="PNG", help="save the trial page here")
    options = parser.parse_args()
    if options.screenshot:
        os.environ[SCREENSHOT_ENV] = str(Path(options.screenshot).resolve())
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
