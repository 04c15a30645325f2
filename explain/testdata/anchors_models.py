#!/usr/bin/python3
"""Exports the two example models the anchors tests evaluate in Go.

    /usr/bin/python3 explain/testdata/anchors_models.py > explain/testdata/anchors_models.json

breast_cancer: examples/python/sklearn_server.py's Pipeline(StandardScaler,
LogisticRegression(max_iter=1000, random_state=0)) fitted on scikit-learn's
breast-cancer data: p(benign) = sigmoid(coef · (x − mean) / scale + intercept).
sentiment: examples/python/http_server.py's Pipeline(CountVectorizer over
lower-cased runs of letters, LogisticRegression(C=10, max_iter=1000,
random_state=0)) fitted on examples/python/data/sentiment.tsv:
p(positive) = sigmoid(Σ count(word) · coef[word] + intercept).
Each model's predict_proba on a few inputs is included, so the Go side can
check it evaluates the same model.
"""

import json
import re
import sys
from pathlib import Path

from sklearn.datasets import load_breast_cancer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[2]


def tokenize(text):
    return re.findall(r"[^\W\d_]+", text.lower())


def main():
    data = load_breast_cancer()
    bc = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
    bc.fit(data.data, data.target)
    sc, lr = bc.named_steps["standardscaler"], bc.named_steps["logisticregression"]

    labels, texts = [], []
    for line in (ROOT / "examples/python/data/sentiment.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, text = line.split("\t", 1)
        labels.append(int(label))
        texts.append(text)
    st = make_pipeline(CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None),
                       LogisticRegression(C=10, max_iter=1000, random_state=0))
    st.fit(texts, labels)
    cv, slr = st.named_steps["countvectorizer"], st.named_steps["logisticregression"]
    vocab = {w: float(slr.coef_[0][i]) for w, i in cv.vocabulary_.items()}

    out = {
        "breast_cancer": {
            "feature_names": [str(n) for n in data.feature_names],
            "mean": sc.mean_.tolist(), "scale": sc.scale_.tolist(),
            "coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0]),
            "check_rows": data.data[:5].tolist(),
            "check_proba": bc.predict_proba(data.data[:5])[:, 1].tolist(),
        },
        "sentiment": {
            "coef": vocab, "intercept": float(slr.intercept_[0]),
            "texts": texts, "labels": labels,
            "check_proba": st.predict_proba(texts[:5])[:, 1].tolist(),
        },
    }
    json.dump(out, sys.stdout, indent=None, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
