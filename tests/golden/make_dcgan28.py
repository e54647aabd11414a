#!/usr/bin/python3
"""Writes tests/golden/dcgan28.bin: PyTorch reference numbers for the
DCGAN-28 parity test (tests/test_nn_parity.c).

Run with Debian's python3-torch (PyTorch 1.13) from the repository root:

    /usr/bin/python3 tests/golden/make_dcgan28.py
    /usr/bin/python3 tests/golden/make_dcgan28.py --search 0 250

It needs the Fashion-MNIST train images (Debian's dataset-fashion-mnist) for
the real batches. CI never runs it; it only reads the committed file.

The model is the one arch_dcgan28_generator/discriminator build (defaults):

  G: z(100) -> Linear 100->6272 (no bias) -> BatchNorm1d -> ReLU
     -> reshape (128,7,7) -> ConvTranspose2d 128->64 k4 s2 p1 (no bias)
     -> BatchNorm2d -> ReLU -> ConvTranspose2d 64->1 k4 s2 p1 (bias) -> Tanh
  D: Conv2d 1->64 k4 s2 p1 (bias) -> LeakyReLU 0.2
     -> Conv2d 64->128 k4 s2 p1 (no bias) -> BatchNorm2d -> LeakyReLU 0.2
     -> Flatten -> Linear 6272->1 (bias)

A layer followed by batch norm has no bias (the norm's shift replaces it,
and its gradient would be zero), every other one has one.

Training: batch 16 (the reference model at a smaller batch, to keep the file
small), DCGAN init, Adam lr 2e-4 betas (0.5, 0.999), three iterations of the
classic step, each with its own real batch x_k and noise z_k:

  D.zero_grad(); BCEWithLogits(D(x), 1).backward()
  fake = G(z); BCEWithLogits(D(fake.detach()), 0).backward(); optD.step()
  G.zero_grad(); BCEWithLogits(D(fake), 1).backward(); optG.step()

Both nets stay in training mode throughout, so each D forward (three per
iteration) and each G forward (one) updates the batch norm running stats.

Conditioning: three float32 iterations are not equally reproducible from
every seed. A ReLU/LeakyReLU input within rounding of 0 takes the other
branch under another summation order, and Adam's first step turns a
gradient element within rounding of 0 into an update of either sign (about
lr in size); either change then spreads through batch norm to every later
value, by 1e-3 and more in the zero-initialised shifts and biases, whose
values after three steps are lr-sized. The script therefore checks that its
float32 run agrees with the same run in float64 to MAX_CONDITIONING under
the C test's measure; only then can another float32 implementation (gand,
rounding in its own order) be held to 1e-4. --search FIRST END scores the
seeds in [FIRST, END) so that SEED can be replaced when the model changes.

File format (little-endian):
  magic "GANDGLD1", u32 record count, then records:
  u32 name length, name bytes (no NUL), u32 dtype (0 float32, 1 float16),
  u32 stride, u32 ndim, u32 dims[ndim] (the full tensor's shape),
  u32 count, count values.
A record with stride s holds elements 0, s, 2s, ... of the flattened tensor
(count = ceil(size / s)); s is 1 except for the gradients and trained values
of the three large weights, which are sampled every SAMPLE_STRIDE-th element.

Records:
  init.{G,D}.<param or buffer>   float16: initial values. The torch init is
                                 rounded to float16-representable values
                                 before training, so these are exact.
  iter<k>.x, iter<k>.z           the batches of iteration k (k = 0, 1, 2)
  iter<k>.d_real, .d_fake, .d_gen  D's logits on x, on fake.detach() and on
                                 fake in the G step
  iter<k>.loss                   errD_real, errD_fake, errG
  iter0.fake                     G(z_0)
  grad.{G,D}.<param>             gradients of iteration 0's D step (D) and
                                 G step (G), taken just before each optimizer
                                 step
  final.{G,D}.<param or buffer>  values after the three iterations
"""

import gzip
import os
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

BATCH = 16
Z_DIM = 100
ITERS = 3
SAMPLE_STRIDE = 7  # coprime with the row lengths (100, 16) and channel counts
SAMPLE_ABOVE = 65536  # tensors with more elements are sampled
# Chosen with --search 0 250: the seed whose float32 run agrees best with the
# same run in float64 (worst 8.9e-6), see "Conditioning" above.
SEED = 113
MAX_CONDITIONING = 2e-5
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dcgan28.bin")


def generator():
    return nn.Sequential(OrderedDict([
        ("fc", nn.Linear(Z_DIM, 128 * 7 * 7, bias=False)),
        ("bn0", nn.BatchNorm1d(128 * 7 * 7)),
        ("relu0", nn.ReLU()),
        ("reshape", nn.Unflatten(1, (128, 7, 7))),
        ("ct1", nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False)),
        ("bn1", nn.BatchNorm2d(64)),
        ("relu1", nn.ReLU()),
        ("ct2", nn.ConvTranspose2d(64, 1, 4, 2, 1, bias=True)),
        ("tanh", nn.Tanh()),
    ]))


def discriminator():
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 64, 4, 2, 1, bias=True)),
        ("lrelu1", nn.LeakyReLU(0.2)),
        ("conv2", nn.Conv2d(64, 128, 4, 2, 1, bias=False)),
        ("bn2", nn.BatchNorm2d(128)),
        ("lrelu2", nn.LeakyReLU(0.2)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(128 * 7 * 7, 1, bias=True)),
    ]))


