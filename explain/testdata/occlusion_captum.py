#!/usr/bin/python3
"""Writes occlusion_captum.json: reference occlusion maps computed the way
Captum's Occlusion computes them (captum/attr/_core/occlusion.py with
FeatureAblation's use_weights accumulation), re-implemented by brute force
because Captum itself is not installed here.

Rerun from the repository root, with Debian's Python and its packages
(python3-numpy, python3-torch):

    /usr/bin/python3 explain/testdata/occlusion_captum.py

It is deterministic: rerunning it rewrites the same bytes.

What is reproduced from Captum, step by step:
  * shift_counts[d] = ceil((shape[d] - window[d]) / strides[d]) + 1;
  * window j (0 <= j < prod(shift_counts)) starts, in dimension d, at
    ((j // prod(shift_counts[:d])) % shift_counts[d]) * strides[d]
    (Captum's _occlusion_mask: dimension 0 varies fastest);
  * its mask is torch.ones(window) padded with torch.nn.functional.pad,
    left = start, right = shape - start - window; a negative right pad crops
    the last window at the edge;
  * the occluded input is x * (1 - mask) + baseline * mask;
  * attribution = sum_j (f(x) - f(x_j)) * mask_j / sum_j mask_j.
The standard errors and the bands are the Go side's own definitions
(OcclusionResult.StdErrs, OcclusionRequest.Partial), computed here by brute
force over the same windows: Captum has neither.
"""
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_num_threads(1)


def mlp(model, x):
    """softmax(W2 tanh(W1 x + b1) + b2) in float64, x flattened row-major."""
    w1 = torch.tensor(model["w1"], dtype=torch.float64)
    b1 = torch.tensor(model["b1"], dtype=torch.float64)
    w2 = torch.tensor(model["w2"], dtype=torch.float64)
    b2 = torch.tensor(model["b2"], dtype=torch.float64)
    h = torch.tanh(w1 @ x.reshape(-1) + b1)
    return torch.softmax(w2 @ h + b2, dim=0)


