"""Writes kmeans_summary.json: scikit-learn k-means and shap.kmeans summaries
on well-separated clusters, the reference for sampler's FitKMeans and
SummarizeKMeans (sampler/summary_test.go).

Rerun from the repository root, with Debian's Python and scikit-learn (the
python3 first on PATH may be pyenv's, which cannot import them):

    /usr/bin/python3 sampler/testdata/kmeans_summary.py > sampler/testdata/kmeans_summary.json

The output is deterministic (seeded data, random_state=0): rerunning writes the
same bytes.

k-means is random (k-means++ draws), so the Go side cannot reproduce
scikit-learn's draws. On these data every reasonable run finds the same
clusters: the script checks that random_state 0..19 all give the same
partition and the same inertia (to 1e-9 relative), so a Go k-means that
matches them is finding the one good answer, not copying a draw.

shap is not installed here (no PyPI); shap_kmeans below is shap.kmeans
(shap/utils/_legacy.py, round_values=True) without its mean imputer, which
changes nothing on data without NaN: KMeans(n_clusters=k, random_state=0,
n_init=10), each centre value replaced by the closest value of the same
feature in the data (numpy argmin: the first row on a tie), weights the
cluster sizes normalised to sum to 1 (shap's DenseData).
"""

import json
import sys

import numpy as np
import sklearn
from sklearn.cluster import KMeans


def shap_kmeans(X, k):
    km = KMeans(n_clusters=k, random_state=0, n_init=10).fit(X)
    centers = km.cluster_centers_.copy()
    for i in range(k):
        for j in range(X.shape[1]):
            ind = np.argmin(np.abs(X[:, j] - centers[i, j]))
            centers[i, j] = X[ind, j]
    weights = 1.0 * np.bincount(km.labels_, minlength=k)
    weights /= np.sum(weights)
    return km, centers, weights


def same_partition(a, b):
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def case(name, description, X, k, store_data, generator=None):
    km, snapped, weights = shap_kmeans(X, k)
    for rs in range(20):
        other = KMeans(n_clusters=k, random_state=rs, n_init=10).fit(X)
        assert same_partition(km.labels_, other.labels_), (name, rs)
        assert abs(other.inertia_ - km.inertia_) <= 1e-9 * km.inertia_, (name, rs)
    out = {"name": name, "description": description, "k": k, "n": X.shape[0], "p": X.shape[1]}
    if store_data:
        out["data"] = X.tolist()
    else:
        out["generator"] = generator
    out["sklearn_centers"] = km.cluster_centers_.tolist()
    out["sklearn_labels"] = km.labels_.tolist()
    out["sklearn_inertia"] = float(km.inertia_)
    out["cluster_sizes"] = np.bincount(km.labels_, minlength=k).tolist()
    out["shap_snapped_centers"] = snapped.tolist()
    out["shap_weights"] = weights.tolist()
    return out


def integer_blobs(n, p, k):
    """Rows whose values are exact in float64 on both sides: cluster c of row
    i is i % k; value j is 40·((c·7 + j·3) % 11) plus a noise of
    ((i·7919 + j·104729 + c·15485863) % 2001 − 1000) / 1000, in [−1, 1]."""
    X = np.empty((n, p))
    for i in range(n):
        c = i % k
        for j in range(p):
            X[i, j] = 40 * ((c * 7 + j * 3) % 11) + ((i * 7919 + j * 104729 + c * 15485863) % 2001 - 1000) / 1000
    return X


def main():
    rng = np.random.RandomState(0)
    means = np.array([[0, 0, 0, 0], [20, 0, 5, -10], [0, 25, -5, 10], [-20, -20, 10, 0], [15, -25, -15, 20]], float)
    sizes = [30, 45, 60, 75, 90]
    X = np.vstack([m + 0.8 * rng.standard_normal((s, 4)) for m, s in zip(means, sizes)])
    X = X[rng.permutation(len(X))]
    cases = [
        case("blobs_300x4_k5",
             "5 gaussian blobs (sd 0.8, centres at least 20 apart) of 30, 45, 60, 75, 90 rows, shuffled; "
             "numpy RandomState(0)", X, 5, True),
    ]
    gen = "integer_blobs(2000, 30, 10): see the script; value j of row i (cluster c = i % 10) is " \
          "40*((c*7 + j*3) % 11) + ((i*7919 + j*104729 + c*15485863) % 2001 - 1000)/1000"
    cases.append(case("integer_blobs_2000x30_k10",
                      "10 clusters of 200 rows in 30 features, values exact in float64 (the generator), "
                      "cluster c = row % 10; the server test's background", integer_blobs(2000, 30, 10), 10, False, gen))
    doc = {
        "description": "scikit-learn KMeans(n_clusters=k, random_state=0, n_init=10) and shap.kmeans(X, k) "
                       "(centres snapped to the data, weights = cluster sizes / n) on well-separated clusters; "
                       "random_state 0..19 all give the same partition. Centres are means of the same rows "
                       "(assert relative 1e-12), inertia relative 1e-9, snapped centres and weights exactly, "
                       "labels as a partition (cluster numbers differ).",
        "reference": {"python": sys.version.split()[0], "numpy": np.__version__, "sklearn": sklearn.__version__,
                      "script": "sampler/testdata/kmeans_summary.py"},
        "cases": cases,
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
