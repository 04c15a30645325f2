#!/usr/bin/python3
"""lime's loop over N breast-cancer rows against one batch job of the
sidecar over the same rows, both scoring on the same KServe v2 model server.

    /usr/bin/python3 examples/bench/lime_loop.py --model-server HOST:PORT \\
        --sidecar HOST:PORT --lime-src DIR [--rows 100 --samples 5000 --runs 3]

examples/bench/lime_loop.sh starts the model server (the Go fake of
BenchmarkMethodsModelBound: 20 ms + 2 us a row per call, no row cap) and
the sidecar, then runs this. lime is not installable here (no PyPI):
--lime-src names a directory holding an unmodified checkout of
marcotcr/lime's `lime` package (nothing of it is in this repository).

lime's loop is what a lime user writes: one LimeTabularExplainer over the
training data, then explain_instance per row, its predict_fn one ModelInfer
call of the row's samples (FP32, raw contents) on a persistent channel.
The sidecar gets the same rows as one ExplainRequest.batch job (LIME,
quartile discretizer, the same samples and features). Both explain the
label the model predicts most often over the rows. Prints each run and
the medians, and the ratio batch / loop.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "python" / "gen"))
sys.path.insert(0, str(ROOT / "clients" / "python"))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402

from kserve.v2 import grpc_service_pb2 as kpb  # noqa: E402
from kserve.v2 import grpc_service_pb2_grpc as kgrpc  # noqa: E402
from explainer_client import Explainer  # noqa: E402


class Model:
    """predict_fn for lime: one ModelInfer call per batch of rows."""

    def __init__(self, address, name):
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 256 << 20),
            ("grpc.max_receive_message_length", 256 << 20)])
        self.stub = kgrpc.GRPCInferenceServiceStub(self.channel)
        self.name = name
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, x):
        start = time.perf_counter()
        x = np.ascontiguousarray(x, dtype="<f4")
        req = kpb.ModelInferRequest(
            model_name=self.name,
            inputs=[kpb.ModelInferRequest.InferInputTensor(name="INPUT0", datatype="FP32", shape=list(x.shape))],
            raw_input_contents=[x.tobytes()])
        resp = self.stub.ModelInfer(req)
        out = resp.outputs[0]
        shape = [int(d) for d in out.shape]
        if resp.raw_output_contents:
            dtype = "<f4" if out.datatype == "FP32" else "<f8"
            p = np.frombuffer(resp.raw_output_contents[0], dtype=dtype).reshape(shape)
        elif out.datatype == "FP32":
            p = np.asarray(out.contents.fp32_contents).reshape(shape)
        else:
            p = np.asarray(out.contents.fp64_contents).reshape(shape)
        self.calls += 1
        self.seconds += time.perf_counter() - start
        return p.astype(np.float64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-server", required=True, help="KServe v2 gRPC address of the model server")
    ap.add_argument("--model", default="model", help="the model's name on it")
    ap.add_argument("--sidecar", required=True, help="the sidecar's gRPC address (in front of --model-server)")
    ap.add_argument("--lime-src", required=True, help="directory holding marcotcr/lime's lime package")
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, args.lime_src)
    from lime.lime_tabular import LimeTabularExplainer

    data = load_breast_cancer()
    X, names = data.data, [str(n) for n in data.feature_names]
    rows = X[:args.rows]
    model = Model(args.model_server, args.model)
    label = int(np.bincount(model(rows).argmax(axis=1)).argmax())
    print(f"{args.rows} rows x {args.samples} samples, {args.features} features, label {label}")

    loop, batch = [], []
    with Explainer(args.sidecar, timeout=600) as ex:
        for run in range(args.runs):
            model.calls, model.seconds = 0, 0.0
            start = time.perf_counter()
            explainer = LimeTabularExplainer(X, feature_names=names, discretize_continuous=True,
                                             discretizer="quartile", random_state=run)
            for r in rows:
                explainer.explain_instance(r, model, labels=(label,), num_features=args.features,
                                           num_samples=args.samples)
            loop.append(time.perf_counter() - start)
            print(f"run {run}: lime's loop {loop[-1]:.3f} s, {model.calls} model calls taking {model.seconds:.3f} s")

            start = time.perf_counter()
            b = ex.lime(rows, training=X, feature_names=names, num_samples=args.samples,
                        num_features=args.features, labels=[label], seed=run, model=args.model)
            batch.append(time.perf_counter() - start)
            if len(b) != args.rows:
                raise SystemExit(f"the batch explained {len(b)} rows, not {args.rows}")
            print(f"run {run}: sidecar batch {batch[-1]:.3f} s, {b.model_calls} model calls")
    lm, bm = statistics.median(loop), statistics.median(batch)
    print(f"median: lime's loop {lm:.3f} s ({1000 * lm / args.rows:.1f} ms a row), "
          f"sidecar batch {bm:.3f} s ({1000 * bm / args.rows:.1f} ms a row); batch / loop = {bm / lm:.3f}")


if __name__ == "__main__":
    main()
