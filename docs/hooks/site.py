"""MkDocs hooks of the documentation site.

* The committed benchmark plots (``benchmarks/results/<suite>/*.png``) are published
  under ``benchmark-results/<suite>/`` without copying them into ``docs/``, so a page
  embeds them with a relative link that ``mkdocs build --strict`` checks.
* Docstrings cross-reference with Sphinx roles (``:class:`~optuna.study.Study```),
  which Markdown renders as the role name followed by inline code; the role name is
  dropped and a ``~`` target shortened to its last component, as Sphinx shows it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File
from mkdocs.structure.files import Files

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK_RESULTS = ROOT / "benchmarks" / "results"
#: Site folder of the benchmark plots.
PLOTS_URI = "benchmark-results"

_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const|math):"
    r"<code>(~?)([^<]*)</code>"
)


def on_files(files: Files, config: Any) -> Files:
    """Add every committed benchmark plot to the site."""
    for png in sorted(BENCHMARK_RESULTS.glob("*/*.png")):
        uri = f"{PLOTS_URI}/{png.parent.name}/{png.name}"
        files.append(File.generated(config, uri, abs_src_path=str(png)))
    return files


def _shorten(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Render Sphinx cross-reference roles of docstrings as inline code."""
    return _ROLE.sub(_shorten, html)
