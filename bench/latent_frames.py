"""What the latent map's frames cost (aedemo.latent_frames): the CPU time of a training job with
the worker's frame recorder against the same job without it, the bytes of one frame on the job
board and of a model's stored frames. Trains on the real MNIST test split in ../shared (the
training split is not on these machines), as a worker would: its frames every FRAME_EVERY_S.

    .venv/bin/python bench/latent_frames.py [--variants dense conv vae] [--epochs 3]

CPU time (process_time), not wall time, so other work on a shared machine counts less; each
pair runs with and without frames alternately, and the median of --repeats is reported, with
the CPU time spent inside the recorder itself (the direct figure, where the difference of two
trainings is within their noise)."""

from __future__ import annotations

# ruff: noqa: E402  (the repository goes on sys.path, then aedemo loads before torch)
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]),
                str(Path(__file__).resolve().parents[1] / "tests")]   # for support.py

# aedemo first, as bench/train_speed.py explains: the OpenMP setting the app ships with
import aedemo  # noqa: F401, I001

# isort: split
import argparse
import json
import statistics
import time

from aedemo.data import load_images
from aedemo.job import JobFrame
from aedemo.latent_frames import FrameRecorder, frame_sample
from aedemo.models import build
from aedemo.train import TrainConfig, fit, pick_device
from support import SHARED_MNIST


class TimedRecorder(FrameRecorder):
    """The worker's recorder, adding up the CPU time its frames take: the cost measured
    directly, where the difference of two whole trainings is mostly noise on a shared machine."""

    cpu, taken = 0.0, 0

    def _take(self, *args) -> None:
        start = time.process_time()
        super()._take(*args)
        self.cpu += time.process_time() - start
        self.taken += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["dense", "conv", "vae"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    d = load_images(str(SHARED_MNIST))
    chosen = frame_sample(d.y_test)
    device = pick_device()
    print(f"{len(d.x_train)} training images, {len(chosen)} frame digits, {device}")
    for variant in args.variants:
        costs = {False: [], True: []}
        recorder = None
        for _ in range(args.repeats):
            for with_frames in (False, True):
                model = build(variant, {"latent_dim": 16}, seed=0)
                recorder = TimedRecorder(d.x_test[chosen], d.y_test[chosen], chosen)
                start = time.process_time()
                fit(model, d.x_train, None, TrainConfig(epochs=args.epochs), device=device,
                    callbacks=(recorder,) if with_frames else ())
                costs[with_frames].append(time.process_time() - start)
        frames = recorder.frames()
        inside = recorder.cpu / costs[True][-1]
        plain, framed = statistics.median(costs[False]), statistics.median(costs[True])
        frame = JobFrame(float(frames.at[-1]), frames.points[-1], frames.labels)
        print(f"{variant}: {plain:.1f} s CPU without frames, {framed:.1f} s with "
              f"({100 * (framed - plain) / plain:+.1f}%), {recorder.taken} frames taken "
              f"({1000 * recorder.cpu / recorder.taken:.1f} ms CPU each, {100 * inside:.1f}% of "
              f"the job's CPU time), {len(frames)} kept; one frame on "
              f"the board {len(json.dumps(frame.to_json()))} bytes, stored frames "
              f"{len(frames.to_bytes())} bytes")


if __name__ == "__main__":
    main()
