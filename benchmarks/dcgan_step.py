"""Time one whole DCGAN training step in tinygen and in PyTorch, and the BLAS peak.

    python benchmarks/dcgan_step.py [--repeats 5] [--batch 64] [--threads 2] [--no-torch]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/dcgan_step.py

One step (Radford et al. 2015, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", arXiv 1511.06434; the GAN loop
of Goodfellow et al. 2014, arXiv 1406.2661, Algorithm 1 with k = 1 and the
non-saturating generator loss), exactly what ``tinygen.methods.dcgan`` does:

    D step:  x_fake = G(z) without a graph;  L_D = BCE(D(x), 1) + BCE(D(x_fake), 0)
             D backward, Adam step on D
    G step:  L_G = BCE(D(G(z)), 1);  G and D backward, Adam step on G

with BCE-with-logits losses, Adam(2e-4, (0.5, 0.999)), batch norm in training
mode, float32. Two sizes: 64x64x3 (ngf = ndf = 64, nz = 100, the paper's
network) and the 28x28x1 variant used by the digits demo.

When PyTorch is installed the same architecture is written below in torch
(torch is imported only by this script, a yardstick, never by tinygen) and
timed in the same process with ``torch.set_num_threads(--threads)``.

It also prints

* the BLAS GEMM peak: a large float32 matrix product timed in NumPy, in GFLOP/s;
* for the conv / transposed-conv layers alone (forward + backward for input and
  weight, 3 GEMMs of 2 K O N L flops each), the fraction of that peak each
  framework reaches; this is the "PyTorch runs at about half the GEMM peak" bar.

Timings: best of ``--repeats`` after a warm-up. The machine may be shared:
run it a few times, note ``/proc/loadavg`` (printed) and compare quiet runs.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402  (a benchmark script, not library code)

import tinygen as tg  # noqa: E402
from tinygen import losses as L  # noqa: E402
from tinygen import optim  # noqa: E402
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator, stages_for  # noqa: E402
from tinygen.ops.conv import conv2d, conv_transpose2d  # noqa: E402

import timing  # noqa: E402  (benchmarks/timing.py)
from timing import loadavg  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


CLOCK = time.perf_counter      # wall clock; --cpu-time switches to time.process_time


def best_time(step, repeats, warmup=2):
    """timing.best_time with this script's clock (two warm-ups: Adam's state appears in the first)."""
    return timing.best_time(step, repeats, warmup, CLOCK)


# ----------------------------------------------------------------------------
# BLAS peak
# ----------------------------------------------------------------------------

def gemm_peak_gflops(n=2048, repeats=5):
    """GFLOP/s of a float32 (n, n) @ (n, n) product in NumPy (2 n^3 flops), best of repeats."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty((n, n), np.float32)
    t = best_time(lambda: np.matmul(a, b, out=out), repeats, warmup=1)
    return 2 * n ** 3 / t / 1e9


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    parts = []
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            parts.append(f"{pool.get('internal_api')} {pool.get('version')} "
                         f"core={pool.get('architecture')} threads={pool.get('num_threads')} "
                         f"({os.path.basename(pool.get('filepath', ''))})")
    return "; ".join(parts) or "no BLAS pool found"


# ----------------------------------------------------------------------------
# the conv layers alone (flop count and forward+backward timing)
# ----------------------------------------------------------------------------