def dcgan_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def tensors(net):
    """Parameters and buffers in module order, without num_batches_tracked."""
    return [(k, v) for k, v in net.state_dict(keep_vars=True).items()
            if not k.endswith("num_batches_tracked")]


def load_images(n):
    with gzip.open(FMNIST, "rb") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051 and rows == 28 and cols == 28 and count >= n
        raw = np.frombuffer(f.read(n * 784), dtype=np.uint8)
    x = raw.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return torch.from_numpy(x.reshape(n, 1, 28, 28).copy())


class Writer:
    def __init__(self):
        self.records = []

    def add(self, name, t, dtype=0, sampled=False):
        a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        dims = list(a.shape)
        flat = a.reshape(-1)
        stride = SAMPLE_STRIDE if sampled and flat.size > SAMPLE_ABOVE else 1
        flat = flat[::stride]
        data = flat.astype("<f2" if dtype == 1 else "<f4")
        if dtype == 1:
            assert np.array_equal(data.astype(np.float32), flat.astype(np.float32)), name
        nb = name.encode()
        head = struct.pack("<I", len(nb)) + nb
        head += struct.pack("<III", dtype, stride, len(dims))
        head += struct.pack("<%dI" % len(dims), *dims)
        head += struct.pack("<I", data.size)
        self.records.append(head + data.tobytes())

    def save(self, path):
        with open(path, "wb") as f:
            f.write(b"GANDGLD1" + struct.pack("<I", len(self.records)))
            for r in self.records:
                f.write(r)


def run(seed, dtype, w=None):
    """Runs the whole procedure from seed in dtype and returns every compared
    tensor by record name (in float64); records them into w when given."""
    torch.manual_seed(seed)
    G, D = generator(), discriminator()
    G.apply(dcgan_init)
    D.apply(dcgan_init)
    with torch.no_grad():
        for net in (G, D):
            for _, v in tensors(net):
                v.copy_(v.half().float())
    G.to(dtype).train()
    D.to(dtype).train()
    out = {}

    def add(name, t, **kw):
        out[name] = t.detach().double().clone()
        if w is not None:
            w.add(name, t, **kw)

    for tag, net in (("G", G), ("D", D)):
        for k, v in tensors(net):
            if w is not None:
                w.add("init.%s.%s" % (tag, k), v, dtype=1)

    xs = [x.to(dtype) for x in load_images(BATCH * ITERS).split(BATCH)]
    zs = [torch.randn(BATCH, Z_DIM).to(dtype) for _ in range(ITERS)]
    bce = nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones = torch.ones(BATCH, 1, dtype=dtype)
    zeros = torch.zeros(BATCH, 1, dtype=dtype)

    for it in range(ITERS):
        x, z = xs[it], zs[it]
        D.zero_grad()
        d_real = D(x)
        err_real = bce(d_real, ones)
        err_real.backward()
        fake = G(z)
        d_fake = D(fake.detach())
        err_fake = bce(d_fake, zeros)
        err_fake.backward()
        if it == 0:
            for k, p in D.named_parameters():
                add("grad.D.%s" % k, p.grad, sampled=True)
        opt_d.step()

        G.zero_grad()
        d_gen = D(fake)
        err_g = bce(d_gen, ones)
        err_g.backward()
        if it == 0:
            for k, p in G.named_parameters():
                add("grad.G.%s" % k, p.grad, sampled=True)
        opt_g.step()

        p = "iter%d." % it
        if w is not None:
            w.add(p + "x", x)
            w.add(p + "z", z)
        add(p + "d_real", d_real)
        add(p + "d_fake", d_fake)
        add(p + "d_gen", d_gen)
        add(p + "loss", torch.stack([err_real, err_fake, err_g]))
        if it == 0:
            add(p + "fake", fake)

    for tag, net in (("G", G), ("D", D)):
        for k, v in tensors(net):
            add("final.%s.%s" % (tag, k), v, sampled=True)
    return out


def conditioning(seed):
    """Worst relative difference (as the C test measures it) between the
    float32 and the float64 run, and the record it is in."""
    a, b = run(seed, torch.float32), run(seed, torch.float64)
    return max((((a[k] - b[k]).abs().max() / b[k].abs().max().clamp(min=1e-6)).item(), k)
               for k in a)


def main():
    torch.set_num_threads(1)
    if len(sys.argv) == 4 and sys.argv[1] == "--search":
        best = None
        for seed in range(int(sys.argv[2]), int(sys.argv[3])):
            e, k = conditioning(seed)
            print("seed %d: float32 vs float64 %.3g (%s)" % (seed, e, k), flush=True)
            best = min(best, (e, seed)) if best else (e, seed)
        print("best seed %d (%.3g)" % (best[1], best[0]))
        return 0
    if len(sys.argv) != 1:
        print("usage: make_dcgan28.py [--search FIRST_SEED END_SEED]", file=sys.stderr)
        return 2

    e, k = conditioning(SEED)
    print("seed %d: float32 vs float64 %.3g (%s)" % (SEED, e, k))
    if e > MAX_CONDITIONING:
        print("seed %d is ill-conditioned (limit %g); pick another with --search"
              % (SEED, MAX_CONDITIONING), file=sys.stderr)
        return 1
    w = Writer()
    out = run(SEED, torch.float32, w)
    for it in range(ITERS):
        print("iter %d: errD_real %.6f errD_fake %.6f errG %.6f"
              % ((it,) + tuple(out["iter%d.loss" % it].tolist())))
    w.save(OUT)
    print("wrote %s (%d records, %d bytes)" % (OUT, len(w.records), os.path.getsize(OUT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
