"""How the project names a dataset: one spec, read through the dataset registry.

A *dataset spec* is the text a user passes as ``--data`` (``optuna-rl tune``, the
recipes, ``optuna-rl corpus collect``) and what a past study records as its dataset:

- ``SOURCE[:key=value,...]``: a registered dataset source that generates data (see
  ``optuna-rl data list``), with its keyword arguments, e.g. ``synthetic-news`` or
  ``synthetic-ecommerce:size=medium,popularity_skew=1.5``. Values are read as
  booleans, ``None``, integers or floats where they parse as one, else as strings.
- a dataset folder or file, read by the registered loader named ``format`` (detected
  from the files when not given).

The corpus's past studies (v1, v2) record synthetic data as
``synthetic:DOMAIN[:key=value,...]``; that spelling reads as the source
``synthetic-DOMAIN`` and is what :func:`DatasetSpec.corpus_name` writes, so corpus
studies keep the names their benchmark splits were frozen with.

Example:
    >>> from optuna_rl_sampler.recsys.dataset_specs import parse_dataset_spec
    >>> spec = parse_dataset_spec("synthetic-news:size=small,seed=3")
    >>> spec.source, dict(spec.knobs)
    ('synthetic-news', {'size': 'small', 'seed': 3})
    >>> str(spec), spec.corpus_name()
    ('synthetic-news:size=small,seed=3', 'synthetic:news:size=small,seed=3')
    >>> str(parse_dataset_spec("synthetic:social:n_users=200"))
    'synthetic-social:n_users=200'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from optuna_rl_sampler.recsys.data import Interactions

__all__ = ["DatasetSpec", "load_dataset_spec", "parse_dataset_spec"]

#: Prefix of the registered sources that generate synthetic data of a domain.
SYNTHETIC_PREFIX = "synthetic-"
#: The corpus's spelling of synthetic data (``synthetic:DOMAIN[:knobs]``).
CORPUS_SYNTHETIC_PREFIX = "synthetic:"
#: Knobs written first, in this order; the others follow sorted by name.
_LEADING_KNOBS = ("size", "seed")


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec.

    Attributes:
        source: The registered dataset source: a generator (e.g. ``"synthetic-news"``)
            or, with ``path``, the loader of a file format; ``None`` with a ``path``
            whose format is to be detected.
        path: The folder or file of a loader; ``None`` for a generator.
        knobs: Keyword arguments of the source.
    """

    source: str | None
    path: str | None = None
    knobs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_synthetic(self) -> bool:
        """Whether the spec names one of the synthetic-data generators."""
        return self.path is None and (self.source or "").startswith(SYNTHETIC_PREFIX)

    def _knob_text(self) -> str:
        lead = [k for k in _LEADING_KNOBS if k in self.knobs]
        rest = sorted(k for k in self.knobs if k not in _LEADING_KNOBS)
        return ",".join(f"{k}={self.knobs[k]}" for k in (*lead, *rest))

    def __str__(self) -> str:
        if self.path is not None:
            return self.path
        knobs = self._knob_text()
        return f"{self.source}:{knobs}" if knobs else str(self.source)

    def corpus_name(self) -> str:
        """The name a corpus study records: ``synthetic:DOMAIN:knobs`` for synthetic
        data (the spelling of the shipped corpus), else :meth:`__str__`."""
        if not self.is_synthetic:
            return str(self)
        domain = str(self.source)[len(SYNTHETIC_PREFIX) :]
        knobs = self._knob_text()
        return f"{CORPUS_SYNTHETIC_PREFIX}{domain}" + (f":{knobs}" if knobs else "")


def _parse_value(raw: str) -> Any:
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw


def _parse_knobs(text: str, spec: str, example: str) -> dict[str, Any]:
    knobs: dict[str, Any] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"data {spec!r}: {item!r} is not KEY=VALUE (e.g. {example}).")
        knobs[key] = _parse_value(raw)
    return knobs


def _generators() -> list[str]:
    """The registered dataset sources that generate data (those that read no files)."""
    from optuna_rl_sampler.recsys.loaders import FORMATS
    from optuna_rl_sampler.recsys.plugins import list_datasets

    return [name for name in list_datasets() if name not in FORMATS]


def _is_generator(name: str) -> bool:
    if name.startswith(SYNTHETIC_PREFIX):
        return True  # an unknown domain gets its error on loading, naming the sources
    if not name or any(c in name for c in "/\\."):
        return False
    return name in _generators()


def parse_dataset_spec(spec: str | os.PathLike[str], *, format: str | None = None) -> DatasetSpec:
    """Read a dataset spec (see the module docstring).

    A name registered as a dataset source that takes no file (``synthetic-news``...) is
    a generator spec; an existing folder or file, or anything else, is a path (read with
    ``format``, or the format detected from its files).

    Args:
        spec: The spec text, or a path.
        format: The loader of a path spec. Defaults to ``None``: detected on loading.

    Raises:
        ValueError: A malformed ``KEY=VALUE``, a synthetic spec without a domain, or a
            ``format`` given with a generator spec.
    """
    text = os.fspath(spec)
    if text.startswith(CORPUS_SYNTHETIC_PREFIX):
        domain, _, knobs = text[len(CORPUS_SYNTHETIC_PREFIX) :].partition(":")
        if not domain.strip():
            raise ValueError(
                f"data {text!r}: name a domain, e.g. synthetic:news, synthetic:ecommerce or "
                "synthetic:social[:knob=value,...]."
            )
        name, example = SYNTHETIC_PREFIX + domain.strip(), "synthetic:news:n_users=500"
    else:
        name, _, knobs = text.partition(":")
        example = f"{name}:size=small,seed=1"
        if Path(text).exists() or not _is_generator(name):
            return DatasetSpec(format, path=text)
    if format is not None:
        raise ValueError(
            f"format {format!r} describes dataset files; data {text!r} is generated by the "
            f"source {name!r}. Pass a folder, or drop the format."
        )
    return DatasetSpec(name, knobs=_parse_knobs(knobs, text, example))


def load_dataset_spec(spec: DatasetSpec | str, *, format: str | None = None) -> Interactions:
    """The data a spec names, through the dataset registry.

    A generator spec calls its registered source with the knobs; a path spec reads the
    files with the named (or detected) format.

    Raises:
        ValueError: The spec is bad, names an unknown source or domain, a knob is not an
            argument of the source, or the files cannot be read (the message names the
            spec).
    """
    parsed = spec if isinstance(spec, DatasetSpec) else parse_dataset_spec(spec, format=format)
    if parsed.path is not None:
        from optuna_rl_sampler.recsys.loaders import load_dataset

        try:
            return load_dataset(parsed.path, format=parsed.source)
        except FileNotFoundError as exc:
            raise ValueError(f"data {parsed.path!r}: {exc}") from None
    from optuna_rl_sampler.recsys.plugins import get_dataset_source

    try:
        source = get_dataset_source(str(parsed.source))
    except ValueError:
        generators = ", ".join(_generators())
        raise ValueError(
            f"data {str(parsed)!r}: no dataset source {parsed.source!r}; generated data "
            f"comes from {generators}, or pass a dataset folder."
        ) from None
    try:
        return source(**parsed.knobs)
    except TypeError as exc:
        raise ValueError(f"data {str(parsed)!r}: {exc}") from None
