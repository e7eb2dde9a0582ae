"""Time tinygen on a GPU (CuPy) against PyTorch eager on the same GPU: issue 15's figures.

    python benchmarks/gpu_timing.py                 # on a machine with a GPU, CuPy and torch
    python benchmarks/gpu_timing.py --dry           # anywhere: tiny shapes, cpu (or the stand-in)

What it times, each as the best of ``--repeats`` after warm-ups, with a device synchronisation
before the clock stops (GPU kernels run asynchronously; without it a timer measures launches):

1. forward + backward (input and weight gradients, random upstream gradient) of every conv
   and transposed conv of DCGAN at 64x64x3 (Radford et al. 2015, arXiv 1511.06434, Fig. 1):
   the layers of ``benchmarks/conv.py``;
2. one whole DCGAN step (D on a real and a fake batch, D backward, Adam; G forward, D on G(z),
   G backward, Adam; BCE with logits) as ``benchmarks/dcgan_step.py`` writes it;
3. one WGAN-GP critic step (Gulrajani et al. 2017, arXiv 1704.00028, Algorithm 1 lines 3-9):
   the Wasserstein loss plus the gradient penalty, whose gradient w.r.t. the critic's weights
   is a double backward through the critic, then Adam;

and, with ``torch.profiler`` (CUPTI records every kernel of the process, CuPy's included), the
top kernels of one tinygen DCGAN step and one PyTorch step. Goal (issue 15): the DCGAN step
within 2x of PyTorch eager.

``--dry`` runs every code path on tiny shapes (batch 2, 28x28x1, width 8) on ``--device``
(default: ``cuda`` when the stand-in or CuPy is there, else ``cpu``) and PyTorch on the CPU,
so a test can check this script runs without a GPU.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402  (a benchmark script, not library code)

import tinygen as tg  # noqa: E402
from tinygen import backend, optim  # noqa: E402
from tinygen import losses as L  # noqa: E402
from tinygen.models.dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from tinygen.ops.conv import conv2d, conv_transpose2d  # noqa: E402

import timing  # noqa: E402  (benchmarks/timing.py)
from conv import LAYERS_28, LAYERS_64  # noqa: E402  (benchmarks/conv.py: DCGAN's layers)
import dcgan_step  # noqa: E402  (benchmarks/dcgan_step.py)
from dcgan_step import torch_models  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def synchronize(device: str) -> None:
    """Wait for the device's queued kernels (nothing to wait for on the host)."""
    if device != "cpu":
        backend.array_module_for(device).cuda.Device(int(device.split(":")[1])).synchronize()


def torch_sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def best(step, sync, repeats: int) -> float:
    """Seconds for one ``step()``, synchronised, best of ``repeats`` after two warm-ups."""
    def synced():
        step()
        sync()
    return timing.best_time(synced, repeats, warmup=2)


# ----------------------------------------------------------------------------
# 1. the conv layers
# ----------------------------------------------------------------------------

def conv_arrays(layer, batch, rng):
    """x, w, gy for one of conv.py's named layers: dcgan_step.py's arrays for its geometry."""
    return dcgan_step.conv_arrays(layer[1:], batch, rng)


def conv_step_tinygen(layer, batch, rng, device):
    _, kind, _, _, _, s, p, _ = layer
    x, w, gy = (tg.tensor(a, device=device) for a in conv_arrays(layer, batch, rng))
    x.requires_grad_(True)
    w.requires_grad_(True)
    fn = conv2d if kind == "conv" else conv_transpose2d

    def step():
        x.grad = w.grad = None
        fn(x, w, None, s, p).backward(gy)
    return step


def conv_step_torch(layer, batch, rng, device):
    _, kind, _, _, _, s, p, _ = layer
    x, w, gy = (torch.tensor(a, device=device) for a in conv_arrays(layer, batch, rng))
    x.requires_grad_(True)
    w.requires_grad_(True)
    fn = torch.nn.functional.conv2d if kind == "conv" else torch.nn.functional.conv_transpose2d

    def step():
        x.grad = w.grad = None
        fn(x, w, None, s, p).backward(gy)
    return step


# ----------------------------------------------------------------------------
# 2. a DCGAN step, 3. a WGAN-GP critic step
# ----------------------------------------------------------------------------

