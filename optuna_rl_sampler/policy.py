"""The policy network: scores candidates, ``pi(a | s) = softmax(scores / temperature)``.

A small MLP is applied to each candidate's feature row independently (weights shared
across candidates), so the same weights serve any number of candidates and any search
space. This module holds the inference side only, in NumPy: proposing a trial never
needs torch. Training (:mod:`optuna_rl_sampler.training`) builds the same network in
torch with the same tensor names, and saves it with :func:`save_weights`.

SHAPES:
    features: (N, F)      per-candidate features, F = len(FEATURE_NAMES)
    hidden:   (N, H)      after each tanh layer
    logits:   (N,)        one score per candidate
    probs:    (N,)        softmax over candidates

Weights are data, not code: a ``.safetensors`` file (tensors only, never unpickled)
plus a JSON card of the same stem that states the format version, the feature schema,
how the weights were made and a SHA-256 digest of the tensors (``"tensors_sha256"``,
see :func:`tensors_sha256`). Loading checks all of them, and that every value is
finite, before any trial runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from dataclasses import field
from importlib import resources
from pathlib import Path
from typing import Any
from typing import NamedTuple

import numpy as np

from optuna_rl_sampler.features import FEATURE_NAMES

__all__ = [
    "FORMAT_VERSION",
    "GENERIC_WEIGHTS",
    "Policies",
    "PolicyWeights",
    "WeightsError",
    "default_weights_path",
    "load_named_weights",
    "load_policies",
    "load_weights",
    "remap_features",
    "save_weights",
    "tensors_sha256",
]

#: Version of the weights file layout; bumped when tensor names or features change.
#: Version 2: ``has_prior`` became ``prior_weight`` and ``prior_rel`` was added.
FORMAT_VERSION = 2
#: Tensors of the scoring network, in torch ``nn.Linear`` layout ``(out, in)``.
SCORE_TENSORS = (
    "score.0.weight",
    "score.0.bias",
    "score.1.weight",
    "score.1.bias",
    "score.2.weight",
    "score.2.bias",
)
#: Shipped weights used when a study has source studies (meta-trained with sources).
DEFAULT_WEIGHTS = "transfer-v2"
#: Shipped weights used when it has none (meta-trained without sources).
GENERIC_WEIGHTS = "generic-v1"
#: Card key of the tensors' digest (:func:`tensors_sha256`).
DIGEST_KEY = "tensors_sha256"


class WeightsError(ValueError):
    """A weights file or its card is missing, unreadable or incompatible."""


@dataclass(frozen=True)
class PolicyWeights:
    """Loaded policy weights and their card.

    Attributes:
        tensors: Tensor name -> float array (all tensors of the file, value head too).
        card: The JSON card (format version, feature schema, training recipe, ...).
        name: Short identifier written into each trial's reasons.
    """

    tensors: dict[str, np.ndarray]
    card: dict[str, Any] = field(default_factory=dict)
    name: str = "unnamed"

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Score ``(N, F)`` features into ``(N,)`` logits."""
        t = self.tensors
        h = np.tanh(features @ t["score.0.weight"].T + t["score.0.bias"])
        h = np.tanh(h @ t["score.1.weight"].T + t["score.1.bias"])
        return (h @ t["score.2.weight"].T + t["score.2.bias"])[:, 0]

    def probabilities(self, features: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """``softmax(logits / temperature)`` over the candidates."""
        z = self.logits(features) / temperature
        z = z - z.max()
        p = np.exp(z)
        return p / p.sum()


def default_weights_path(name: str = DEFAULT_WEIGHTS) -> Path:
    """Path of shipped weights: ``DEFAULT_WEIGHTS`` (transfer) or ``GENERIC_WEIGHTS``."""
    return Path(str(resources.files("optuna_rl_sampler") / "weights" / f"{name}.safetensors"))


def load_named_weights(name: str) -> PolicyWeights:
    """Load shipped weights by name (such as ``"generic-v1"``) or a weights file.

    Raises:
        WeightsError: ``name`` is neither a shipped name nor a loadable file; the
            message lists the shipped names.
    """
    shipped = default_weights_path(name)
    try:
        return load_weights(shipped if shipped.exists() else name)
    except WeightsError as err:
        names = sorted(p.stem for p in shipped.parent.glob("*.safetensors"))
        raise WeightsError(
            f"weights {name!r}: {err} Pass a shipped name ({', '.join(names)}) or a weights file."
        ) from err


def card_path(weights_path: str | Path) -> Path:
    """The JSON card that belongs to a weights file (same stem, ``.json``)."""
    return Path(weights_path).with_suffix(".json")


def load_weights(path: str | Path | None = None) -> PolicyWeights:
    """Load and validate a weights file and its card.

    Args:
        path: A ``.safetensors`` file; ``None`` loads the shipped default
            (:data:`DEFAULT_WEIGHTS`, the transfer weights; :data:`GENERIC_WEIGHTS` is
            loaded by name).

    Returns:
        The tensors (as float64 arrays), the card, and the weights' name.

    Raises:
        WeightsError: the file or its card is missing, the path is a directory (the
            message lists its weights files), the file is not safetensors or is
            truncated, the format version differs, the feature schema differs, a tensor
            is missing, has the wrong shape or holds a non-finite value (NaN or inf), or
            the card's ``"tensors_sha256"`` does not match the file's tensors (the file
            and card do not belong together; cards without the digest, written before
            it was introduced, are accepted). The message names the file.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = default_weights_path() if path is None else Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.safetensors"))[:5]
        holds = ", ".join(repr(f) for f in found) if found else "no .safetensors file"
        raise WeightsError(
            f"{str(path)!r} is a directory, not a weights file (it holds {holds}). Pass the "
            "path of a .safetensors file in it (with its .json card beside it), as written "
            "by `optuna-rl pretrain` or `optuna-rl finetune`."
        )
    if not path.is_file():
        raise WeightsError(
            f"Weights file {str(path)!r} does not exist. Pass the path of a .safetensors "
            "file written by `optuna-rl pretrain` or `optuna-rl finetune`, or leave "
            "meta_model unset to use the shipped weights."
        )
    card_file = card_path(path)
    if not card_file.is_file():
        raise WeightsError(
            f"Weights file {str(path)!r} has no card {card_file.name!r} beside it; the card "
            "states the format version and feature schema and is written with the weights."
        )
    try:
        card = json.loads(card_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"Card {str(card_file)!r} is not valid JSON: {err}") from None
    if not isinstance(card, dict):
        raise WeightsError(f"Card {str(card_file)!r} must hold a JSON object.")
    version = card.get("format_version")
    if version != FORMAT_VERSION:
        raise WeightsError(
            f"Weights {str(path)!r} have format version {version!r}, this package reads "
            f"version {FORMAT_VERSION}. Re-create them with this version's "
            "`optuna-rl pretrain` / `optuna-rl finetune`."
        )
    schema = card.get("feature_schema")
    if list(schema or []) != list(FEATURE_NAMES):
        raise WeightsError(
            f"Weights {str(path)!r} were trained on features {schema!r}, but this package "
            f"computes {list(FEATURE_NAMES)!r}. Re-train them with this version."
        )
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(
            f"Weights file {str(path)!r} is not a readable safetensors file ({err}). "
            "It may be truncated or in another format; only safetensors is accepted."
        ) from None
    _check_shapes(tensors, path)
    _check_digest(tensors, card, path, card_file)
    _check_finite(tensors, path)
    name = str(card.get("name", path.stem))
    return PolicyWeights({k: v.astype(np.float64) for k, v in tensors.items()}, card, name)


def _check_shapes(tensors: dict[str, np.ndarray], path: Path) -> None:
    missing = [k for k in SCORE_TENSORS if k not in tensors]
    if missing:
        raise WeightsError(f"Weights file {str(path)!r} lacks tensors {missing}.")
    hidden = tensors["score.0.weight"].shape[0]
    expected = {
        "score.0.weight": (hidden, len(FEATURE_NAMES)),
        "score.0.bias": (hidden,),
        "score.1.weight": (hidden, hidden),
        "score.1.bias": (hidden,),
        "score.2.weight": (1, hidden),
        "score.2.bias": (1,),
    }
    for key, shape in expected.items():
        if tuple(tensors[key].shape) != shape:
            raise WeightsError(
                f"Weights file {str(path)!r}: tensor {key!r} has shape "
                f"{tuple(tensors[key].shape)}, expected {shape}."
            )


def _check_digest(
    tensors: dict[str, np.ndarray], card: dict[str, Any], path: Path, card_file: Path
) -> None:
    expected = card.get(DIGEST_KEY)
    if expected is None:
        return  # a card written before the digest was introduced
    actual = tensors_sha256(tensors)
    if expected != actual:
        raise WeightsError(
            f"Weights file {str(path)!r} and its card {card_file.name!r} do not belong "
            f"together: the card records tensors_sha256 {str(expected)[:16]!r}..., the "
            f"file's tensors hash to {actual[:16]!r}... One of the two was replaced or "
            "edited; copy both from the same `optuna-rl pretrain` / `optuna-rl finetune` "
            "run, or save them again with optuna_rl_sampler.policy.save_weights."
        )


def _check_finite(tensors: dict[str, np.ndarray], path: Path) -> None:
    for key in sorted(tensors):
        bad = int(np.size(tensors[key]) - np.count_nonzero(np.isfinite(tensors[key])))
        if bad:
            raise WeightsError(
                f"Weights file {str(path)!r}: tensor {key!r} holds {bad} non-finite "
                "value(s) (NaN or inf), so the policy cannot score candidates. The file "
                "is corrupt or its training diverged; re-create it with `optuna-rl "
                "pretrain` / `optuna-rl finetune`, or leave meta_model unset to use the "
                "shipped weights."
            )


def tensors_sha256(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 hex digest of a set of tensors, as stored in a card's ``"tensors_sha256"``.

    Stable across platforms and dtypes: for every tensor name in sorted order, the digest
    takes the UTF-8 name, a NUL byte, the shape as text (e.g. ``"(64, 10)"``), a NUL byte,
    and the values as little-endian float32 in C order (the layout of the file).

    Args:
        tensors: Tensor name -> array (any float dtype; cast to float32 for hashing).

    Returns:
        The 64-character hexadecimal digest.
    """
    digest = hashlib.sha256()
    for key in sorted(tensors):
        array = np.ascontiguousarray(tensors[key], dtype="<f4")
        digest.update(key.encode("utf-8") + b"\0")
        digest.update(str(tuple(int(n) for n in array.shape)).encode("ascii") + b"\0")
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_weights(
    tensors: dict[str, np.ndarray], path: str | Path, card: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``tensors`` as safetensors and ``card`` as JSON beside it.

    The card is completed with the format version, the feature schema and the digest of
    the tensors as written (``"tensors_sha256"``, see :func:`tensors_sha256`), which
    :func:`load_weights` checks; a digest already in ``card`` is replaced.

    Args:
        tensors: Tensor name -> array; written as float32.
        path: Weights file to write; must end in ``.safetensors``. The card goes to the
            same stem with ``.json``.
        card: What to record about the weights (name, training recipe, ...).

    Returns:
        The paths of the weights file and of its card.

    Raises:
        ValueError: ``path`` does not end in ``.safetensors``.
    """
    from safetensors.numpy import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"Weights path {str(path)!r} must end in '.safetensors'.")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    card = {
        **card,
        "format_version": FORMAT_VERSION,
        "feature_schema": list(FEATURE_NAMES),
        DIGEST_KEY: tensors_sha256(arrays),
    }
    save_file(arrays, str(path), metadata={"format_version": str(FORMAT_VERSION)})
    card_file = card_path(path)
    card_file.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return path, card_file


def remap_features(
    tensors: dict[str, np.ndarray], schema: list[str] | tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Adapt tensors trained on feature list ``schema`` to this package's features.

    The first layers (``score.0.weight`` and, if present, ``value.0.weight``, whose
    input is the mean and the max of the features) are re-indexed by feature *name*;
    features the old schema lacks get zero input weights, so the network's output is
    unchanged wherever those features are 0 (e.g. no source studies). Used to warm-start
    meta-training from older weights.
    """
    old = {name: i for i, name in enumerate(schema)}
    out = dict(tensors)
    n_old, n_new = len(schema), len(FEATURE_NAMES)

    def remap(w: np.ndarray) -> np.ndarray:
        new = np.zeros((w.shape[0], n_new), dtype=w.dtype)
        for j, name in enumerate(FEATURE_NAMES):
            if name in old:
                new[:, j] = w[:, old[name]]
        return new

    out["score.0.weight"] = remap(tensors["score.0.weight"])
    if "value.0.weight" in tensors:
        w = tensors["value.0.weight"]
        if w.shape[1] == 2 * n_old:
            out["value.0.weight"] = np.hstack([remap(w[:, :n_old]), remap(w[:, n_old:])])
    return out


class Policies(NamedTuple):
    """The weights a sampler proposes with.

    Attributes:
        weights: The weights ``meta_model`` names (by default the shipped transfer
            weights), for studies with matching sources.
        generic: The weights for studies without matching sources: the shipped
            ``generic-v1`` by default, ``weights`` itself for a given ``meta_model``.
        handoff: The weights that ``weights`` were meta-trained to hand off to while a
            study's sources are distrusted (the card's ``config.handoff``), or ``None``
            when the card names none.
    """

    weights: PolicyWeights
    generic: PolicyWeights
    handoff: PolicyWeights | None


def load_policies(meta_model: str | Path | None) -> Policies:
    """Load the weights ``meta_model`` names, the generic weights and the hand-off weights.

    The shipped default is a pair: transfer weights for studies with matching sources,
    generic weights (trained without sources) for the others. The hand-off weights are
    ``generic`` when the card names them, else loaded by name.

    Raises:
        optuna_rl_sampler.policy.WeightsError: A file is missing, unreadable, holds
            non-finite values or does not match its card, or the card names hand-off
            weights that cannot be loaded.
    """
    weights = load_weights(meta_model)
    generic = (
        load_weights(default_weights_path(GENERIC_WEIGHTS)) if meta_model is None else weights
    )
    return Policies(weights, generic, _card_handoff(weights, generic))


def _card_handoff(weights: PolicyWeights, loaded: PolicyWeights) -> PolicyWeights | None:
    """The weights that ``weights`` were meta-trained to hand off to (``optuna-rl
    pretrain/finetune --handoff``): ``loaded`` when it has that name, else loaded now so
    a bad name fails at construction; ``None`` when the card names none."""
    name = (weights.card.get("config") or {}).get("handoff")
    if not name:
        return None
    if loaded is not weights and loaded.name == name:
        return loaded
    try:
        return load_named_weights(str(name))
    except WeightsError as err:
        raise WeightsError(
            f"meta_model {weights.name!r} was trained to hand off to {name!r} while its "
            f"sources are distrusted, and those weights cannot be loaded: {err}"
        ) from err
