"""The browser's interpreter (aedemo/assets/interpreter.js) in Chromium: per model, the time of
one forward pass (a reconstruction, encode then decode, of one digit; the median over blocks of
ten passes), against the same forward
in PyTorch in this process on one thread, measured in the same run; the bytes of its exported
file as the server sends it (float16 where a probe of 200 other test digits allows, rounded
to fit 1,000 more: aedemo.export.precisions), all float16 and all float32; and the largest
pixel difference from PyTorch's float32 reconstruction on 100 real MNIST test digits, for each.

The models: the issue's yardstick, a dense 784-256-64-16 autoencoder (target: under 1 ms), then
every image model of the lesson's zoo (aedemo.zoo.ZOO) at its own settings. By default they
have their initial weights (seed 0): time and bytes do not depend on training, though the
differences are larger for trained weights; ``--home DIR`` takes the image models stored in a
model store instead (an AEDEMO_HOME after the zoo has trained).

Run from the repository root (about a minute; the machine's other load shows in both columns):

    .venv/bin/python bench/interpreter_speed.py [--home DIR] [--repeats 100]
"""

from __future__ import annotations

# ruff: noqa: E402  (the repository goes on sys.path, then aedemo loads before torch)
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "e2e")]

import aedemo  # noqa: F401, I001

# isort: split
import argparse
import base64
import statistics
import time

import numpy as np
import torch

from aedemo import export
from aedemo.data.idx import read_idx
from aedemo.data.images import to_float_images
from aedemo.models import build, get_variant
from aedemo.models.base import AEConfig, ImageAutoencoder, TakeHome, mlp, reconstruction_loss
from aedemo.store import ModelStore
from aedemo.zoo import ZOO
from e2e_support import CHROMIUM_FLAGS, find_chromium
from support import SHARED_MNIST

DIGITS = 100


class YardstickNet(torch.nn.Module):
    """The issue's 784-256-64-16 dense autoencoder (the app's own dense is 784-256-128-k)."""

    def __init__(self, latent_dim=16):
        super().__init__()
        self.encoder = mlp(784, 256, 64, latent_dim)
        self.decoder = mlp(latent_dim, 64, 256, 784)

    def encode(self, x):
        return self.encoder(x.flatten(1))

    def decode_logits(self, z):
        return self.decoder(z).view(-1, 1, 28, 28)


class Yardstick(ImageAutoencoder):
    name = "784-256-64-16"
    Config = AEConfig
    takehome = TakeHome(YardstickNet, reconstruction_loss)


def models(home: str | None) -> list[tuple[str, torch.nn.Module]]:
    found = [("dense 784-256-64-16", Yardstick(AEConfig(latent_dim=16)).eval())]
    if home:
        store = ModelStore(home)
        for m in store.list():
            if m.ok and m.spec.kind == "image":
                found.append((f"{m.spec.variant} {m.id}", store.load(m.id)[0]))
        return found
    for entry in ZOO:
        if get_variant(entry.variant).kind == "image" and not entry.normal and not entry.subset:
            model = build(entry.variant, entry.hparams, seed=0).eval()
            words = ", ".join(f"{k}={v}" for k, v in entry.hparams.items())
            found.append((f"{entry.variant} ({words})", model))
    return found


# In the page: parse each file, run warm-up passes, then time `repeats` times ten
# reconstructions of the digits in turn; the reconstructions of every digit come back as
# base64 float32 bytes.
BENCH = """({files, digits, repeats}) => {
  const out = [];
  const asBase64 = (floats) => {
    let text = "";
    const raw = new Uint8Array(floats.buffer);
    for (let i = 0; i < raw.length; i++) text += String.fromCharCode(raw[i]);
    return btoa(text);
  };
  const inputs = digits.map((d) => Float32Array.from(d));
  for (const file of files) {
    const raw = Uint8Array.from(atob(file), (c) => c.charCodeAt(0));
    const net = aedemoParseNet(raw.buffer);
    for (let i = 0; i < 20; i++) aedemoReconstruct(net, inputs[i % inputs.length]);
    // timed ten passes at a time: a page's clock ticks in steps of 0.1 ms (a browser coarsens
    // it against timing attacks), as long as one dense pass
    const times = [];
    for (let i = 0; i < repeats; i++) {
      const start = performance.now();
      for (let j = 0; j < 10; j++) aedemoReconstruct(net, inputs[(10 * i + j) % inputs.length]);
      times.push((performance.now() - start) / 10);
    }
    const recons = new Float32Array(inputs.length * 784);
    inputs.forEach((x, i) => recons.set(aedemoReconstruct(net, x), i * 784));
    out.push({times, recons: asBase64(recons)});
  }
  return out;
}"""


