"""Training throughput: aedemo against the classic tutorial script, on the CPU, in two ways.

1. The training loops, one epoch each, in this process. Both train a dense 784-256-128-32
   autoencoder over the same 60,000 MNIST images, batch size 256, Adam at lr 1e-3:

   (a) the classic tutorial loop: ``torchvision.datasets.MNIST(..., transform=ToTensor())`` read
       from real IDX files, ``DataLoader(batch_size=256, shuffle=True, num_workers=0)``, a sigmoid
       output and ``nn.BCELoss``, the default (for-each) Adam, on the seed script's own model;
   (b) ``aedemo.train.fit`` with the images already one float tensor in memory (no test set, so
       only training is timed).

   Target: (b) >= 3.5 x (a) on a 2-core CPU.

2. Whole processes, wall clock from start to exit, as a user runs them: the seed's own script
   (below: loop (a) for 5 epochs with the full test-set loss printed after every epoch, then the
   final test metrics: MSE and BCE on the whole test set, PSNR and SSIM by scikit-image on 500
   images), written to a file and run with the repository's Python, against
   ``.venv/bin/python -m aedemo train --variant dense --latent 32 --epochs 5 --dataset FOLDER``
   (the README's form, with a fresh AEDEMO_HOME so nothing is reused). Both read the same IDX
   files: 60,000 training images and the 10,000-image test split. Each is run ``--repeats`` times,
   alternating, and its fastest run counts (the least disturbed by other processes).

   Target: the CLI run >= 2.5 x faster than the seed's script.

The 60,000 images are the real MNIST test split (10,000 images, ../shared/data/mnist from here)
tiled six times; without that folder, scikit-learn's bundled digits stand in (said in the output).

It also prints how much of this machine's float32 matmul throughput aedemo reaches: the model's
training FLOPs per sample (3 x the forward pass's 2 x multiply-adds of its nn.Linear layers) times
its samples per second, over the GFLOPS of a large square matmul measured in the same run.

Everything runs under the OpenMP spinning that importing aedemo sets (GOMP_SPINCOUNT=10000 unless
the environment sets it), the seed's script too (it inherits this process's environment), so the
comparison is of the code, not of the spin policy; it is printed with the figures. Run from the
repository root:

    .venv/bin/python bench/train_speed.py [--samples 60000] [--repeats 2] [--json]
"""

from __future__ import annotations

# ruff: noqa: E402  (the repository goes on sys.path, then aedemo loads before torch)
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]),
                str(Path(__file__).resolve().parents[1] / "tests")]   # for support.py

# aedemo first: importing it sets GOMP_SPINCOUNT (unless the environment already does), which
# OpenMP reads once, when torch loads. So both loops run under the setting the app ships with.
import aedemo  # noqa: F401, I001

# isort: split
import argparse
import inspect
import json
import math
import os
import platform
import subprocess
import tempfile
import time

import numpy as np
import torch
import torchvision
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from aedemo import data
from aedemo.models import build
from aedemo.train import TrainConfig, fit, pick_device
from support import busy_cpu_seconds

REPO_ROOT = Path(__file__).resolve().parents[1]
MNIST_FOLDER = (REPO_ROOT / ".." / "shared" / "data" / "mnist").resolve()
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"

LATENT = 32
BATCH = 256
LR = 1e-3
SEED = 0
EPOCHS = 5                 # the whole-process runs
WARMUP_BATCHES = 5
TARGET_RATIO = 3.5         # fit against the classic loop
TARGET_PROCESS_RATIO = 2.5  # the CLI's whole run against the seed's whole script


def log(message: str) -> None:
    """Progress goes to stderr so that stdout carries only the figures (or the JSON)."""
    print(message, file=sys.stderr, flush=True)


# --- data --------------------------------------------------------------------------------------

def source_images() -> tuple[np.ndarray, np.ndarray, str]:
    """(uint8 images (N, 28, 28), uint8 labels, a description): all of the shared MNIST folder
    (aedemo splits it 8000/2000; both halves are used here), else scikit-learn's digits."""
    if MNIST_FOLDER.is_dir():
        d, source = data.load_images(str(MNIST_FOLDER)), f"MNIST from {MNIST_FOLDER}"
    else:
        d, source = data.load_images("digits"), f"scikit-learn digits (no {MNIST_FOLDER})"
    x = torch.cat([d.x_train, d.x_test]).squeeze(1)
    y = torch.cat([d.y_train, d.y_test])
    # Back to the bytes an IDX file holds (exact for IDX data, whose floats are k / 255), so that
    # both loops start from the same pixels and the classic one reads them as tutorials do.
    return (x * 255).round().to(torch.uint8).numpy(), y.to(torch.uint8).numpy(), source