def captum_occlusion(model, x, window, strides, baseline, targets):
    shape = tuple(x.shape)
    shift_counts = [int(np.ceil((shape[d] - window[d]) / strides[d])) + 1 for d in range(len(shape))]
    ones = torch.ones(window, dtype=torch.float64)
    fx = mlp(model, x)
    windows = int(np.prod(shift_counts))
    total = torch.zeros((len(targets),) + shape, dtype=torch.float64)
    weights = torch.zeros(shape, dtype=torch.float64)
    drops, masks, first_index = [], [], []
    for j in range(windows):
        rest, start = j, []
        for d, c in enumerate(shift_counts):
            start.append((rest % c) * strides[d])
            rest //= c
        after = np.subtract(shape, np.add(start, window))
        pad = [int(v) for pair in zip(after, start) for v in pair]
        pad.reverse()
        mask = torch.nn.functional.pad(ones, tuple(pad))
        assert tuple(mask.shape) == shape
        occluded = x * (1 - mask) + baseline * mask
        f = mlp(model, occluded)
        d = torch.stack([fx[t] - f[t] for t in targets])
        total += d.reshape((-1,) + (1,) * len(shape)) * mask
        weights += mask
        drops.append(d.numpy())
        masks.append(mask.numpy().reshape(-1).astype(bool))
        first_index.append(start[0] // strides[0])
    attributions = (total / weights).reshape(len(targets), -1)
    coverage = weights.reshape(-1).numpy().astype(int)
    size = coverage.size
    # Standard errors: ddof-1 standard deviation of the covering windows'
    # drops over sqrt(m), 0 where m <= 1, by brute force.
    stderrs = np.zeros((len(targets), size))
    for i in range(size):
        covering = [drops[j] for j in range(windows) if masks[j][i]]
        if len(covering) > 1:
            arr = np.array(covering)  # m x targets
            stderrs[:, i] = arr.std(axis=0, ddof=1) / math.sqrt(len(covering))
    # Bands: after the windows whose first-dimension index is <= b, the sums
    # over those windows divided by the full coverage.
    bands = []
    for b in range(shift_counts[0]):
        part = np.zeros((len(targets), size))
        for j in range(windows):
            if first_index[j] <= b:
                part[:, masks[j]] += drops[j][:, None]
        bands.append(part / coverage[None, :])
    return {
        "shift_counts": shift_counts,
        "num_windows": windows,
        "instance_scores": fx.tolist(),
        "coverage": coverage.tolist(),
        "attributions": attributions.tolist(),
        "stderrs": stderrs.tolist(),
        "bands": [b.tolist() for b in bands],
    }


def r3(a):
    return [round(float(v), 3) for v in a]


def main():
    rng = np.random.RandomState(20261201)
    specs = [
        # name, shape, window, strides, baseline (scalar or "tensor"), targets
        ("hwc 8x8x3, 3x3 window over all channels, stride 2 (issue 14 item 9)", [8, 8, 3], [3, 3, 3], [2, 2, 3], 0.0, [0, 2]),
        ("hwc 8x8x3, 3x3x1 window per channel, stride 2", [8, 8, 3], [3, 3, 1], [2, 2, 1], 0.5, [1]),
        ("chw 3x8x8, 3x3 window over all channels, stride 2", [3, 8, 8], [3, 3, 3], [3, 2, 2], 0.0, [0, 1, 2]),
        ("2d 7x9, 2x4 window, strides 2x3, baseline tensor", [7, 9], [2, 4], [2, 3], "tensor", [2]),
        ("1d 10 tokens, window 3, stride 2", [10], [3], [2], 0.0, [0, 1]),
        ("1d 12 tokens, window 4, stride 3", [12], [4], [3], -0.25, [1]),
        ("2d 8x8, 2x2 window, stride 2 (no cropping)", [8, 8], [2, 2], [2, 2], 0.0, [0]),
        ("2d 5x6, window 5x2 (whole first axis), strides 1x2", [5, 6], [5, 2], [1, 2], 0.1, [2]),
    ]
    cases = []
    for name, shape, window, strides, baseline, targets in specs:
        size = int(np.prod(shape))
        hidden, classes = 8, 3
        model = {
            "w1": [r3(row) for row in rng.normal(0, 1.5 / math.sqrt(size), (hidden, size))],
            "b1": r3(rng.normal(0, 0.3, hidden)),
            "w2": [r3(row) for row in rng.normal(0, 1.2, (classes, hidden))],
            "b2": r3(rng.normal(0, 0.2, classes)),
        }
        x = r3(rng.uniform(-1, 1, size))
        case = {"name": name, "shape": shape, "window": window, "strides": strides, "targets": targets,
                "input": x, "model": model}
        xt = torch.tensor(x, dtype=torch.float64).reshape(shape)
        if baseline == "tensor":
            b = r3(rng.uniform(-0.5, 0.5, size))
            case["baseline_input"] = b
            bt = torch.tensor(b, dtype=torch.float64).reshape(shape)
        else:
            case["baseline"] = baseline
            bt = baseline
        case["expected"] = captum_occlusion(model, xt, window, strides, bt, targets)
        cases.append(case)
    out = {
        "description": (
            "Captum Occlusion (captum/attr/_core/occlusion.py: shift_counts = ceil((shape - window) / strides) + 1 "
            "windows per dimension, each a slice starting at i*stride that the last one crops at the edge; "
            "attribution = sum over covering windows of f(x) - f(x occluded) / number of covering windows) "
            "re-implemented by brute force in torch float64 (Captum is not installed), on a per-case model "
            "softmax(w2 tanh(w1 x + b1) + b2) of the row-major flattened input. expected.shift_counts and "
            "num_windows are Captum's window counts; coverage is Captum's weights (windows covering each "
            "position); attributions[t] is the map of targets[t], flattened row-major. stderrs[t] (the ddof-1 "
            "standard deviation of the covering windows' drops over sqrt(m), 0 where m <= 1) and bands[b][t] "
            "(after the windows whose first-dimension index is <= b: their summed drops over the full "
            "coverage) are the Go side's definitions, by brute force over the same windows. Generated by "
            "occlusion_captum.py next to this file."
        ),
        "reference": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "torch": torch.__version__,
            "captum_source": "pytorch/captum captum/attr/_core/occlusion.py (Occlusion.attribute, _occlusion_mask), "
                             "re-implemented, not imported",
            "generator": "explain/testdata/occlusion_captum.py",
        },
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "occlusion_captum.json")
    with open(path, "w") as f:
        f.write(dumps(out, ""))
        f.write("\n")


def dumps(v, indent):
    """JSON with objects and lists of lists indented, lists of numbers on one
    line; floats as Python's repr (json's), which parse back to the same
    float64."""
    inner = indent + "  "
    if isinstance(v, dict):
        items = [inner + json.dumps(k) + ": " + dumps(x, inner) for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(v, list) and any(isinstance(x, (list, dict)) for x in v):
        return "[\n" + ",\n".join(inner + dumps(x, inner) for x in v) + "\n" + indent + "]"
    return json.dumps(v, separators=(",", ":"))


if __name__ == "__main__":
    main()
