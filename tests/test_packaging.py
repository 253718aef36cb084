"""What a published package must get right: links that work on PyPI.

The README is the package's long description on PyPI, where a relative link such as
``docs/plugins.md`` resolves against pypi.org and breaks; file links must be absolute.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import NoReturn

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REPO_URL = "https://github.com/optuna-rl-sampler/optuna-rl-sampler"

#: Inline links and images ``[text](target "title")``, reference definitions
#: ``[label]: target`` and HTML ``href``/``src`` attributes.
_LINK_PATTERNS = (
    re.compile(r"\]\(\s*<?([^)\s>]+)"),
    re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE),
    re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE),
)
_ABSOLUTE = re.compile(r"^(?:https?://|mailto:)", re.IGNORECASE)


def _without_code(markdown: str) -> str:
    """The text outside fenced code blocks and inline code spans."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", markdown, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def relative_links(markdown: str) -> list[str]:
    """Link targets that are neither absolute URLs nor in-page anchors."""
    text = _without_code(markdown)
    targets = [m.group(1) for pattern in _LINK_PATTERNS for m in pattern.finditer(text)]
    return [t for t in targets if not t.startswith("#") and not _ABSOLUTE.match(t)]


def test_link_finder_catches_relative_links() -> None:
    markdown = (
        "See [the plugins](docs/plugins.md), ![plot](benchmarks/results/bbob/a.png),\n"
        '<img src="docs/pretrain/x.png">, [ok](https://example.org), [anchor](#set-up).\n'
        "[ref]: corpus/DATASHEET.md\n"
        "`[not a link](in/code.md)`\n"
        "```\n[not a link](in/a/fence.md)\n```\n"
    )
    assert relative_links(markdown) == [
        "docs/plugins.md",
        "benchmarks/results/bbob/a.png",
        "corpus/DATASHEET.md",
        "docs/pretrain/x.png",
    ]


def test_readme_links_are_absolute() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    bad = relative_links(readme)
    assert not bad, (
        f"README.md is the PyPI description, where relative links break: {bad}; "
        f"link files as {REPO_URL}/blob/main/PATH instead."
    )


def test_readme_repository_links_point_at_existing_files() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    prefix = f"{REPO_URL}/blob/main/"
    text = _without_code(readme)
    targets = [m.group(1) for pattern in _LINK_PATTERNS for m in pattern.finditer(text)]
    paths = [t[len(prefix) :].split("#")[0] for t in targets if t.startswith(prefix)]
    assert paths, "expected links to files of the repository in README.md"
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"README.md links to files the repository does not have: {missing}"


# --- the built distribution ------------------------------------------------------------

#: Files every wheel must carry: the policies with their cards and the source corpus.
SHIPPED_DATA = (
    "optuna_rl_sampler/weights/generic-v1.safetensors",
    "optuna_rl_sampler/weights/generic-v1.json",
    "optuna_rl_sampler/weights/transfer-v1.safetensors",
    "optuna_rl_sampler/weights/transfer-v1.json",
    "optuna_rl_sampler/weights/transfer-v2.safetensors",
    "optuna_rl_sampler/weights/transfer-v2.json",
    "optuna_rl_sampler/weights/recsys-corpus-v2.sources.json.gz",
    "optuna_rl_sampler/py.typed",
)
#: What the wheel is built from (copied, so the build never writes into the checkout).
_BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "optuna_rl_sampler")

