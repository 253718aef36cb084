"""Friendly errors for optional dependencies (the package's extras).

The sampler itself needs only NumPy, SciPy and safetensors; the recommender toolkit
(:mod:`optuna_rl_sampler.recsys`, the plugins) needs the ``recsys`` extra and
meta-training (:mod:`optuna_rl_sampler.training`, ``optuna-rl pretrain`` /
``finetune`` / ``evaluate``) the ``train`` extra. :func:`require_extra` is called where
those parts start, so a missing dependency says which extra to install instead of
surfacing as a bare :class:`ModuleNotFoundError` from deep inside.
"""

from __future__ import annotations

import importlib.util

__all__ = ["MissingExtraError", "extra_for", "install_hint", "require_extra"]

#: Distribution name used in install hints.
DISTRIBUTION = "optuna-rl-sampler"
#: Top-level module -> the extra that provides it (for errors raised elsewhere).
EXTRA_OF_MODULE: dict[str, str] = {
    "pandas": "recsys",
    "pyarrow": "recsys",
    "lightgbm": "recsys",
    "pluggy": "recsys",
    "torch": "train",
    "tqdm": "train",
    "matplotlib": "train",
}


class MissingExtraError(ModuleNotFoundError):
    """An optional dependency is not installed; the message names the extra to install.

    A subclass of :class:`ModuleNotFoundError` (and so of :class:`ImportError`), so code
    that already handles import errors keeps working.
    """


def _available(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it.

    A module set to ``None`` in :data:`sys.modules` (how tests and some tools block an
    import) counts as missing.
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require_extra(extra: str, *modules: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` unless every one of ``modules`` is installed.

    Only looks the modules up (no import), so it is cheap enough to call when a module
    of an optional part is imported.

    Args:
        extra: The extra of ``optuna-rl-sampler`` that provides the modules, e.g.
            ``"recsys"``.
        *modules: Importable names of the required modules, e.g. ``"pandas"``.
        feature: What needs them, for the message, e.g. ``"optuna_rl_sampler.recsys"``.

    Raises:
        MissingExtraError: A module is missing; the message names it, the feature and
            the ``pip install 'optuna-rl-sampler[extra]'`` command.
    """
    missing = [m for m in modules if not _available(m)]
    if missing:
        names = ", ".join(missing)
        raise MissingExtraError(
            f"{feature} needs {names}, which {'is' if len(missing) == 1 else 'are'} not "
            f"installed. Install the {extra!r} extra: {install_hint(extra)}",
            name=missing[0],
        )


def extra_for(err: ImportError) -> MissingExtraError | None:
    """The friendly error for an import error raised by a known optional dependency.

    Args:
        err: An import error, e.g. caught around a command of ``optuna-rl``.

    Returns:
        A :class:`MissingExtraError` naming the extra that provides the missing module,
        ``err`` itself if it already is one, or ``None`` if the module belongs to no
        extra or is installed (a genuine bug, another package or a broken install).
    """
    if isinstance(err, MissingExtraError):
        return err
    top = (err.name or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None or _available(top):
        return None  # another package, or installed but broken: keep the original error
    return MissingExtraError(
        f"{top} is not installed (it is part of the {extra!r} extra). Install it: "
        f"{install_hint(extra)}",
        name=top,
    )
