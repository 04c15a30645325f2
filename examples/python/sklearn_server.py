#!/usr/bin/python3
"""A predict.v1 PredictService serving a scikit-learn breast-cancer classifier.

    /usr/bin/python3 examples/python/sklearn_server.py --address 127.0.0.1:8500

The model, Pipeline(StandardScaler, LogisticRegression), is trained at
start-up on scikit-learn's bundled breast-cancer data (569 rows, 30
features); it answers for any model name. Classes: 0 malignant, 1 benign.
Prints "ready <address>" on stdout once it serves; logs go to stderr.
"""

import argparse
import math
import time

import serving  # sets up the stub path; import first

import numpy as np
from predict.v1 import predict_pb2 as pb
from predict.v1 import predict_pb2_grpc as pb_grpc
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from serving import Rejected, handle, log

MODEL_NAME = "breast_cancer"


def train():
    data = load_breast_cancer()
    clf = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000, random_state=0)
    )
    clf.fit(data.data, data.target)
    accuracy = clf.score(data.data, data.target)
    return clf, [str(n) for n in data.feature_names], [str(n) for n in data.target_names], accuracy


class BreastCancer(pb_grpc.PredictServiceServicer):
    """Stateless after training: predict_proba only reads the fitted model,
    so concurrent calls need no lock."""

    def __init__(self, clf, feature_names, class_names, max_batch_size):
        self.clf = clf
        self.feature_names = feature_names
        self.class_names = class_names
        self.max_batch_size = max_batch_size

    @handle
    def Describe(self, request, context):
        return pb.DescribeResponse(
            input_kind=pb.INPUT_KIND_TABULAR,
            num_features=len(self.feature_names),
            class_names=self.class_names,
            max_batch_size=self.max_batch_size,
            feature_names=self.feature_names,
        )

    @handle
    def Predict(self, request, context):
        n, width = request.num_instances, request.num_features
        want = len(self.feature_names)
        if self.max_batch_size and n > self.max_batch_size:
            raise Rejected(
                f"batch of {n} instances exceeds max_batch_size {self.max_batch_size}"
            )
        if request.texts:
            raise Rejected("this model takes tabular rows, not texts")
        if width != want:
            raise Rejected(f"num_features is {width}, the model takes {want} features")
        if request.instance_shape and math.prod(request.instance_shape) != width:
            raise Rejected(
                f"instance_shape {list(request.instance_shape)} does not hold {width} values"
            )
        if len(request.values) != n * width:
            raise Rejected(
                f"{len(request.values)} values for {n} instances of {width} features"
            )
        if n == 0:
            return pb.PredictResponse(num_classes=len(self.class_names))
        x = np.array(request.values, dtype=np.float64).reshape(n, width)
        bad = ~np.isfinite(x)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise Rejected(f"instance {i}, feature {j} ({self.feature_names[j]}) is not finite")
        p = self.clf.predict_proba(x)
        return pb.PredictResponse(num_classes=p.shape[1], scores=p.ravel().tolist())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--address", default="127.0.0.1:8500", help="host:port to listen on (port 0: any free port)")
    ap.add_argument("--max-batch-size", type=int, default=256, help="largest batch Predict accepts (Describe reports it)")
    args = ap.parse_args()
    if args.max_batch_size < 0:
        ap.error("--max-batch-size must be >= 0")
    serving.setup_logging()

    start = time.monotonic()
    clf, features, classes, accuracy = train()
    log.info(
        "trained %s in %.2fs: training accuracy %.4f",
        MODEL_NAME, time.monotonic() - start, accuracy,
    )
    server = serving.new_server()
    pb_grpc.add_PredictServiceServicer_to_server(
        BreastCancer(clf, features, classes, args.max_batch_size), server
    )
    serving.serve(server, args.address)


if __name__ == "__main__":
    main()