def torch_ms(model: torch.nn.Module, digits: torch.Tensor, repeats: int) -> float:
    """Median ms of one digit's reconstruction in PyTorch, one thread, batch of one, timed as
    the page times it (blocks of ten)."""
    times = []
    with torch.no_grad():
        for i in range(20):
            model.reconstruct(digits[i:i + 1])
        for i in range(repeats):
            start = time.perf_counter()
            for j in range(10):
                model.reconstruct(digits[(10 * i + j) % len(digits)][None])
            times.append((time.perf_counter() - start) * 100)       # ms per pass
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="bench the image models of this model store")
    parser.add_argument("--repeats", type=int, default=100, help="blocks of ten passes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    digits = to_float_images(torch.from_numpy(
        read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz")[:DIGITS].copy()))
    chosen = models(args.home)
    # as the server sends them: rounded where a probe of other test digits allows, fitted to
    # the activations of further test digits (the server fits them to training digits)
    others = to_float_images(torch.from_numpy(
        read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz")[DIGITS:DIGITS + 1200].copy()))
    sent = {"probe": others[:200], "calibration": others[200:]}
    files = {how: [export.to_bytes(m, "000000000000", "mnist", **kwargs) for _, m in chosen]
             for how, kwargs in (("sent", sent), ("f16", {"dtype": torch.float16}),
                                 ("f32", {"dtype": torch.float32}))}

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_FLAGS,
                                    headless=True)
        page = browser.new_page()
        page.set_content("<!doctype html><title>interpreter bench</title>")
        page.add_script_tag(content=(REPO / "aedemo/assets/interpreter.js").read_text())
        runs = {how: page.evaluate(BENCH, {
            "files": [base64.b64encode(f).decode() for f in payloads],
            "digits": digits.flatten(1).tolist(), "repeats": args.repeats})
            for how, payloads in files.items()}
        version = browser.version
        browser.close()

    print(f"Chromium {version}; PyTorch {torch.__version__} on 1 thread; one digit per pass "
          f"(the file as sent), median of {args.repeats} blocks of ten; max |browser - PyTorch| "
          f"over {DIGITS} real MNIST digits")
    print()
    print("| model | Chromium ms | p95 ms | PyTorch ms | ratio | bytes sent | f16 | f32 "
          "| max diff sent | f16 | f32 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    total = dict.fromkeys(files, 0)
    for i, (name, model) in enumerate(chosen):
        with torch.no_grad():
            expected = model.reconstruct(digits).flatten(1).numpy()
        diffs = {}
        for how, run in runs.items():
            got = np.frombuffer(base64.b64decode(run[i]["recons"]), np.float32)
            diffs[how] = float(np.abs(got.reshape(DIGITS, 784) - expected).max())
            total[how] += len(files[how][i]) if i else 0          # the yardstick aside
        times = sorted(runs["sent"][i]["times"])
        browser_ms = statistics.median(times)
        reference = torch_ms(model, digits, args.repeats)
        sizes = " | ".join(f"{len(files[how][i]):,}" for how in files)
        print(f"| {name} | {browser_ms:.3f} | {times[int(0.95 * len(times))]:.3f} "
              f"| {reference:.3f} | {browser_ms / reference:.2f} | {sizes} "
              f"| {' | '.join(f'{diffs[how]:.1e}' for how in files)} |")
    print()
    print("All but the yardstick: " + ", ".join(f"{total[how]:,} bytes {how}" for how in files))


if __name__ == "__main__":
    main()
