"""The examples in the public docstrings run, and print what they claim.

Each module below must hold at least one example (a docstring that lost its examples
fails here rather than passing with nothing checked). The examples are kept cheap: tiny
studies, no training, no data files.
"""

from __future__ import annotations

import doctest
import importlib
import io

import optuna
import pytest

#: Modules whose docstring examples are part of the documentation.
DOCTEST_MODULES = (
    "optuna_rl_sampler.sampler",
    "optuna_rl_sampler.reasons",
    "optuna_rl_sampler.search_space",
    "optuna_rl_sampler.evidence",
    "optuna_rl_sampler.sampler_registry",
    "optuna_rl_sampler.sources",
    "optuna_rl_sampler.meta_prior",
    "optuna_rl_sampler.corpus",
    "optuna_rl_sampler.encoding",
    "optuna_rl_sampler.recsys.metrics",
    "optuna_rl_sampler.recsys.dataset_specs",
)

OPTION_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("module_name", DOCTEST_MODULES)
def test_docstring_examples(module_name: str) -> None:
    if module_name == "optuna_rl_sampler.corpus":
        pytest.importorskip("pandas", reason="the corpus needs the recsys extra (pandas)")
        pytest.importorskip("pyarrow", reason="the corpus needs the recsys extra (pyarrow)")
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module)
    n_examples = sum(len(t.examples) for t in tests)
    assert n_examples > 0, f"{module_name} has no docstring examples to run."

    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=OPTION_FLAGS)
    verbosity = optuna.logging.get_verbosity()
    try:
        for test in tests:
            runner.run(test, out=out.write)
    finally:
        # Examples quieten Optuna's logger; other tests must see it as they left it.
        optuna.logging.set_verbosity(verbosity)
    result = runner.summarize(verbose=False)
    assert result.attempted == n_examples
    assert result.failed == 0, out.getvalue()