def tile(array: np.ndarray, n: int) -> np.ndarray:
    """The first n items of array repeated end to end."""
    reps = math.ceil(n / len(array))
    return np.concatenate([array] * reps)[:n]


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file of unsigned bytes: magic (0, 0, 0x08, ndim), big-endian sizes."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_torchvision_mnist(root: Path, x: np.ndarray, y: np.ndarray,
                            x_test: np.ndarray, y_test: np.ndarray) -> None:
    """Lay the images out as torchvision's MNIST expects under root: MNIST/raw/ with all four
    uncompressed IDX files (it checks that each exists, with no checksum when not downloading)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, images, labels in (("train", x, y), ("t10k", x_test, y_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


# --- the seed's script -------------------------------------------------------------------------
# The classic tutorial script, as the seed project trained its dense model: written to a file
# from the sources below (the imports, the model class, train_autoencoder) and run as a process of
# its own. The in-process loop (a) trains the same class.

SEED_IMPORTS = """\
import sys

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
"""


class Autoencoder(nn.Module):
    def __init__(self, k=32):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 256), nn.ReLU(),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, k),
        )
        self.decoder = nn.Sequential(
            nn.Linear(k, 128), nn.ReLU(),
            nn.Linear(128, 256), nn.ReLU(),
            nn.Linear(256, 784), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x)).view(-1, 1, 28, 28)


def train_autoencoder(root, epochs=5):
    torch.manual_seed(0)
    train_set = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    test_set = datasets.MNIST(root, train=False, download=False, transform=transforms.ToTensor())
    train_loader = DataLoader(train_set, batch_size=256, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000)

    model = Autoencoder(k=32)
    criterion = nn.BCELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def test_loss():
        model.eval()
        total = 0.0
        with torch.no_grad():
            for x, _ in test_loader:
                total += criterion(model(x), x).item() * len(x)
        model.train()
        return total / len(test_set)

    for epoch in range(1, epochs + 1):
        for x, _ in train_loader:
            loss = criterion(model(x), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: train loss {loss.item():.4f}, test loss {test_loss():.4f}")

    # final test metrics: MSE and BCE per image on the whole test set, PSNR and SSIM on 500
    model.eval()
    mse, bce, originals, recons = 0.0, 0.0, [], []
    with torch.no_grad():
        for x, _ in test_loader:
            recon = model(x)
            mse += nn.functional.mse_loss(recon, x, reduction="sum").item() / 784
            bce += nn.functional.binary_cross_entropy(recon, x, reduction="sum").item()
            if len(recons) < 500:
                originals += list(x.squeeze(1).double().numpy())
                recons += list(recon.squeeze(1).double().numpy())
    pairs = list(zip(originals, recons))[:500]
    psnr = np.mean([peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in pairs])
    ssim = np.mean([structural_similarity(a, b, data_range=1.0) for a, b in pairs])
    n = len(test_set)
    print(f"test mse {mse / n:.6f}  bce {bce / n:.4f}  psnr {psnr:.2f}  ssim {ssim:.4f}")


def seed_script() -> str:
    """The seed's whole script as a file's text: run it as ``python FILE ROOT`` with torchvision's
    MNIST/raw/ under ROOT."""
    sources = [inspect.getsource(f) for f in (Autoencoder, train_autoencoder)]
    return "\n\n".join([SEED_IMPORTS, *sources,
                         'if __name__ == "__main__":\n    train_autoencoder(sys.argv[1])\n'])


# --- the two training loops --------------------------------------------------------------------

def classic_epoch(dataset, max_batches: int | None = None) -> int:
    """The tutorial loop over ``dataset`` with a fresh model; returns the samples it trained on."""
    torch.manual_seed(SEED)
    model = Autoencoder(k=LATENT)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    criterion = nn.BCELoss()
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=0,
                        generator=torch.Generator().manual_seed(SEED))
    seen = 0
    for i, (x, _) in enumerate(loader):
        if max_batches is not None and i == max_batches:
            break
        recon = model(x)                             # ends in the sigmoid
        loss = criterion(recon, x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(x)
    return seen


def aedemo_epoch(x: torch.Tensor) -> int:
    """One epoch of aedemo's own trainer over x with a fresh model; returns the samples."""
    model = build("dense", {"latent_dim": LATENT}, seed=SEED)
    fit(model, x, None, TrainConfig(epochs=1, batch_size=BATCH, lr=LR, seed=SEED))
    return len(x)


