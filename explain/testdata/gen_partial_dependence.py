"""Reference values for explain's PartialDependence and ALE tests.

Run with /usr/bin/python3 from the repository root (scikit-learn 1.2.1,
numpy 1.24.2 made the committed file):

    /usr/bin/python3 explain/testdata/gen_partial_dependence.py

It fits models Go evaluates exactly (a standardised logistic regression,
saved as mean, scale, coef and intercept; shallow decision trees, saved as
their node arrays), and writes scikit-learn's
partial_dependence(method="brute") on them for 1-D and 2-D features,
custom percentiles, a categorical (two-valued) feature, a custom grid
(scikit-learn's own brute helper) and centred ICE curves (the individual
curves minus their first value, as PartialDependenceDisplay's
centered=True draws them). Standard errors are numpy's std(ddof=1)/sqrt(N)
of the (centred) individual scores. ALE references are alibi's ale_num
(alibi 0.9's formula, written out below with numpy: alibi is not
installed here) with np.percentile edges for a given bin count, on the
decision tree classifier.
"""

import json
import os

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.inspection import partial_dependence
from sklearn.inspection._partial_dependence import _partial_dependence_brute
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

HERE = os.path.dirname(os.path.abspath(__file__))

bc = load_breast_cancer()
Xbc, ybc = bc.data, bc.target
# Every 7th row: 82 rows, both classes, small fixtures.
Xs = Xbc[::7]

logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(Xbc, ybc)
scaler, lr = logistic[0], logistic[1]
tree_cls = DecisionTreeClassifier(max_depth=4, random_state=0).fit(Xbc, ybc)

db = load_diabetes()
Xdb = db.data[::5]  # 89 rows; column 1 (sex) takes two values
tree_reg = DecisionTreeRegressor(max_depth=4, random_state=0).fit(db.data, db.target)


def tree_json(t):
    tr = t.tree_
    value = tr.value[:, 0, :]
    if isinstance(t, DecisionTreeClassifier):
        value = value / value.sum(axis=1, keepdims=True)
    return {
        "left": tr.children_left.tolist(),
        "right": tr.children_right.tolist(),
        "feature": tr.feature.tolist(),
        "threshold": tr.threshold.tolist(),
        "value": value.tolist(),
    }


models = {
    "logistic": {
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coef": lr.coef_[0].tolist(),
        "intercept": float(lr.intercept_[0]),
    },
    "tree_cls": tree_json(tree_cls),
    "tree_reg": tree_json(tree_reg),
}
estimators = {"logistic": logistic, "tree_cls": tree_cls, "tree_reg": tree_reg}
datasets = {"bc": Xs, "diabetes": Xdb}


def stderr(individual):
    n = individual.shape[0]
    return (individual.std(axis=0, ddof=1) / np.sqrt(n)).tolist()


cases = []


def case(name, model, data, features, label, grid_resolution=100, percentiles=(0.05, 0.95),
         categorical=None, kind="both", centered=False, custom_grids=None):
    est, X = estimators[model], datasets[data]
    if custom_grids is None:
        pd = partial_dependence(est, X, [tuple(features)] if len(features) == 2 else features,
                                categorical_features=categorical, grid_resolution=grid_resolution,
                                percentiles=percentiles, kind="both", method="brute")
        grids = [np.asarray(v) for v in pd["values"]]
        avg = pd["average"][0]
        ind = pd["individual"][0]
    else:
        grids = [np.asarray(custom_grids[str(f)], dtype=float) for f in features]
        mesh = np.array(np.meshgrid(*grids, indexing="ij")).reshape(len(features), -1).T
        a, ind = _partial_dependence_brute(est, mesh, features, X, "auto")
        # scikit-learn keeps the positive class of a binary classifier:
        # a is (1, points), ind (rows, points).
        avg = a[0]
    ind = ind.reshape(ind.shape[0], -1)  # row-major over the pair's grids
    avg = np.asarray(avg).reshape(-1)
    if centered:
        ind = ind - ind[:, :1]
        avg = avg - avg[0]
    out = {
        "name": name, "model": model, "data": data, "features": features, "label": label,
        "grid_resolution": grid_resolution, "percentiles": list(percentiles),
        "categorical": categorical or [], "kind": kind, "centered": centered,
        "custom_grids": custom_grids or {},
        "grids": [g.tolist() for g in grids],
        "average": avg.tolist(), "std_err": stderr(ind),
    }
    if kind != "average":
        out["individual"] = ind.tolist()
    cases.append(out)


