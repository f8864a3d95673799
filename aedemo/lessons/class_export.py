"""The lesson, kept: the class's shared drawings (PNG), the models the students trained this
lesson (CSV) and the drawings on a model's latent map (an HTML chart that opens offline). One
set of files for both ways out: ``python -m aedemo class --export DIR`` writes them to a
folder, the teacher's Class page offers them as one zip. No Streamlit here."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from aedemo import data as datasets
from aedemo.lessons import latent_space
from aedemo.preprocess import for_dataset
from aedemo.store import ModelStore, is_model_id
from aedemo.viz.latent_space import latent_scatter

CLASS_CHART = "chart.html"
CLASS_MODELS = "models.csv"
CLASS_DRAWINGS = "drawings"
MODEL_COLUMNS = ("id", "student", "variant", "latent_dim", "dataset", "epochs", "created",
                 "test_mse")


@dataclass
class ClassExport:
    """The files (a path inside the folder or zip -> bytes), with what they hold in numbers and
    why there is no chart when there is none; ``notice`` is the dataset's offline notice when
    the chart's test digits came from a stand-in."""

    files: dict[str, bytes] = field(default_factory=dict)
    drawings: int = 0
    models: int = 0
    chart: str | None = None
    no_chart: str | None = None
    notice: str | None = None

    def zipped(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, content in self.files.items():
                z.writestr(name, content)
        return out.getvalue()


def class_export(board, store: ModelStore, model_id: str | None = None) -> ClassExport:
    """The class's files: drawings/drawing-<i>-student-<n>.png (the framed 28 x 28 pictures as
    stored, the oldest first), models.csv (the lesson's models, whose by roster number) and
    chart.html (``class_chart``). ValueError for a ``model_id`` that names no stored image
    model."""
    drawings = board.drawings(viewer_is_teacher=True)
    numbers = board.roster.numbers()
    models = board.models(store)
    out = ClassExport(drawings=len(drawings), models=len(models))
    chart, out.no_chart, out.notice = class_chart(store, drawings, model_id)
    for i, d in enumerate(drawings, 1):
        whose = f"student-{d.student}" if d.student is not None else "unnumbered"
        png = io.BytesIO()
        Image.fromarray(np.round(d.pixels * 255).astype(np.uint8), mode="L").save(png, "PNG")
        out.files[f"{CLASS_DRAWINGS}/drawing-{i}-{whose}.png"] = png.getvalue()
    table = io.StringIO(newline="")
    rows = csv.writer(table)
    rows.writerow(MODEL_COLUMNS)
    for m in models:
        rows.writerow([m.id, numbers.get(m.owner, ""), m.spec.variant, m.spec.latent_dim,
                       m.spec.dataset, m.spec.train.epochs, m.created, m.metrics.get("mse", "")])
    out.files[CLASS_MODELS] = table.getvalue().encode()
    if chart is not None:
        out.files[CLASS_CHART] = chart.to_html(include_plotlyjs=True).encode()
        out.chart = CLASS_CHART
    return out


def class_chart(store: ModelStore, drawings, model_id: str | None):
    """(the class chart, None, notice) or (None, why there is none, None): the model's map of
    its test set (aedemo.lessons.latent_space, PCA when k > 2) with each student's drawings as
    stars. The model is ``model_id``, else the pinned, then the newest, usable image model with
    a 2-D code."""
    if model_id is None:
        pinned = store.pinned()
        maps = [m for m in store.list() if m.ok and m.spec.kind == "image"
                and m.spec.latent_dim == 2 and not m.spec.normal and not m.spec.subset]
        maps.sort(key=lambda m: m.id not in pinned)       # stable: newest first within
        if not maps:
            return None, "no stored image model has a 2-D code; name one with --model ID", None
        model_id = maps[0].id
    entry = store.get(model_id) if is_model_id(model_id) else None
    if entry is None or not entry.ok or entry.spec.kind != "image":
        raise ValueError(f"no stored image model {model_id} to draw the class's map with")
    if not drawings:
        return None, "no drawings are shared", None
    model, record = store.load(model_id)
    data = datasets.load_images(record.spec.dataset)
    shown = latent_space.latent_map(model, data)
    pictures = torch.from_numpy(np.stack([d.pixels for d in drawings])).unsqueeze(1)
    placed = shown.place(latent_space.encode(model, for_dataset(pictures, record.spec.dataset)))
    marked: dict[str, list] = {}
    for d, xy in zip(drawings, placed):
        marked.setdefault(d.owner_words, []).append(xy)
    axes = ("z1", "z2") if shown.method == "code" else ("PC 1", "PC 2")
    return latent_scatter(shown.points, shown.labels, data.classes,
                          marked={name: np.array(xy) for name, xy in marked.items()},
                          title=f"The class's drawings on the map of {record.spec.describe()}",
                          axis_names=axes), None, data.notice or None
