#!/usr/bin/python3
"""PyTorch peer of bench/dcgan28_bench.c: trains the same DCGAN-28 (defined
in tests/golden/make_dcgan28.py) on the Fashion-MNIST train set with the
same classic D+G step and reports images per second and peak RSS.

usage: dcgan28_torch.py THREADS [STEPS] [WARMUP]

The images stay bytes in memory and each step converts its shuffled batch to
floats in [-1, 1], as gand does. One D+G iteration counts as 64 images.
Output, one line:
  torch threads=T batch=64 steps=N seconds=S img_per_s=X rss_mb=M
"""

import gzip
import importlib.util
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

BATCH = 64
HERE = os.path.dirname(os.path.abspath(__file__))
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def reference_model():
    path = os.path.join(HERE, "..", "tests", "golden", "make_dcgan28.py")
    spec = importlib.util.spec_from_file_location("make_dcgan28", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_images():
    with gzip.open(FMNIST, "rb") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise SystemExit("%s is not an IDX image file" % FMNIST)
        raw = np.frombuffer(f.read(), dtype=np.uint8)
    return torch.from_numpy(raw.reshape(count, 1, rows, cols).copy())


def main():
    if len(sys.argv) < 2:
        raise SystemExit("usage: dcgan28_torch.py THREADS [STEPS] [WARMUP]")
    threads = int(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    torch.set_num_threads(threads)
    torch.manual_seed(1)

    ref = reference_model()
    data = load_images()
    G, D = ref.generator(), ref.discriminator()
    G.apply(ref.dcgan_init)
    D.apply(ref.dcgan_init)
    G.train()
    D.train()
    bce = nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones = torch.ones(BATCH, 1)
    zeros = torch.zeros(BATCH, 1)
    perm = torch.randperm(data.shape[0])
    pos = 0

    def step():
        nonlocal perm, pos
        if pos + BATCH > perm.numel():
            perm, pos = torch.randperm(data.shape[0]), 0
        idx = perm[pos:pos + BATCH]
        pos += BATCH
        x = data[idx].float() / 127.5 - 1.0
        z = torch.randn(BATCH, ref.Z_DIM)
        D.zero_grad()
        bce(D(x), ones).backward()
        fake = G(z)
        bce(D(fake.detach()), zeros).backward()
        opt_d.step()
        G.zero_grad()
        bce(D(fake), ones).backward()
        opt_g.step()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    secs = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("torch threads=%d batch=%d steps=%d seconds=%.3f img_per_s=%.1f rss_mb=%.1f"
          % (threads, BATCH, steps, secs, BATCH * steps / secs, rss_mb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