case("logistic 1-D", "logistic", "bc", [0], 1, grid_resolution=20)
case("logistic 2-D pair", "logistic", "bc", [0, 27], 1, grid_resolution=10, kind="average")
case("tree percentiles", "tree_cls", "bc", [7], 1, grid_resolution=15, percentiles=(0.1, 0.9))
case("tree distinct values", "tree_cls", "bc", [22], 1, grid_resolution=100, kind="individual")
case("regressor categorical", "tree_reg", "diabetes", [1], 0, categorical=[1])
case("regressor 2-D", "tree_reg", "diabetes", [2, 8], 0, grid_resolution=6)
case("tree centred", "tree_cls", "bc", [27], 1, grid_resolution=12, centered=True)
case("logistic centred pair", "logistic", "bc", [20, 1], 1, grid_resolution=5, centered=True)
case("tree custom grid", "tree_cls", "bc", [7], 1, custom_grids={"7": [0.2, 0.01, 0.05, 0.1]})


def ale_num(predict, X, feature, bins):
    """alibi's ale_num with q = unique(get_quantiles(values, bins + 1))."""
    values = X[:, feature]
    q = np.unique(np.percentile(values, np.linspace(0, 100, num=bins + 1), axis=0))
    if len(q) == 1:
        return q, np.zeros((1, predict(X).shape[1])), np.zeros((1, predict(X).shape[1])), []
    indices = np.searchsorted(q, values, side="left")
    indices[indices == 0] = 1
    interval_n = np.bincount(indices, minlength=len(q))
    z_low, z_high = X.copy(), X.copy()
    z_low[:, feature] = q[indices - 1]
    z_high[:, feature] = q[indices]
    p_deltas = predict(z_high) - predict(z_low)
    K = len(q) - 1
    avg = np.zeros((K, p_deltas.shape[1]))
    se2 = np.zeros((K, p_deltas.shape[1]))
    for k in range(1, K + 1):
        d = p_deltas[indices == k]
        if len(d) > 0:
            avg[k - 1] = d.mean(axis=0)
        if len(d) > 1:
            se2[k - 1] = d.var(axis=0, ddof=1) / len(d)
    accum = np.insert(np.cumsum(avg, axis=0), 0, 0, axis=0)
    ale0 = (0.5 * (accum[:-1] + accum[1:]) * interval_n[1:, np.newaxis]).sum(axis=0) / interval_n.sum()
    se = np.sqrt(np.insert(np.cumsum(se2, axis=0), 0, 0, axis=0))
    return q, accum - ale0, se, interval_n[1:].tolist()


ale_cases = []
for feature, bins in [(7, 10), (27, 5), (22, 0), (0, 3)]:
    b = bins if bins else len(Xs) // 4
    q, ale, se, counts = ale_num(tree_cls.predict_proba, Xs, feature, b)
    ale_cases.append({
        "feature": feature, "bins": bins, "edges": q.tolist(),
        "effects": ale.T.tolist(), "std_errs": se.T.tolist(), "bin_counts": counts,
        "constant": tree_cls.predict_proba(Xs).mean(axis=0).tolist(),
    })

with open(os.path.join(HERE, "partial_dependence.json"), "w") as f:
    json.dump({
        "models": models,
        "datasets": {k: v.tolist() for k, v in datasets.items()},
        "cases": cases,
        "ale": ale_cases,
    }, f)
