"""The Class page teaches what the Draw page teaches, for the whole room at once: every
student's shared drawing (aedemo.class_board) is a point on the lesson model's latent map,
placed by the same projection as the Latent space page and the Draw page
(``draw.model_views``' map, ``LatentMap.place``), and marked unusual by the Draw page's own
verdict (``draw.place``'s percentile among the test errors). Its figure is
``aedemo.viz.class_view``.

Per drawing only one small forward pass runs, all the drawings in one batch; what runs over
the dataset (the map, the test errors) is the Draw page's ``model_views``, computed once per
model by ``Service.derived``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from aedemo.lessons.anomaly import percentile_of
from aedemo.lessons.draw import UNUSUAL_PERCENTILE, ModelViews
from aedemo.metrics import mse_per_item
from aedemo.preprocess import FRAME


@dataclass(frozen=True)
class ClassPoint:
    """One shared drawing seen through the lesson's model."""

    drawing_id: str
    point: np.ndarray            # (2,) on the latent map
    reconstruction: np.ndarray   # (28, 28) float32 in [0, 1]
    error: float                 # MSE between the drawing and its reconstruction
    percentile: float            # share of the test errors below it, in percent

    @property
    def unusual(self) -> bool:
        """The Draw page's verdict (draw.describe_percentile): "Unusual" from the
        UNUSUAL_PERCENTILE-th percentile of the test errors up."""
        return self.percentile >= UNUSUAL_PERCENTILE


@torch.no_grad()
def class_points(model, views: ModelViews, ids: Sequence[str],
                 pictures: Sequence[np.ndarray]) -> list[ClassPoint]:
    """Where each shared drawing (``pictures[i]``, the framed (28, 28) picture the models see,
    named ``ids[i]``) lands for ``model``: the same point, error and percentile as
    ``draw.place`` gives the drawing on the Draw page, for all of them in one batch."""
    if not len(ids):
        return []
    model.eval()
    x = torch.from_numpy(np.stack([np.asarray(p, np.float32).reshape(FRAME, FRAME)
                                   for p in pictures]))[:, None]        # (N, 1, 28, 28)
    z = model.encode(x)                                                 # (N, k)
    recon = model.decode(z)                                             # (N, 1, 28, 28)
    errors = mse_per_item(recon, x).numpy()
    points = views.latent.place(z.numpy())                              # (N, 2)
    return [ClassPoint(drawing_id=i, point=np.asarray(points[n], float),
                       reconstruction=recon[n, 0].numpy(), error=float(errors[n]),
                       percentile=percentile_of(float(errors[n]), views.test_errors))
            for n, i in enumerate(ids)]


def placed(model, _data, views: ModelViews, pictures: Sequence[np.ndarray],
           ids: tuple[str, ...]) -> dict[str, ClassPoint]:
    """``class_points`` by drawing id, for Service.derived (``views`` and ``pictures`` given,
    ``ids`` the key): drawing ids are never used twice, so the ids name the pictures, and one
    set of drawings is computed once for every session."""
    return {p.drawing_id: p for p in class_points(model, views, ids, pictures)}


def describe(points: Sequence[ClassPoint], test_count: int) -> str:
    """The class's map in words, for a screen reader and the caption."""
    if not points:
        return f"The map shows {test_count:,} test digits' codes; no drawing is shared yet."
    unusual = sum(p.unusual for p in points)
    return (f"{len(points)} shared drawing{'s' if len(points) != 1 else ''} on the map of "
            f"{test_count:,} test digits' codes: {unusual} unusual to the model (error above "
            f"the {UNUSUAL_PERCENTILE}th percentile of the test digits'), "
            f"{len(points) - unusual} like the training digits.")
