"""Independent reference for the mom-spc control limits and capability indices.

Reads a JSON list of series on stdin and writes, for each, the per-point limits and the
capability figures on stdout. Written from the formulas in docs/spc.md with numpy and scipy
only: c4 from scipy's gamma function, d2 and d3 by numerical integration over the normal
distribution (no tabled constants).
"""

import functools
import json
import math
import sys

import numpy as np
from scipy import integrate, special, stats


@functools.lru_cache(maxsize=None)
def c4(n):
    return math.sqrt(2.0 / (n - 1)) * math.exp(special.gammaln(n / 2.0) - special.gammaln((n - 1) / 2.0))


@functools.lru_cache(maxsize=None)
def d2(n):
    f = lambda x: 1.0 - stats.norm.cdf(x) ** n - (1.0 - stats.norm.cdf(x)) ** n
    return integrate.quad(f, -np.inf, np.inf, limit=200)[0]


@functools.lru_cache(maxsize=None)
def d3(n):
    # E[W^2] = 2 * double integral over y < x of
    # 1 - F(x)^n - (1 - F(y))^n + (F(x) - F(y))^n, trapezoid inside, Simpson outside, on a fine grid.
    x = np.linspace(-9.0, 9.0, 2401)
    f = stats.norm.cdf(x)
    fx = f[:, None]
    fy = f[None, :]
    g = 1.0 - fx ** n - (1.0 - fy) ** n + np.clip(fx - fy, 0.0, None) ** n
    # Inner integral from -9 to x_i: the cumulative trapezoid along y, read on the diagonal.
    inner = np.diagonal(integrate.cumulative_trapezoid(g, x=x, axis=1, initial=0.0))
    ew2 = 2.0 * integrate.simpson(inner, x=x)
    return math.sqrt(ew2 - d2(n) ** 2)


def variables(kind, groups, baseline):
    means = np.array([np.mean(g) for g in groups])
    sizes = [len(g) for g in groups]
    base = groups[:baseline]
    center = float(np.mean(means[:baseline]))
    if kind == "i_mr":
        sigma = float(np.mean(np.abs(np.diff(means[:baseline])))) / d2(2)
    elif kind == "xbar_r":
        sigma = float(np.mean([(max(g) - min(g)) / d2(len(g)) for g in base if len(g) >= 2]))
    else:
        sigma = float(np.mean([np.std(g, ddof=1) / c4(len(g)) for g in base if len(g) >= 2]))
    points = []
    for i, n in enumerate(sizes):
        if kind == "i_mr":
            half = 3 * sigma
            disp = [d2(2) * sigma, max(0.0, (d2(2) - 3 * d3(2)) * sigma), (d2(2) + 3 * d3(2)) * sigma] if i > 0 else None
        else:
            half = 3 * sigma / math.sqrt(n)
            if n < 2:
                disp = None
            elif kind == "xbar_r":
                disp = [d2(n) * sigma, max(0.0, (d2(n) - 3 * d3(n)) * sigma), (d2(n) + 3 * d3(n)) * sigma]
            else:
                s = math.sqrt(1 - c4(n) ** 2)
                disp = [c4(n) * sigma, max(0.0, (c4(n) - 3 * s) * sigma), (c4(n) + 3 * s) * sigma]
        points.append({"primary": [center, center - half, center + half], "dispersion": disp})
    return points


def attributes(kind, groups, baseline):
    units = np.array([g[0] for g in groups], dtype=float)
    counts = np.array([g[1] for g in groups], dtype=float)
    if kind == "c":
        rate = float(np.mean(counts[:baseline]))
    else:
        rate = float(np.sum(counts[:baseline]) / np.sum(units[:baseline]))
    points = []
    for n in units:
        if kind == "p":
            cl, sd = rate, math.sqrt(rate * (1 - rate) / n)
        elif kind == "np":
            cl, sd = n * rate, math.sqrt(n * rate * (1 - rate))
        elif kind == "c":
            cl, sd = rate, math.sqrt(rate)
        else:
            cl, sd = rate, math.sqrt(rate / n)
        points.append({"primary": [cl, max(0.0, cl - 3 * sd), cl + 3 * sd], "dispersion": None})
    return points


def capability(kind, groups, lsl, usl):
    x = np.concatenate([np.asarray(g, dtype=float) for g in groups])
    out = {"count": int(x.size), "mean": float(np.mean(x))}
    overall = float(np.std(x, ddof=1))
    if kind == "i_mr":
        within = float(np.mean(np.abs(np.diff([np.mean(g) for g in groups])))) / d2(2)
    elif kind == "xbar_r":
        within = float(np.mean([(max(g) - min(g)) / d2(len(g)) for g in groups if len(g) >= 2]))
    else:
        within = float(np.mean([np.std(g, ddof=1) / c4(len(g)) for g in groups if len(g) >= 2]))
    mu = out["mean"]
    for name, s in (("within", within), ("overall", overall)):
        cp = (usl - lsl) / (6 * s) if lsl is not None and usl is not None else None
        sides = [v for v in ((usl - mu) / (3 * s) if usl is not None else None,
                             (mu - lsl) / (3 * s) if lsl is not None else None) if v is not None]
        out["sigma_" + name] = s
        out["cp" if name == "within" else "pp"] = cp
        out["cpk" if name == "within" else "ppk"] = min(sides) if sides else None
    return out


def main():
    series = json.load(sys.stdin)
    result = []
    for s in series:
        kind, groups, baseline = s["kind"], s["groups"], s["baseline"]
        if kind in ("i_mr", "xbar_r", "xbar_s"):
            points = variables(kind, groups, baseline)
            cap = capability(kind, groups, s.get("spec_lower"), s.get("spec_upper"))
        else:
            points = attributes(kind, groups, baseline)
            cap = None
        result.append({"points": points, "capability": cap})
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
