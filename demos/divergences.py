"""Theory made executable: KL, JS, Earth-Mover, the optimal discriminator.

    python demos/divergences.py            # prints the three worked examples
    python demos/divergences.py --out DIR  # also draws DIR/parallel_lines.png

1. The transport ("moving boxes") example: the optimal plan of the Earth-Mover LP.
2. [WGAN] Example 1 (Arjovsky et al. 2017, arXiv:1701.07875, Sec. 2): two parallel vertical
   segments at distance theta. JS stays at log 2 (and KL at +inf) for every theta != 0,
   while W = |theta| shrinks linearly: only W tells the generator which way to move.
3. [GAN] Proposition 1 and Theorem 1 (Goodfellow et al. 2014, arXiv:1406.2661, Sec. 4):
   the optimal discriminator D* = p_r / (p_r + p_g) and V(D*, G) = 2 JS(p_r || p_g) - 2 log 2,
   checked on a grid for two 1-D Gaussians (a test trains a tinygen discriminator towards
   D*: tinygen_tests/test_41_gan_theory.py).
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygen.metrics.divergences import (  # noqa: E402
    boxes_example, earth_movers_distance, gan_value, js_divergence, optimal_discriminator,
    parallel_lines,
)


def gaussian(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def transport_example():
    ex = boxes_example()
    w, plan = earth_movers_distance(ex["p"], ex["q"], positions=ex["positions"])
    print("1. Moving boxes: p =", ex["p"], " q =", ex["q"])
    print("   optimal plan (rows: from position i, columns: to position j), in boxes:")
    print(np.array2string(plan * 10, precision=2, suppress_small=True))
    print(f"   W(p, q) = {w:.4f}   (expected {ex['distance']})")
    return w


def parallel_lines_table(thetas=(-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0)):
    print("\n2. Parallel lines: P_0 = (0, Z), P_theta = (theta, Z), Z ~ U[0, 1]")
    print(f"   {'theta':>6} {'JS':>8} {'KL':>8} {'W':>8}")
    rows = []
    for t in thetas:
        js, kl, w = parallel_lines(t)
        rows.append((t, js, kl, w))
        print(f"   {t:6.2f} {js:8.4f} {kl:8.3g} {w:8.4f}")
    print(f"   JS = log 2 = {math.log(2):.4f} for every theta != 0; W = |theta|")
    return rows


def optimal_discriminator_example():
    x = np.linspace(-5, 6, 4001)          # wide enough for the mass, narrow enough that
    # D* stays strictly inside (0, 1) in float64 (else 0 * log 0 terms turn into -inf)
    dx = x[1] - x[0]
    p_r, p_g = gaussian(x, 0.0, 1.0), gaussian(x, 1.5, 0.7)
    d_star = optimal_discriminator(p_r, p_g)
    v_star = gan_value(d_star, p_r, p_g, dx)
    js = js_divergence(p_r * dx, p_g * dx)
    print("\n3. Optimal discriminator, p_r = N(0, 1), p_g = N(1.5, 0.7^2):")
    print(f"   V(D*, G) = {v_star:.5f}   2 JS - 2 log 2 = {2 * js - 2 * math.log(2):.5f}")
    for other in (0.5 * np.ones_like(x), 0.9 * d_star + 0.05):
        print(f"   a worse D: V = {gan_value(other, p_r, p_g, dx):.5f} (< V(D*))")
    return v_star, js


def draw_parallel_lines(path, n=41):
    """JS and W against theta as dots (JS jumps at theta = 0) -> PNG at ``path``."""
    from tinygen.io.plot import FAKE, REAL, line_plot, save_image
    thetas = np.linspace(-1, 1, n)
    vals = np.array([parallel_lines(t)[::2] for t in thetas])          # (n, 2): JS, W
    save_image(line_plot({"JS": vals[:, 0], "W": vals[:, 1]}, thetas, (420, 260),
                         "parallel lines: JS and W against theta", ylim=(0.0, 1.1),
                         xlabel="theta", colors=[FAKE, REAL], dots=True), path)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for parallel_lines.png")
    args = parser.parse_args(argv)
    transport_example()
    parallel_lines_table()
    optimal_discriminator_example()
    if args.out:
        print("\nwrote", draw_parallel_lines(os.path.join(args.out, "parallel_lines.png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
