"""How long the first-start zoo takes, two ways.

``--mode mnist60k``: the zoo's epochs are set for full MNIST (60,000 training images). That set
cannot be downloaded here, so this builds an MNIST-shaped folder of the same size from the real
MNIST test split in ../shared/data/mnist (its 10,000 images tiled six times for training, the
originals for testing), then queues the whole zoo through the real queue to a real worker
process, exactly as the app does on first start, and records when each job ends.

``--mode offline``: what a class gets here. The server is started with the README's own command
on an empty store and no network, so it trains its zoo on the offline MNIST digits; this
records, from the moment the command is started, when the server answers and when each model
lands in the store.

Targets on a 2-core CPU: the first dense model within 15 s, the whole zoo within 3 minutes.

    .venv/bin/python bench/zoo.py [--mode both|mnist60k|offline] [--json]
"""

from __future__ import annotations

# ruff: noqa: E402  (the repository goes on sys.path, then aedemo loads before torch)
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "e2e")]

# aedemo first: it sets OpenMP's spinning before torch loads, as the app does
import aedemo  # noqa: F401, I001

# isort: split
import argparse
import json
import os
import shutil
import struct
import tempfile
import time

import numpy as np
import torch

from aedemo import taskqueue
from aedemo.data import read_idx
from aedemo.jobs import DONE, SYSTEM, JobQueue
from aedemo.local_workers import LocalWorkers
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


def mnist60k(dataset: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="aedemo-zoo-bench-"))
    try:
        folder = work / "mnist60k"
        folder.mkdir()
        mnist_sized_folder(dataset, folder)
        start = time.perf_counter()
        specs = zoo_specs(str(folder))          # loads the 60k images, as the app's start does
        loaded = time.perf_counter() - start
        os.environ["AEDEMO_HOME"] = str(work / "store")      # where the worker looks too
        store = ModelStore()
        queue = JobQueue(store, taskqueue.connect(store.root))
        workers = LocalWorkers(1, on_death=queue.worker_died).start()
        jobs = [queue.submit(spec, SYSTEM) for spec in specs]
        rows = []
        for job, spec in zip(jobs, specs):
            snap = queue.wait(job.id)
            rows.append(row(spec, time.perf_counter() - start, snap.status,
                            store.get(snap.model_id) if snap.status == DONE else None))
        workers.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary("zoo on 60,000 MNIST-shaped images through the job service", loaded, rows)


def offline() -> dict:
    from aedemo.data import load_images
    from e2e_support import Server

    work = Path(tempfile.mkdtemp(prefix="aedemo-zoo-offline-"))
    try:
        start = time.perf_counter()
        server = Server(work)            # the README's command, an empty store, no network
        healthy = time.perf_counter() - start
        try:
            specs = zoo_specs(load_images("mnist").source)       # what that server trains
            store, landed = ModelStore(work), {}
            deadline = time.monotonic() + 600
            while len(landed) < len(specs) and time.monotonic() < deadline:
                for spec in specs:
                    if spec.key not in landed and store.get(spec.key) is not None:
                        landed[spec.key] = time.perf_counter() - start
                time.sleep(0.2)
        finally:
            server.stop()
        rows = [row(spec, landed.get(spec.key), DONE if spec.key in landed else "missing",
                    store.get(spec.key)) for spec in specs]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary("zoo on the offline MNIST digits, the server started as the README says "
                   "(times from the command's start)", healthy, rows, first="server answered")


def row(spec, done_at: float | None, status: str, stored) -> dict:
    return {"model": spec.describe().split(" on ")[0], "epochs": spec.train.epochs,
            "status": status, "done_at_s": None if done_at is None else round(done_at, 1),
            "test_mse": stored.metrics.get("mse") if stored is not None else None}


def summary(title: str, loaded: float, rows: list[dict], first: str = "dataset load") -> dict:
    done = [r["done_at_s"] for r in rows if r["done_at_s"] is not None]
    first_dense = next((r["done_at_s"] for r in rows if r["model"].startswith("dense")), None)
    return {"title": title, "first_step": first, "first_step_s": round(loaded, 1),
            "first_dense_s": first_dense, "whole_zoo_s": max(done) if len(done) == len(rows)
            else None, "jobs": rows}


def report(result: dict) -> None:
    print(f"{result['title']}; {result['first_step']} after {result['first_step_s']:.1f} s")
    print(f"{'model':<28}{'epochs':>7}{'done at':>10}{'test mse':>10}  status")
    for r in result["jobs"]:
        mse = f"{r['test_mse']:.4f}" if r["test_mse"] is not None else "-"
        at = f"{r['done_at_s']:>9.1f}s" if r["done_at_s"] is not None else f"{'-':>10}"
        print(f"{r['model']:<28}{r['epochs']:>7}{at}{mse:>10}  {r['status']}")
    verdict = lambda value, target: ("MISSED" if value is None or value > target  # noqa: E731
                                     else "met")
    first, whole = result["first_dense_s"], result["whole_zoo_s"]
    print(f"first dense model: {first} s (target <= {FIRST_DENSE_TARGET_S:.0f} s: "
          f"{verdict(first, FIRST_DENSE_TARGET_S)})")
    print(f"whole zoo: {whole} s (target <= {WHOLE_ZOO_TARGET_S:.0f} s: "
          f"{verdict(whole, WHOLE_ZOO_TARGET_S)})\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("both", "mnist60k", "offline"), default="both")
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "data" / "mnist"),
                        help="the real MNIST test split, for --mode mnist60k")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = pick_device()
    results = []
    if args.mode in ("both", "mnist60k"):
        results.append(mnist60k(Path(args.dataset)))
    if args.mode in ("both", "offline"):
        results.append(offline())
    if args.json:
        print(json.dumps({"device": str(device), "threads": torch.get_num_threads(),
                          "first_dense_target_s": FIRST_DENSE_TARGET_S,
                          "whole_zoo_target_s": WHOLE_ZOO_TARGET_S, "results": results}))
        return
    print(f"{device}, {torch.get_num_threads()} threads\n")
    for result in results:
        report(result)


if __name__ == "__main__":
    main()