def dcgan_tinygen(size, nc, nz, width, batch, device, wgan_gp=False):
    """One DCGAN step (or, with ``wgan_gp``, one WGAN-GP critic step) on ``device``."""
    tg.manual_seed(0)
    G = DCGANGenerator(nz=nz, nc=nc, size=size, ngf=width).to(device)
    D = DCGANDiscriminator(nc=nc, size=size, ndf=width).to(device)
    opt_g = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = tg.rand(batch, nc, size, size, device=device) * 2 - 1

    def step():
        z = tg.randn(batch, nz, device=device)
        if wgan_gp:                                   # Algorithm 1, lines 3-9
            x_tilde = G(z).detach()
            loss = L.d_loss_wasserstein(D(x), D(x_tilde)) + L.gradient_penalty(D, x, x_tilde, 10.0)
            opt_d.zero_grad()
            loss.backward()                           # double backward through D
            opt_d.step()
            return loss                               # no .item(): no host synchronisation
        with tg.no_grad():
            x_fake = G(z)
        loss_d = L.d_loss_minimax(D(x), D(x_fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = L.g_loss_nonsaturating(D(G(tg.randn(batch, nz, device=device))))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return loss_d, loss_g
    return step


def dcgan_torch(size, nc, nz, width, batch, device, wgan_gp=False):
    torch.manual_seed(0)
    G, D = (m.to(device) for m in torch_models(size, nc, nz, width, width))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    x = torch.rand(batch, nc, size, size, device=device) * 2 - 1
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)

    def step():
        z = torch.randn(batch, nz, device=device)
        if wgan_gp:
            x_tilde = G(z).detach()
            eps = torch.rand(batch, 1, 1, 1, device=device)
            x_hat = (eps * x + (1 - eps) * x_tilde).requires_grad_(True)
            (g,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
            gp = 10.0 * ((g.flatten(1).pow(2).sum(1) + 1e-12).sqrt() - 1).pow(2).mean()
            loss = D(x_tilde).mean() - D(x).mean() + gp
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            return loss
        with torch.no_grad():
            x_fake = G(z)
        loss_d = bce(D(x), ones) + bce(D(x_fake), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(D(G(torch.randn(batch, nz, device=device))), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return loss_d, loss_g
    return step


# ----------------------------------------------------------------------------
# profiler
# ----------------------------------------------------------------------------

def top_kernels(step, sync, rows: int, on_gpu: bool) -> str:
    """torch.profiler's table of one step's most expensive kernels (CPU ops when no GPU)."""
    acts = [torch.profiler.ProfilerActivity.CPU]
    if on_gpu:
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    step()
    sync()
    with torch.profiler.profile(activities=acts) as prof:
        step()
        sync()
    key = "cuda_time_total" if on_gpu else "cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


# ----------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------

def default_device() -> str:
    return "cuda" if backend.cuda_is_available() else "cpu"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry", action="store_true", help="tiny shapes, any machine (a smoke test)")
    ap.add_argument("--device", default=None, help="tinygen's device (default: cuda if usable)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--profile-rows", type=int, default=12)
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    device = backend.normalize_device(args.device or default_device())
    if args.dry:
        size, nc, nz, width, batch, repeats, layers = 28, 1, 16, 8, 2, 1, LAYERS_28[:2]
    else:
        size, nc, nz, width, batch, repeats, layers = (64, 3, 100, 64, args.batch, args.repeats,
                                                       LAYERS_64)
    use_torch = torch is not None and not args.no_torch
    if use_torch and args.dry:
        torch.set_num_threads(1)                      # a smoke test on a shared CPU
    torch_device = "cuda" if (use_torch and not args.dry and torch.cuda.is_available()) else "cpu"
    library = ("NumPy" if device == "cpu" else
               "CuPy stand-in" if backend.simulating_cuda() else "CuPy")
    print(f"tinygen on {device} ({library}); "
          f"torch {'on ' + torch_device if use_torch else 'not used'}; batch {batch}; "
          f"loadavg {timing.loadavg()}")
    if use_torch and torch_device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}, "
              f"CUDA {torch.version.cuda}")
    sync_tg, sync_pt = (lambda: synchronize(device)), (lambda: torch_sync(torch_device))
    rng = np.random.default_rng(0)
    rows = []

    def compare(name, ours, theirs):
        t_tg = best(ours, sync_tg, repeats)
        t_pt = best(theirs, sync_pt, repeats) if theirs is not None else float("nan")
        rows.append((name, t_tg, t_pt))
        print(f"{name:34s} tinygen {1e3 * t_tg:9.3f} ms   torch {1e3 * t_pt:9.3f} ms   "
              f"ratio {t_tg / t_pt:6.2f}", flush=True)

    print("\n== conv / convT forward + backward (input and weight gradients) ==")
    for layer in layers:
        net, kind, cin, cout, k, s, p, side = layer
        name = f"{net} {kind} {cin}->{cout} k{k} s{s} @{side}"
        compare(name, conv_step_tinygen(layer, batch, rng, device),
                conv_step_torch(layer, batch, rng, torch_device) if use_torch else None)
    print("\n== whole steps ==")
    dims = (size, nc, nz, width, batch)
    for name, gp in (("DCGAN step (D + G)", False), ("WGAN-GP critic step (double bwd)", True)):
        compare(name, dcgan_tinygen(*dims, device, gp),
                dcgan_torch(*dims, torch_device, gp) if use_torch else None)
    if use_torch:
        on_gpu = torch_device == "cuda" and device != "cpu" and not backend.simulating_cuda()
        print("\n== top kernels: one tinygen DCGAN step ==")
        if on_gpu:
            print(top_kernels(dcgan_tinygen(*dims, device), sync_tg, args.profile_rows, on_gpu))
        else:
            print("(CuPy's kernels only show on a real GPU: CUPTI records them; skipped)\n")
        print("== top kernels: one PyTorch DCGAN step ==")
        print(top_kernels(dcgan_torch(*dims, torch_device), sync_pt, args.profile_rows,
                          torch_device == "cuda"))
    print(f"loadavg after: {timing.loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
