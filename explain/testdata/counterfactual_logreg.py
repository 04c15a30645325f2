"""Writes counterfactual_logreg.json: a logistic regression on the
breast-cancer data set (testdata/breast_cancer.csv) that the
counterfactual tests evaluate in Go.

The model is scikit-learn's StandardScaler + LogisticRegression (C=1)
fitted on the first 469 rows; its coefficients are folded back into the
raw feature space, so that score = σ(intercept + Σ_j coef_j x_j). The last
100 rows are held out: the tests search counterfactuals for them. The JSON
also records the held-out accuracy and, for three rows, sklearn's own
predict_proba, which the Go test reproduces.

Run from the repository root: /usr/bin/python3 explain/testdata/counterfactual_logreg.py
"""
import json

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

data = np.loadtxt("testdata/breast_cancer.csv", delimiter=",", skiprows=1)
X, y = data[:, :-1], data[:, -1].astype(int)
train, held = slice(0, len(X) - 100), slice(len(X) - 100, len(X))
model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=10000))
model.fit(X[train], y[train])
sc, lr = model[0], model[1]
coef = lr.coef_[0] / sc.scale_
intercept = lr.intercept_[0] - np.sum(lr.coef_[0] * sc.mean_ / sc.scale_)
out = {
    "intercept": float(intercept),
    "coef": [float(c) for c in coef],
    "train_rows": len(X) - 100,
    "held_out_accuracy": float(model.score(X[held], y[held])),
    "check_rows": [0, 1, len(X) - 1],
    "check_proba": [[float(v) for v in model.predict_proba(X[i : i + 1])[0]] for i in (0, 1, len(X) - 1)],
}
with open("explain/testdata/counterfactual_logreg.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("held-out accuracy", out["held_out_accuracy"])