#: Runs inside a fresh virtual environment that has the wheel and its base dependencies
#: only; prints one JSON object for the test to check.
_VENV_SCRIPT = r"""
import importlib.util
import json
import math
import sys

import optuna

import optuna_rl_sampler
from optuna_rl_sampler import RLSampler, SourceStudy
from optuna_rl_sampler.sources import load_builtin_sources

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    n = trial.suggest_int("n", 1, 64, log=True)
    c = trial.suggest_categorical("c", ["a", "b", "c"])
    return (x - 1.0) ** 2 + abs(math.log2(n) - 3.0) + (c != "b")


study = optuna.create_study(sampler=RLSampler(seed=0, budget=20))
study.optimize(objective, n_trials=20)
past = SourceStudy.from_study(study, name="past")
transfer = optuna.create_study(sampler=RLSampler(seed=1, source_studies=[past], budget=5))
transfer.optimize(objective, n_trials=5)


def reasons(s):
    return [t.system_attrs.get("rl_sampler:reason") for t in s.trials]


print(json.dumps({
    "version": optuna_rl_sampler.__version__,
    "module_file": optuna_rl_sampler.__file__,
    "n_trials": len(study.trials),
    "best_value": study.best_value,
    "reasons": reasons(study),
    "transfer_reasons": reasons(transfer),
    "n_builtin_sources": len(load_builtin_sources()),
    "torch_installed": importlib.util.find_spec("torch") is not None,
    "heavy_modules_loaded": sorted(
        m for m in ("torch", "pandas", "pyarrow", "lightgbm", "pluggy") if m in sys.modules
    ),
}))
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> NoReturn:
    """Skip locally when the packaging toolchain is missing, but never in CI."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set: this check must run there)")
    pytest.skip(reason)


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _tail(proc: subprocess.CompletedProcess[str], lines: int = 30) -> str:
    return "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-lines:])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the project's sources."""
    if importlib.util.find_spec("build") is None:
        _unavailable("the 'build' package is not installed (it is in the dev extra)")
    try:
        setuptools_version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        _unavailable("setuptools is not installed (it is in the dev extra)")
    if int(setuptools_version.split(".")[0]) < 77:
        _unavailable(f"setuptools>=77 is needed to build, found {setuptools_version}")
    src = tmp_path_factory.mktemp("src")
    for name in _BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)]
    proc = _run(cmd, src, timeout=300)
    assert proc.returncode == 0, f"building the wheel failed:\n{_tail(proc)}"
    wheels = sorted(out.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {wheels}"
    return wheels[0]


def test_wheel_carries_weights_corpus_and_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(meta_name).decode("utf-8")
    missing = [f for f in SHIPPED_DATA if f not in names]
    assert not missing, f"the wheel lacks shipped data files: {missing}"
    assert not any(n.startswith(("tests/", "benchmarks/", "corpus/")) for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    base = [r for r in requires if "extra ==" not in r]
    assert not [r for r in base if "torch" in r or "pandas" in r], base


def test_twine_accepts_the_wheel(wheel: Path) -> None:
    if importlib.util.find_spec("twine") is None:
        _unavailable("the 'twine' package is not installed (it is in the dev extra)")
    proc = _run([sys.executable, "-m", "twine", "check", "--strict", str(wheel)], ROOT, 120)
    assert proc.returncode == 0, _tail(proc)
    assert "PASSED" in proc.stdout


def test_wheel_runs_a_study_in_a_fresh_venv_without_extras(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    proc = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, timeout=300)
    if proc.returncode != 0:
        _unavailable(
            f"cannot create a virtual environment (is ensurepip missing?):\n{_tail(proc)}"
        )
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    proc = _run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp_path, timeout=600)
    if proc.returncode != 0:
        _unavailable(
            "cannot install the wheel's base dependencies from the package index "
            f"(offline?):\n{_tail(proc)}"
        )

    proc = _run([str(python), "-c", _VENV_SCRIPT], tmp_path, timeout=300)
    assert proc.returncode == 0, f"the study failed in the fresh venv:\n{_tail(proc, 60)}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])

    # The installed copy ran, not the checkout.
    assert Path(report["module_file"]).is_relative_to(venv), report["module_file"]
    assert report["version"] == _project_version()
    assert not report["torch_installed"], "the base install must not pull in torch"
    assert report["heavy_modules_loaded"] == []
    assert report["n_builtin_sources"] > 0, "the wheel's source corpus did not load"

    # Every trial after the first was proposed by the policy: no silent fallback.
    assert report["n_trials"] == 20
    proposed = report["reasons"][1:]
    assert all(r is not None and r["source"] != "fallback" for r in proposed), proposed
    assert {r["weights"] for r in proposed} == {"generic-v1"}
    assert math.isfinite(report["best_value"])
    transfer = [r for r in report["transfer_reasons"] if r is not None]
    assert transfer and all(r["source"] != "fallback" for r in transfer), transfer
    assert any(r.get("weights") == "transfer-v2" for r in transfer), transfer

    cli = venv / ("Scripts/optuna-rl.exe" if os.name == "nt" else "bin/optuna-rl")
    proc = _run([str(cli), "--version"], tmp_path, timeout=120)
    assert proc.returncode == 0, _tail(proc)
    assert _project_version() in proc.stdout


def _project_version() -> str:
    text = (ROOT / "optuna_rl_sampler" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", text)
    assert match, "optuna_rl_sampler/_version.py defines no __version__"
    return match.group(1)


# --- the OptunaHub package ---------------------------------------------------------------

HUB_PACKAGE = ROOT / "package" / "samplers" / "rl_sampler"
#: OptunaHub's README header: every field is required and every value is a string (or a
#: list of strings for ``tags`` and ``optuna_versions``).
HUB_FIELDS = ("author", "title", "description", "tags", "optuna_versions", "license")
HUB_SECTIONS = ("## Class or Function Names", "## Installation", "## Example", "## Others")


def _front_matter(markdown: str) -> dict[str, object]:
    match = re.match(r"---\n(.*?)\n---\n", markdown, flags=re.DOTALL)
    assert match, "the OptunaHub README must start with a '---' front-matter block"
    data = yaml.safe_load(match.group(1))
    assert isinstance(data, dict), data
    return data


def test_optunahub_readme_front_matter() -> None:
    readme = (HUB_PACKAGE / "README.md").read_text(encoding="utf-8")
    meta = _front_matter(readme)
    assert sorted(meta) == sorted(HUB_FIELDS)
    for key in ("author", "title", "description", "license"):
        assert isinstance(meta[key], str) and meta[key].strip(), key
    assert meta["license"] == "MIT License"
    # A human-readable title, not a class name.
    assert " " in meta["title"] and meta["title"] != "RLSampler"
    tags = meta["tags"]
    assert isinstance(tags, list) and all(isinstance(t, str) for t in tags), tags
    assert "sampler" in tags, "a package under package/samplers/ must carry the 'sampler' tag"
    versions = meta["optuna_versions"]
    assert isinstance(versions, list) and versions, versions
    assert all(isinstance(v, str) and re.fullmatch(r"\d+\.\d+\.\d+", v) for v in versions)

    for section in HUB_SECTIONS:
        assert re.search(rf"^{re.escape(section)}\s*$", readme, flags=re.MULTILINE), section
    names = re.search(r"^## Class or Function Names\n(.*?)^## ", readme, re.M | re.S)
    assert names
    listed = re.findall(r"^- `(\w+)`", names.group(1), flags=re.MULTILINE)
    init = (HUB_PACKAGE / "__init__.py").read_text(encoding="utf-8")
    exported = re.search(r"__all__ = \[(.*?)\]", init, flags=re.DOTALL)
    assert exported
    assert listed and sorted(listed) == sorted(re.findall(r'"(\w+)"', exported.group(1)))
    assert relative_links(readme) == [], "OptunaHub renders the README off the repository"


def test_optunahub_license_is_the_projects_mit_license() -> None:
    text = (HUB_PACKAGE / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "<COPYRIGHT HOLDER>" not in text
    assert text == (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_optunahub_example_runs(tmp_path: Path) -> None:
    if importlib.util.find_spec("optunahub") is None:
        _unavailable("the 'optunahub' package is not installed (it is in the dev extra)")
    proc = _run([sys.executable, str(HUB_PACKAGE / "example.py")], tmp_path, timeout=300)
    assert proc.returncode == 0, _tail(proc, 60)
    assert "from scratch: best value" in proc.stdout
    assert "policy transfer-v2" in proc.stdout, proc.stdout


def test_no_tracked_file_is_over_one_megabyte():
    # Results, corpora and weights are committed compressed and compact; a file over
    # 1 MB makes every clone slower and usually means raw data crept in.
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (the size rule is about tracked files)")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    paths = [ROOT / name.decode() for name in listed if name]
    sizes = {str(p.relative_to(ROOT)): p.stat().st_size for p in paths if p.is_file()}
    big = {name: size for name, size in sizes.items() if size > 1_000_000}
    assert not big, f"tracked files over 1 MB: {big}"
