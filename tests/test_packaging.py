"""What a published package must get right: links that work on PyPI.

The README is the package's long description on PyPI, where a relative link such as
``docs/plugins.md`` resolves against pypi.org and breaks; file links must be absolute.
"""

from __future__ import annotations

import re
from pathlib import Path

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
