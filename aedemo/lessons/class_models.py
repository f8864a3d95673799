"""The class's models on one chart (issue 22's Class page): every model the students trained
this lesson, each a point, beside the lesson's own (the zoo's) as reference lines.

- Dense and convolutional models: test error (MSE per pixel) against the bottleneck size k,
  the curve every Reconstructions page draws for the zoo, here with a point per student's model.
- VAEs: on the rate (KL) against distortion (reconstruction) plane, as Generate draws them
  (``lessons.generate_kl.vae_points``), where −ELBO = rate + distortion.
- A ranking per variant and k: the lower test error (a VAE: the lower −ELBO) first, the
  viewer's own models marked. Nothing is computed here that the models' JSON does not hold: each
  stored model's test metrics were measured on the whole test set when it was trained.

A student is named by their number in the class's roster (``student 3``) on the teacher's
screen only; a student sees "yours" or "a classmate's". No Streamlit here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aedemo.lessons.generate_kl import VAEPoint, vae_points
from aedemo.lessons.reconstructions import model_sweep

ERROR_VARIANTS = ("dense", "conv")      # compared by test MSE against k
CLASSMATE = "a classmate's"
YOURS = "yours"


@dataclass(frozen=True)
class ClassPoint:
    """One student's model on the class chart."""

    model_id: str
    variant: str
    k: int
    value: float          # test MSE per pixel; a VAE's −ELBO (nats per image)
    whose: str            # "yours", "student 3" (the teacher's screen) or "a classmate's"
    mine: bool


@dataclass(frozen=True)
class ClassModels:
    """What the chart and the table show: ``errors`` {variant: [ClassPoint]} for dense and
    conv, ``vaes`` the VAE points of the plane with ``vae_whose`` {model id: whose},
    ``reference`` the zoo's {variant: [(k, MSE, id)]} and ``ranking`` the table's rows."""

    errors: dict[str, list[ClassPoint]]
    vaes: list[VAEPoint]
    vae_whose: dict[str, str]
    reference: dict[str, list[tuple[int, float, str]]]
    ranking: list[dict[str, Any]]

    @property
    def empty(self) -> bool:
        return not self.ranking


def whose(owner: str | None, viewer: str | None, numbers: Mapping[str, int], *,
          teacher: bool) -> str:
    """Who trained a model, in the words the viewer may see."""
    if owner is not None and owner == viewer:
        return YOURS
    if teacher and owner in numbers:
        return f"student {numbers[owner]}"
    return CLASSMATE


def _value(m) -> float | None:
    """The number a model is ranked by: test MSE, or a VAE's −ELBO; None without one."""
    key = "neg_elbo" if m.spec.variant == "vae" else "mse"
    value = m.metrics.get(key)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def class_models(models: Iterable, zoo: Iterable, *, viewer: str | None,
                 numbers: Mapping[str, int], teacher: bool) -> ClassModels:
    """The class's image models (``ClassBoard.models``: the students' of this lesson, newest
    first) against the lesson's ``zoo`` models, for ``viewer`` (a student's id; the teacher
    sees roster numbers)."""
    models = [m for m in models if m.spec.kind == "image" and _value(m) is not None]
    names = {m.id: whose(m.owner, viewer, numbers, teacher=teacher) for m in models}
    errors: dict[str, list[ClassPoint]] = {}
    for m in models:
        if m.spec.variant in ERROR_VARIANTS:
            errors.setdefault(m.spec.variant, []).append(ClassPoint(
                m.id, m.spec.variant, m.spec.latent_dim, _value(m), names[m.id],
                names[m.id] == YOURS))
    vaes = vae_points(models)
    rows = []
    for m in models:
        rows.append({"variant": m.spec.variant, "k": m.spec.latent_dim,
                     "measure": "−ELBO (nats)" if m.spec.variant == "vae" else "test MSE",
                     "value": _value(m), "whose": names[m.id], "model": m.id})
    # within each variant and k, the best first: its rank among those trained alike
    rows.sort(key=lambda r: (r["variant"], r["k"], r["value"]))
    rank, last = 0, None
    for r in rows:
        rank = rank + 1 if (r["variant"], r["k"]) == last else 1
        last = (r["variant"], r["k"])
        r["rank"] = rank
    return ClassModels(errors=errors, vaes=vaes,
                       vae_whose={p.model_id: names[p.model_id] for p in vaes},
                       reference=model_sweep(zoo, ERROR_VARIANTS), ranking=rows)


def describe(cm: ClassModels) -> str:
    """The class's models in words, for a screen reader and the caption: how many, and the
    best of each variant and k with whose it is."""
    if cm.empty:
        return ("No student has trained an image model this lesson yet: each one the Train "
                "page stores appears here.")
    best = [r for r in cm.ranking if r["rank"] == 1]
    words = "; ".join(f"{r['variant']} k={r['k']}: {r['measure']} {r['value']:.4g} "
                      f"({r['whose']})" for r in best)
    n = len(cm.ranking)
    return (f"{n} model{'s' if n != 1 else ''} the class trained this lesson. The best of "
            f"each variant and k: {words}.")