def own_cpu_seconds() -> float:
    """This process's CPU seconds and those of its children that have ended."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(run) -> dict:
    """Time one call of ``run`` (which returns its sample count). Also measure the CPU time other
    processes took meanwhile: on 2 cores a second busy process slows torch's threads several-fold,
    so a figure taken under contention must say so rather than pass for the machine's speed."""
    busy0, own0 = busy_cpu_seconds(), own_cpu_seconds()
    start = time.perf_counter()
    samples = run()
    seconds = time.perf_counter() - start
    busy1, own1 = busy_cpu_seconds(), own_cpu_seconds()
    others = None if busy0 is None else max(0.0, (busy1 - busy0) - (own1 - own0))
    return {"samples_per_s": samples / seconds, "seconds": seconds,
            "other_cpu_s": others}


# --- the machine's ceiling ---------------------------------------------------------------------

def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` float32 GFLOPS of an n x n matmul (2 n^3 FLOPs): the dense-math
    ceiling any training loop on this CPU could reach."""
    gen = torch.Generator().manual_seed(SEED)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    torch.mm(a, b)                                   # warm-up: thread pool and caches
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def training_flops_per_sample() -> int:
    """Forward FLOPs (2 per multiply-add of each of aedemo's dense model's nn.Linear layers)
    times 3 for forward + backward, the usual estimate (the backward pass costs two matmuls per
    layer)."""
    model = build("dense", {"latent_dim": LATENT}, seed=SEED)
    macs = sum(m.in_features * m.out_features for m in model.modules()
               if isinstance(m, nn.Linear))
    return 3 * 2 * macs


# --- whole processes ---------------------------------------------------------------------------

def run_process(command: list[str], env: dict[str, str], expect: str) -> dict:
    """Run ``command`` to its end and time it; refuse a run that failed or whose stdout lacks
    ``expect`` (a figure from a crashed or reused run is no figure). Keeps the line that has it."""
    run: dict = {}

    def go() -> int:
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0 or expect not in done.stdout:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n"
                               f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        run["line"] = next(line for line in done.stdout.splitlines() if expect in line)
        return 1
    run.update(timed(go))
    return {"seconds": run["seconds"], "other_cpu_s": run["other_cpu_s"],
            "line": run["line"].strip()}


def compare_processes(tmp: Path, repeats: int) -> dict:
    """The seed's script and the CLI, ``repeats`` times each, alternating; the fastest counts."""
    python = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
    script = tmp / "seed_tutorial.py"
    script.write_text(seed_script())
    seed_cmd = [python, str(script), str(tmp)]
    cli_cmd = [python, "-m", "aedemo", "train", "--variant", "dense", "--latent", str(LATENT),
               "--epochs", str(EPOCHS), "--dataset", str(tmp / "MNIST" / "raw")]
    runs: dict[str, list[dict]] = {"seed": [], "cli": []}
    for i in range(repeats):
        log(f"whole processes, round {i + 1} of {repeats}: the seed's script...")
        runs["seed"].append(run_process(seed_cmd, dict(os.environ), "test mse"))
        log("... and the CLI")
        home = tmp / f"aedemo-home-{i}"          # empty: the model is trained, never reused
        env = {**os.environ, "AEDEMO_HOME": str(home)}
        runs["cli"].append(run_process(cli_cmd, env, f"{EPOCHS} epochs, "))
    best = {name: min(r, key=lambda run: run["seconds"]) for name, r in runs.items()}
    ratio = best["seed"]["seconds"] / best["cli"]["seconds"]
    return {"seed_script": best["seed"], "cli": best["cli"],
            "all_seconds": {name: [round(run["seconds"], 2) for run in rs]
                            for name, rs in runs.items()},
            "cli_command": " ".join([".venv/bin/python", *cli_cmd[1:]]),
            "ratio": ratio, "target_ratio": TARGET_PROCESS_RATIO,
            "target_met": ratio >= TARGET_PROCESS_RATIO}


# --- the run -----------------------------------------------------------------------------------

def measure(samples: int, repeats: int) -> dict:
    # The same thread count for both loops: aedemo's choice (the cores this process may use).
    pick_device()
    images, labels, source = source_images()
    x_u8, y_u8 = tile(images, samples), tile(labels, samples)
    # What aedemo's data module would hold: float32 in [0, 1], shape (N, 1, 28, 28).
    x_float = torch.from_numpy(x_u8).float().div_(255.0).unsqueeze(1).contiguous()

    with tempfile.TemporaryDirectory(prefix="aedemo-bench-") as tmp:
        write_torchvision_mnist(Path(tmp), x_u8, y_u8, images, labels)
        dataset = datasets.MNIST(tmp, train=True, download=False,
                                 transform=transforms.ToTensor())
        # Warm-ups: a few batches each, so thread-pool start-up and first-call costs don't count.
        log(f"warming up ({WARMUP_BATCHES} batches each)...")
        classic_epoch(dataset, max_batches=WARMUP_BATCHES)
        aedemo_epoch(x_float[:WARMUP_BATCHES * BATCH])
        log(f"classic loop: one epoch of {samples} images...")
        classic_run = timed(lambda: classic_epoch(dataset))
        log(f"aedemo fit: one epoch of {samples} images...")
        aedemo_run = timed(lambda: aedemo_epoch(x_float))
        processes = compare_processes(Path(tmp), repeats)
    log("matmul peak...")
    peak = matmul_gflops()

    flops = training_flops_per_sample()
    for loop in (classic_run, aedemo_run):
        loop["gflops"] = loop["samples_per_s"] * flops / 1e9
    ratio = aedemo_run["samples_per_s"] / classic_run["samples_per_s"]
    return {
        "data": source, "samples": samples, "batch_size": BATCH,
        "classic": classic_run, "aedemo": aedemo_run,
        "ratio": ratio, "target_ratio": TARGET_RATIO, "target_met": ratio >= TARGET_RATIO,
        "train_flops_per_sample": flops, "matmul_peak_gflops": peak,
        "aedemo_share_of_peak": aedemo_run["gflops"] / peak,
        "processes": processes,
        "torch_threads": torch.get_num_threads(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "omp_wait_policy": (f"{os.environ.get('OMP_WAIT_POLICY', 'default')}, GOMP_SPINCOUNT "
                            f"{os.environ.get('GOMP_SPINCOUNT', 'default')}"),
        "versions": {"aedemo": aedemo.__version__, "python": platform.python_version(),
                     "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "numpy": np.__version__},
    }


# Other processes' CPU use, in cores, above which the timings are flagged as contended.
CONTENDED_CORES = 0.1


def contention_note(loop: dict) -> str:
    others = loop["other_cpu_s"]
    if others is None:
        return ""
    cores = others / loop["seconds"]
    flag = "  <- CONTENDED, rerun on an idle machine" if cores > CONTENDED_CORES else ""
    return f"; other processes used {cores:.2f} cores meanwhile{flag}"


def report(r: dict) -> str:
    c, a = r["classic"], r["aedemo"]
    verdict = "PASS" if r["target_met"] else "MISS"
    v = r["versions"]
    p = r["processes"]
    seed, cli = p["seed_script"], p["cli"]
    process_verdict = "PASS" if p["target_met"] else "MISS"
    return "\n".join([
        f"data: {r['samples']} images ({r['data']}), batch {r['batch_size']}, one epoch each",
        f"classic DataLoader + ToTensor loop: {c['samples_per_s']:9.0f} samples/s "
        f"({c['seconds']:.2f} s, {c['gflops']:.1f} GFLOPS{contention_note(c)})",
        f"aedemo fit():                       {a['samples_per_s']:9.0f} samples/s "
        f"({a['seconds']:.2f} s, {a['gflops']:.1f} GFLOPS{contention_note(a)})",
        f"speed-up: {r['ratio']:.2f}x (target >= {r['target_ratio']} on a 2-core CPU): {verdict}",
        f"whole processes, {EPOCHS} epochs of {r['samples']} images, best of "
        f"{len(p['all_seconds']['seed'])} (all runs: seed {p['all_seconds']['seed']} s, "
        f"CLI {p['all_seconds']['cli']} s):",
        f"  the seed's script:  {seed['seconds']:6.2f} s{contention_note(seed)}",
        f"    {seed['line']}",
        f"  {p['cli_command']}:",
        f"                      {cli['seconds']:6.2f} s{contention_note(cli)}",
        f"    {cli['line']}",
        f"  speed-up: {p['ratio']:.2f}x (target >= {p['target_ratio']}): {process_verdict}",
        f"training FLOPs per sample: {r['train_flops_per_sample'] / 1e6:.2f} M; "
        f"matmul peak {r['matmul_peak_gflops']:.1f} GFLOPS; "
        f"aedemo reaches {r['aedemo_share_of_peak']:.0%} of it",
        f"torch threads: {r['torch_threads']} (usable CPUs: {r['cpus_usable']}), "
        f"OMP_WAIT_POLICY {r['omp_wait_policy']}; aedemo {v['aedemo']}, python {v['python']}, "
        f"torch {v['torch']}, torchvision {v['torchvision']}, numpy {v['numpy']}",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60_000,
                        help="training images per epoch (default 60000)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each whole process, alternating; the fastest counts "
                             "(default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args(argv)
    if args.samples < (WARMUP_BATCHES + 1) * BATCH:
        parser.error(f"--samples must be at least {(WARMUP_BATCHES + 1) * BATCH}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    result = measure(args.samples, args.repeats)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
