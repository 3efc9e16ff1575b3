"""The tractable quadratic binary task of the paper's Fig. 5a-b.

Loss L(theta) = 1/2 (theta - theta*)^T H (theta - theta*), optimized by a binary
parameter: the gradient is taken at the binarized point and applied to the
hidden parameter (the BNN rule),

    theta_{t+1} = theta_t - eta H (sign(theta_t) - theta*).

H is symmetric positive definite, with eigenvalues uniform in [10.5, 29.5] and a
random orthogonal basis; theta* is uniform in [-4, 4]^d (d = 500); eta = 0.01;
1000 steps from theta_0 ~ U(-0.05, 0.05). Then, for every component i, the loss
increase caused by flipping the sign of b = sign(theta) at i,

    dL_i = L(b - 2 b_i e_i) - L(b) = -2 b_i [H (b - theta*)]_i + 2 H_ii,

is set against the hidden weight's magnitude |theta_i|. The paper's point: the
larger |Wh|, the more a flip of that binary weight costs, so |Wh| measures
importance, and metaplasticity (which protects large |Wh|) protects what matters.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

from export.experiments import common


def random_spd(d: int, lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    """H = Q diag(lambda) Q^T with lambda ~ U(lo, hi) and Q a random orthogonal matrix."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    lam = rng.uniform(lo, hi, d)
    return (q * lam) @ q.T


def run(d: int = 500, eig_lo: float = 10.5, eig_hi: float = 29.5, theta_range: float = 4.0, eta: float = 0.01,
        steps: int = 1000, init_width: float = 0.1, seed: int = 0) -> dict[str, Any]:
    """Train the binary parameter; return hidden weights, flip costs, and the loss curve."""
    rng = np.random.default_rng(seed)
    h = random_spd(d, eig_lo, eig_hi, rng)
    theta_star = rng.uniform(-theta_range, theta_range, d)
    theta = rng.uniform(-init_width / 2, init_width / 2, d)

    def loss(b: np.ndarray) -> float:
        diff = b - theta_star
        return 0.5 * float(diff @ h @ diff)

    losses = []
    for _ in range(steps):
        b = np.where(theta >= 0, 1.0, -1.0)
        losses.append(loss(b))
        theta = theta - eta * (h @ (b - theta_star))
    b = np.where(theta >= 0, 1.0, -1.0)
    g = h @ (b - theta_star)
    dloss = -2.0 * b * g + 2.0 * np.diag(h)
    # best binary point nearby: the sign of theta* would be the naive choice
    return {"theta": theta, "dloss": dloss, "losses": np.array(losses), "final_loss": loss(b),
            "naive_loss": loss(np.where(theta_star >= 0, 1.0, -1.0))}


def binned(x: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means and standard deviations of y in equal-count bins of x."""
    order = np.argsort(x)
    groups = np.array_split(order, bins)
    return (np.array([x[g].mean() for g in groups]), np.array([y[g].mean() for g in groups]),
            np.array([y[g].std() for g in groups]))


def cmd_quadratic(args: argparse.Namespace, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Fig. 5a-b: loss increase from flipping each sign against |Wh|."""
    res = run(args.dim, args.eig_lo, args.eig_hi, args.theta_range, args.eta, args.steps, seed=args.seed)
    mag, dl = np.abs(res["theta"]), res["dloss"]
    spearman = float(np.corrcoef(np.argsort(np.argsort(mag)), np.argsort(np.argsort(dl)))[0, 1])
    pearson = float(np.corrcoef(mag, dl)[0, 1])
    bx, by, bs = binned(mag, dl, args.bins)
    name = args.name or f"quadratic_d{args.dim}_s{args.seed}"
    rows = [{"i": i, "abs_hidden": float(m), "loss_increase": float(v)} for i, (m, v) in enumerate(zip(mag, dl))]
    common.write_csv(common.out_path(args.out, name, "csv"), rows)
    plt = common._mpl()
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4))
    # Log-log: the loss falls within the first tens of steps and then stays put.
    steps = np.arange(1, len(res["losses"]) + 1)
    axes[0].plot(steps, res["losses"], color="k", lw=1.2, label="loss of sign(theta)")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step (log scale)")
    axes[0].set_ylabel("loss of sign(theta)")
    axes[0].set_title(f"training, d={args.dim}, eta={args.eta}", fontsize=10)
    axes[0].legend(fontsize=7)
    axes[1].scatter(mag, dl, s=4, alpha=0.35, color="#1f77b4", label="each weight")
    axes[1].errorbar(bx, by, yerr=bs, fmt="o", color="#d62728", ms=5, label=f"{args.bins} bins (mean, sd)")
    axes[1].axhline(0, color="k", lw=0.6)
    axes[1].set_xlabel("|Wh| (hidden weight)")
    axes[1].set_ylabel("loss increase from flipping sign(Wh)")
    axes[1].set_title(f"after {args.steps} steps: Spearman {spearman:.2f}", fontsize=10)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"Quadratic binary task (paper Fig. 5a-b), run {name}", fontsize=11)
    fig.tight_layout()
    fig.savefig(common.out_path(args.out, name, "png"), dpi=90)
    plt.close(fig)
    summary = {
        "name": name, "command": common.command_line(argv),
        "final_loss": res["final_loss"], "loss_of_sign_theta_star": res["naive_loss"],
        "spearman": spearman, "pearson": pearson,
        "frac_flips_increasing_loss": float((dl > 0).mean()),
        "bins": [{"abs_hidden": float(a), "mean": float(b), "sd": float(c)} for a, b, c in zip(bx, by, bs)],
        "settings": {k: v for k, v in vars(args).items() if k != "func"},
    }
    common.write_json(common.out_path(args.out, name, "json"), summary)
    common.log(f"{name}: final loss {res['final_loss']:.1f} (sign(theta*): {res['naive_loss']:.1f}); "
               f"Spearman(|Wh|, dL) {spearman:.3f}; bins " + " ".join(f"{a:.2f}:{b:.1f}" for a, b in zip(bx, by)))
    return summary


def add_args(p: argparse.ArgumentParser) -> None:
    """Options of the quadratic command (defaults: the paper's)."""
    p.add_argument("--dim", type=int, default=500)
    p.add_argument("--eig-lo", type=float, default=10.5)
    p.add_argument("--eig-hi", type=float, default=29.5)
    p.add_argument("--theta-range", type=float, default=4.0, help="theta* ~ U(-R, R)")
    p.add_argument("--eta", type=float, default=0.01)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--bins", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(common.DEFAULT_OUT))
    p.add_argument("--name", default=None)
