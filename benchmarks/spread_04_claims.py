"""Spread of notebook 04's random claims over seeds and thread counts (full mode).

Reproduces, with notebook 04's lattices and settings, only the computations behind its claims:
the sampler check against exact enumeration (largest error in standard errors), burn-in, the
autocorrelation times, the phase transition against Onsager, the snapshots, the widget's hot
and cold lattices and its coarsening below T_c, the textures, and exercises 1 and 2. Run
``s`` = 0 is the notebook itself; run ``s`` > 0 adds ``s`` to every seed of the notebook.
For s in 0..4 and 1 and 2 torch threads (one process, the thread count set before each run)
it prints one line of ``key=value`` per run.
Run: ``python benchmarks/spread_04_claims.py`` (about a minute per thread count). Measured
2026-12-03 (``benchmarks/README.md``): the two thread counts give identical numbers, the
samplers being NumPy's elementwise work.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from lessons_lib.mrf import (
    BETA_CRITICAL,
    integrated_autocorrelation_time,
    ising_energy,
    ising_exact,
    ising_gibbs,
    magnetization,
    onsager_energy,
    onsager_magnetization,
)


def _agree(x: torch.Tensor, axis: int) -> float:
    return float((x * torch.roll(x, 1, axis)).mean())


def run(s: int) -> dict:
    out = {}
    shape, beta, h = (4, 4), 0.35, 0.1
    exact = ising_exact(shape, beta, h=h)
    n_chains = 20000
    for method in ["heat-bath", "metropolis"]:
        final = ising_gibbs((n_chains, *shape), beta, 150, h=h, method=method, seed=1 + s)
        x = final.numpy().reshape(n_chains, -1).astype(float)
        products = x[:, :, None] * x[:, None, :]
        se = products.std(0) / math.sqrt(n_chains)
        z = (np.abs(products.mean(0) - exact["correlations"]) - 1e-3) / np.where(se > 0, se, np.inf)
        plus = (x > 0).astype(float)
        z_m = (np.abs(plus.mean(0) - exact["marginals"].ravel()) - 1e-3) / (
            plus.std(0) / math.sqrt(n_chains)
        )
        out[f"{method}_max_z"] = round(float(max(z.max(), z_m.max())), 2)

    beta_trace = 0.35
    random_start = ising_gibbs((2, 64, 64), beta_trace, 0, seed=2 + s)
    starts = torch.cat([random_start[:1], torch.ones(1, 64, 64)])
    _, trace = ising_gibbs(starts, beta_trace, 300, seed=3 + s, trace=True)
    energy_trace = trace["energy"].numpy()
    u_c = onsager_energy(beta_trace)
    out["burnin_first_gap"] = round(float(abs(energy_trace[0, 1] - u_c)), 3)
    out["burnin_after100_gap"] = round(float(np.abs(energy_trace[100:].mean(0) - u_c).max()), 4)

    tau = {}
    for method in ["heat-bath", "metropolis"]:
        for b in [0.3, 0.4, 0.44]:
            _, tr = ising_gibbs(
                torch.ones(8, 32, 32), b, 2000, method=method, seed=4 + s, trace=True
            )
            tau[method, b] = integrated_autocorrelation_time(tr["energy"][200:].numpy())
    out["tau"] = "/".join(f"{v:.1f}" for v in tau.values())
    out["tau_ordered"] = all(
        tau[m, 0.3] < tau[m, 0.4] < tau[m, 0.44] for m in ["heat-bath", "metropolis"]
    )
    out["tau_metro_over_hb_04"] = round(tau["metropolis", 0.4] / tau["heat-bath", 0.4], 3)

    betas = np.linspace(0.2, 0.8, 16)
    _, trace = ising_gibbs(
        torch.ones(32, 64, 64), np.repeat(betas, 2), 1000, seed=5 + s, trace=True
    )
    after = slice(250, None)
    abs_m = trace["magnetization"][after].abs().mean(0).numpy().reshape(-1, 2).mean(1)
    energy = trace["energy"][after].mean(0).numpy().reshape(-1, 2).mean(1)
    out["phase_m_cold_err"] = round(
        max(abs(m - onsager_magnetization(b)) for b, m in zip(betas, abs_m) if b >= 0.5), 4
    )
    out["phase_m_hot_max"] = round(max(m for b, m in zip(betas, abs_m) if b <= 0.35), 4)
    out["phase_u_err"] = round(
        max(
            abs(u - onsager_energy(b))
            for b, u in zip(betas, energy)
            if abs(b - BETA_CRITICAL) > 0.04
        ),
        4,
    )

    m_snap = []
    for k, b in enumerate([0.35, BETA_CRITICAL, 0.6]):
        start = torch.ones(128, 128) if b > BETA_CRITICAL else (128, 128)
        m_snap.append(abs(magnetization(ising_gibbs(start, b, 400, seed=10 + k + s))))
    out["snap_m"] = "/".join(f"{m:.3f}" for m in m_snap)

    hot = ising_gibbs((96, 96), 0.2, 200, seed=0 + s).numpy()
    cold = ising_gibbs((96, 96), 0.9, 200, seed=0 + s).numpy()
    out["widget_energy_gap"] = round(float(ising_energy(hot) - ising_energy(cold)), 3)
    for sweeps in (200, 400):
        coarse = ising_gibbs((96, 96), 0.6, sweeps, seed=0 + s)
        out[f"widget_b06_{sweeps}_abs_m"] = round(abs(magnetization(coarse)), 3)
        out[f"widget_b06_{sweeps}_u_gap"] = round(
            float(ising_energy(coarse.numpy()) - onsager_energy(0.6)), 3
        )

    textures = [dict(beta=0.8, J=(1.0, 0.2)), dict(beta=0.8, J=(0.15, 1.0)), dict(beta=0.3, J=-1.0)]
    samples = [
        ising_gibbs((96, 96), n_sweeps=300, seed=24 + k + s, **kw) for k, kw in enumerate(textures)
    ]
    out["tex_vertical_margin"] = round(_agree(samples[0], 0) - _agree(samples[0], 1), 3)
    out["tex_horizontal_margin"] = round(_agree(samples[1], 1) - _agree(samples[1], 0), 3)
    out["tex_antiferro"] = round(_agree(samples[2], 0), 3)

    exact_2x2 = ising_exact((2, 2), 0.4)["energy"]
    for method in ["metropolis", "heat-bath"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            final = ising_gibbs((20000, 2, 2), 0.4, 150, method=method, seed=0 + s)
        u = np.asarray(ising_energy(final.numpy()))
        out[f"ex1_{method}_se_off"] = round(
            float(abs(u.mean() - exact_2x2) / (u.std() / math.sqrt(len(u)))), 2
        )

    rows, cols = np.indices((64, 64))
    sign = torch.as_tensor((-1.0) ** (rows + cols), dtype=torch.float32)
    final_af, trace_af = ising_gibbs(
        sign.expand(4, 64, 64).clone(), 0.6, 400, J=-1.0, seed=1 + s, trace=True
    )
    staggered = (final_af * sign).mean(dim=(-2, -1)).abs()
    out["ex2_stag_err"] = round(float((staggered - onsager_magnetization(0.6)).abs().max()), 4)
    out["ex2_u_err"] = round(abs(float(trace_af["energy"][50:].mean()) - onsager_energy(0.6)), 4)
    return out


def main() -> None:
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for seed in range(5):
            line = " ".join(f"{k}={v}" for k, v in run(seed).items())
            print(f"threads={threads} seed={seed}: {line}", flush=True)


if __name__ == "__main__":
    main()
