"""How long the first-start zoo takes, measured through the real job service.

The zoo's epochs are set for full MNIST (60,000 training images). That set cannot be downloaded
here, so this builds an MNIST-shaped folder of the same size from the real MNIST test split in
../shared/data/mnist (its 10,000 images tiled six times for training, the originals for testing),
then queues the whole zoo exactly as the app does on first start and records when each job ends.

Targets on a 2-core CPU: the first dense model within 15 s, the whole zoo within 3 minutes.

    .venv/bin/python bench/zoo.py [--dataset ../shared/data/mnist] [--json]
"""

from __future__ import annotations

# ruff: noqa: E402  (the repository goes on sys.path, then aedemo loads before torch)
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# aedemo first: it sets OpenMP's spinning before torch loads, as the app does
import aedemo  # noqa: F401, I001

# isort: split
import argparse
import json
import shutil
import struct
import tempfile
import time

import numpy as np
import torch

from aedemo.data import read_idx
from aedemo.jobs import DONE, SYSTEM, JobManager
from aedemo.store import ModelStore
from aedemo.train import pick_device
from aedemo.zoo import zoo_specs

FIRST_DENSE_TARGET_S = 15.0
WHOLE_ZOO_TARGET_S = 180.0


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def mnist_sized_folder(source: Path, target: Path) -> None:
    """train = the 10k real images tiled to 60k; t10k = the 10k originals."""
    images = read_idx(source / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(source / "t10k-labels-idx1-ubyte.gz")
    write_idx(target / "train-images-idx3-ubyte", np.tile(images, (6, 1, 1)))
    write_idx(target / "train-labels-idx1-ubyte", np.tile(labels, 6))
    write_idx(target / "t10k-images-idx3-ubyte", images)
    write_idx(target / "t10k-labels-idx1-ubyte", labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="aedemo-zoo-bench-"))
    try:
        folder = work / "mnist60k"
        folder.mkdir()
        mnist_sized_folder(Path(args.dataset), folder)
        device = pick_device()
        start = time.perf_counter()
        specs = zoo_specs(str(folder))          # loads the 60k images, as the app's start does
        loaded = time.perf_counter() - start
        manager = JobManager(ModelStore(work / "store"))
        jobs = [manager.submit(spec, SYSTEM) for spec in specs]
        rows = []
        for job, spec in zip(jobs, specs):
            snap = manager.wait(job.id)
            rows.append({"model": spec.describe().split(" on ")[0], "epochs": spec.train.epochs,
                         "status": snap.status, "done_at_s": round(time.perf_counter() - start, 1),
                         "test_mse": None})
            if snap.status == DONE:
                rows[-1]["test_mse"] = manager.store.get(snap.model_id).metrics["mse"]
        manager.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    first_dense = next(r["done_at_s"] for r in rows if r["model"].startswith("dense"))
    total = rows[-1]["done_at_s"]
    result = {"device": str(device), "threads": torch.get_num_threads(),
              "load_s": round(loaded, 1), "first_dense_s": first_dense, "whole_zoo_s": total,
              "first_dense_target_s": FIRST_DENSE_TARGET_S,
              "whole_zoo_target_s": WHOLE_ZOO_TARGET_S, "jobs": rows}
    if args.json:
        print(json.dumps(result))
        return
    print(f"zoo on 60,000 MNIST-shaped images, {device}, {torch.get_num_threads()} threads; "
          f"dataset load {loaded:.1f} s (times are from the start, load included)")
    print(f"{'model':<28}{'epochs':>7}{'done at':>10}{'test mse':>10}  status")
    for r in rows:
        mse = f"{r['test_mse']:.4f}" if r["test_mse"] is not None else "-"
        print(f"{r['model']:<28}{r['epochs']:>7}{r['done_at_s']:>9.1f}s{mse:>10}  {r['status']}")
    verdict = lambda ok: "met" if ok else "MISSED"   # noqa: E731
    print(f"first dense model: {first_dense:.1f} s (target <= {FIRST_DENSE_TARGET_S:.0f} s: "
          f"{verdict(first_dense <= FIRST_DENSE_TARGET_S)})")
    print(f"whole zoo: {total:.1f} s (target <= {WHOLE_ZOO_TARGET_S:.0f} s: "
          f"{verdict(total <= WHOLE_ZOO_TARGET_S)})")


if __name__ == "__main__":
    main()