def conv_layers(size, nc, nz, ngf, ndf):
    """(kind, C_in, C_out, kernel, stride, padding, input side) for every conv of G and D."""
    base, n = stages_for(size)
    layers = [("conv", nc, ndf, 4, 2, 1, size)]
    width, side = ndf, size // 2
    for _ in range(n - 1):
        layers.append(("conv", width, width * 2, 4, 2, 1, side))
        width, side = width * 2, side // 2
    layers.append(("conv", width, 1, base, 1, 0, side))
    width = ngf * 2 ** (n - 1)
    layers.append(("convT", nz, width, base, 1, 0, 1))
    side = base
    for _ in range(n - 1):
        layers.append(("convT", width, width // 2, 4, 2, 1, side))
        width, side = width // 2, side * 2
    layers.append(("convT", width, nc, 4, 2, 1, side))
    return layers


def conv_flops(layer, batch):
    """Flops of forward + input grad + weight grad: three GEMMs of 2 K O N L each."""
    kind, cin, cout, k, s, p, side = layer
    if kind == "conv":
        out = (side + 2 * p - k) // s + 1
        return 3 * 2 * batch * out * out * cout * cin * k * k
    return 3 * 2 * batch * side * side * cin * cout * k * k   # the adjoint of a conv


def conv_arrays(layer, batch, rng):
    kind, cin, cout, k, s, p, side = layer
    x = rng.standard_normal((batch, cin, side, side)).astype(np.float32)
    w_shape = (cout, cin, k, k) if kind == "conv" else (cin, cout, k, k)
    w = (0.02 * rng.standard_normal(w_shape)).astype(np.float32)
    out = (side + 2 * p - k) // s + 1 if kind == "conv" else (side - 1) * s - 2 * p + k
    gy = rng.standard_normal((batch, cout, out, out)).astype(np.float32)
    return x, w, gy


def conv_time_tinygen(layer, batch, repeats, rng):
    kind, _, _, _, s, p, _ = layer
    x, w, gy = conv_arrays(layer, batch, rng)
    x, w, gy = tg.Tensor(x, requires_grad=True), tg.Tensor(w, requires_grad=True), tg.Tensor(gy)
    fn = conv2d if kind == "conv" else conv_transpose2d

    def step():
        x.grad = w.grad = None
        fn(x, w, None, s, p).backward(gy)
    return best_time(step, repeats)


def conv_time_torch(layer, batch, repeats, rng):
    kind, _, _, _, s, p, _ = layer
    x, w, gy = conv_arrays(layer, batch, rng)
    x, w = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    gy = torch.tensor(gy)
    fn = torch.nn.functional.conv2d if kind == "conv" else torch.nn.functional.conv_transpose2d

    def step():
        x.grad = w.grad = None
        fn(x, w, None, s, p).backward(gy)
    return best_time(step, repeats)


# ----------------------------------------------------------------------------
# one DCGAN step: tinygen
# ----------------------------------------------------------------------------

def tinygen_step(size, nc, nz, ngf, ndf, batch, seed=0):
    tg.manual_seed(seed) if hasattr(tg, "manual_seed") else None
    G = DCGANGenerator(nz=nz, nc=nc, size=size, ngf=ngf)
    D = DCGANDiscriminator(nc=nc, size=size, ndf=ndf)
    opt_g = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    rng = np.random.default_rng(seed)
    x = tg.Tensor(rng.uniform(-1, 1, (batch, nc, size, size)).astype(np.float32))

    def step():
        z = tg.Tensor(rng.standard_normal((batch, nz)).astype(np.float32))
        with tg.no_grad():
            x_fake = G(z)                                          # (m, nc, H, W)
        loss_d = L.d_loss_minimax(D(x), D(x_fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        z = tg.Tensor(rng.standard_normal((batch, nz)).astype(np.float32))
        loss_g = L.g_loss_nonsaturating(D(G(z)))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return float(loss_d.item()), float(loss_g.item())
    return step


# ----------------------------------------------------------------------------
# one DCGAN step: the same in PyTorch
# ----------------------------------------------------------------------------

def torch_models(size, nc, nz, ngf, ndf):
    nn = torch.nn
    base, n = stages_for(size)
    width = ngf * 2 ** (n - 1)
    g_layers = [nn.ConvTranspose2d(nz, width, base, 1, 0, bias=False),
                nn.BatchNorm2d(width), nn.ReLU()]
    for _ in range(n - 1):
        g_layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                     nn.BatchNorm2d(width // 2), nn.ReLU()]
        width //= 2
    g_layers += [nn.ConvTranspose2d(width, nc, 4, 2, 1, bias=False), nn.Tanh()]
    G = nn.Sequential(nn.Unflatten(1, (nz, 1, 1)), *g_layers)
    d_layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    width = ndf
    for _ in range(n - 1):
        d_layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                     nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2)]
        width *= 2
    d_layers += [nn.Conv2d(width, 1, base, 1, 0, bias=False), nn.Flatten()]
    D = nn.Sequential(*d_layers)
    for m in list(G.modules()) + list(D.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return G, D


def torch_step(size, nc, nz, ngf, ndf, batch, seed=0):
    torch.manual_seed(seed)
    G, D = torch_models(size, nc, nz, ngf, ndf)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    x = torch.rand(batch, nc, size, size) * 2 - 1
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def step():
        z = torch.randn(batch, nz)
        with torch.no_grad():
            x_fake = G(z)
        loss_d = bce(D(x), ones) + bce(D(x_fake), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        z = torch.randn(batch, nz)
        loss_g = bce(D(G(z)), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return float(loss_d.item()), float(loss_g.item())
    return step


# ----------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------

CONFIGS = [  # (name, size, channels); nz = 100, ngf = ndf = 64
    ("64x64x3", 64, 3),
    ("28x28x1", 28, 1),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--nz", type=int, default=100)
    ap.add_argument("--width", type=int, default=64, help="ngf = ndf")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-conv", action="store_true", help="skip the per-conv peak fractions")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with process CPU time (use with --threads 1 and "
                         "OPENBLAS_NUM_THREADS=1): robust to other jobs on a busy machine")
    ap.add_argument("--only", choices=[c[0] for c in CONFIGS], default=None)
    args = ap.parse_args(argv)
    use_torch = torch is not None and not args.no_torch
    if use_torch:
        torch.set_num_threads(args.threads)
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
        print("clock: process CPU time (meaningful only single-threaded)")
    env = {k: os.environ.get(k, "(unset)") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    print(f"loadavg before: {loadavg()}   numpy {np.__version__}"
          + (f"   torch {torch.__version__} threads {torch.get_num_threads()}" if use_torch else ""))
    print(f"env: {env}")
    print(f"numpy BLAS: {blas_info()}")
    peak = gemm_peak_gflops()
    print(f"BLAS GEMM peak (numpy float32 2048^3): {peak:.1f} GFLOP/s")
    rng = np.random.default_rng(0)
    for name, size, nc in CONFIGS:
        if args.only and name != args.only:
            continue
        dims = (size, nc, args.nz, args.width, args.width)
        print(f"\n== DCGAN {name}, batch {args.batch}, nz {args.nz}, ngf = ndf = {args.width} ==")
        if not args.no_conv:
            flops = t_tg = t_pt = 0.0
            for layer in conv_layers(*dims):
                flops += conv_flops(layer, args.batch)
                t_tg += conv_time_tinygen(layer, args.batch, args.repeats, rng)
                if use_torch:
                    t_pt += conv_time_torch(layer, args.batch, args.repeats, rng)
            line = (f"convs fwd+bwd ({flops / 1e9:.1f} GFLOP): tinygen {1e3 * t_tg:7.1f} ms "
                    f"= {flops / t_tg / 1e9:5.1f} GFLOP/s = {flops / t_tg / 1e9 / peak:4.2f} of peak")
            if use_torch:
                line += (f"; torch {1e3 * t_pt:7.1f} ms = {flops / t_pt / 1e9:5.1f} GFLOP/s = "
                         f"{flops / t_pt / 1e9 / peak:4.2f} of peak; ratio {t_tg / t_pt:4.2f}")
            print(line)
        t_tg = best_time(tinygen_step(*dims, args.batch), args.repeats)
        line = f"whole step: tinygen {1e3 * t_tg:7.1f} ms/step"
        if use_torch:
            t_pt = best_time(torch_step(*dims, args.batch), args.repeats)
            line += f"   torch {1e3 * t_pt:7.1f} ms/step   ratio {t_tg / t_pt:4.2f}"
        print(line + f"   (loadavg {loadavg()})")


if __name__ == "__main__":
    main()
