#!/usr/bin/python3
"""Checks the example servers' contract end to end, without the sidecar.

    /usr/bin/python3 examples/python/smoke_test.py

Starts sklearn_server.py and kserve_server.py on free ports, calls every
RPC the sidecar uses, checks predictions, metadata and the errors, then
stops both with SIGTERM. Exits non-zero on the first failure.
"""

import math
import struct
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path

import serving  # sets up the stub path; import first

import grpc
import numpy as np
from kserve.v2 import grpc_service_pb2 as kpb
from kserve.v2 import grpc_service_pb2_grpc as kpb_grpc
from predict.v1 import predict_pb2 as ppb
from predict.v1 import predict_pb2_grpc as ppb_grpc
from sklearn.datasets import load_breast_cancer, load_digits

HERE = Path(__file__).resolve().parent


def start(script, *args):
    """Starts a server on a free port and returns (process, address, seconds
    until it printed its ready line)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / script), "--address", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("ready "):
        proc.kill()
        sys.exit(f"{script}: no ready line, got {line!r}")
    return proc, line.split()[1], time.monotonic() - t0


def stop(proc, name):
    proc.terminate()
    rc = proc.wait(timeout=10)
    assert rc == 0, f"{name} exited {rc} on SIGTERM"


def expect_error(code, fn, *args):
    try:
        fn(*args)
    except grpc.RpcError as e:
        assert e.code() == code, f"want {code}, got {e.code()}: {e.details()}"
        return e.details()
    raise AssertionError(f"want {code}, the call succeeded")


def check_sklearn(addr):
    stub = ppb_grpc.PredictServiceStub(grpc.insecure_channel(addr))
    data = load_breast_cancer()
    d = stub.Describe(ppb.DescribeRequest(model="breast_cancer"))
    assert d.input_kind == ppb.INPUT_KIND_TABULAR
    assert d.num_features == 30 and list(d.feature_names) == list(data.feature_names)
    assert list(d.class_names) == ["malignant", "benign"], d.class_names
    assert d.max_batch_size == 256

    def predict(rows, model="breast_cancer", width=30):
        rows = np.asarray(rows, dtype=np.float64)
        r = stub.Predict(ppb.PredictRequest(
            model=model, num_instances=len(rows), num_features=width, values=rows.ravel().tolist()))
        return np.array(r.scores).reshape(len(rows), r.num_classes)

    p = predict(data.data[:256])
    assert p.shape == (256, 2) and np.allclose(p.sum(1), 1)
    assert p[0, 0] > 0.99, f"row 0 is malignant, p = {p[0]}"
    accuracy = (predict(data.data[256:512]).argmax(1) == data.target[256:512]).mean()
    assert accuracy > 0.95, accuracy
    assert np.allclose(predict(data.data[:3], model=""), p[:3])  # any model name

    print("  batch:", expect_error(grpc.StatusCode.INVALID_ARGUMENT, predict, data.data[:257]))
    print("  width:", expect_error(grpc.StatusCode.INVALID_ARGUMENT, predict, data.data[:2, :29], "", 29))
    bad = data.data[:2].copy()
    bad[1, 3] = math.nan
    print("  NaN:  ", expect_error(grpc.StatusCode.INVALID_ARGUMENT, predict, bad))

    # Concurrent calls give the same answers as one at a time.
    with futures.ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(lambda i: predict(data.data[i:i + 64]), range(0, 512, 8)))
    for i, o in zip(range(0, 512, 8), outs):
        assert np.allclose(o[:8], predict(data.data[i:i + 8]))


def check_kserve(addr):
    stub = kpb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(addr))
    assert stub.ServerLive(kpb.ServerLiveRequest()).live
    assert stub.ServerReady(kpb.ServerReadyRequest()).ready
    for m in ("digits_cnn", "sentiment"):
        assert stub.ModelReady(kpb.ModelReadyRequest(name=m)).ready
        assert stub.ModelConfig(kpb.ModelConfigRequest(name=m)).config.max_batch_size == 32
    assert not stub.ModelReady(kpb.ModelReadyRequest(name="nope")).ready
    expect_error(grpc.StatusCode.NOT_FOUND, stub.ModelMetadata, kpb.ModelMetadataRequest(name="nope"))

    md = stub.ModelMetadata(kpb.ModelMetadataRequest(name="digits_cnn"))
    assert [(t.name, t.datatype, list(t.shape)) for t in md.inputs] == [("input__0", "FP32", [-1, 1, 8, 8])]
    assert [(t.name, t.datatype, list(t.shape)) for t in md.outputs] == [("output__0", "FP32", [-1, 10])]
    md = stub.ModelMetadata(kpb.ModelMetadataRequest(name="sentiment"))
    assert [(t.name, t.datatype, list(t.shape)) for t in md.inputs] == [("text", "BYTES", [-1, 1])]
    assert [(t.name, t.datatype, list(t.shape)) for t in md.outputs] == [("probabilities", "FP32", [-1, 2])]

    def decode(resp, classes):
        (o,) = resp.outputs
        assert o.datatype == "FP32" and list(o.shape)[1:] == [classes]
        return np.frombuffer(resp.raw_output_contents[0], dtype="<f4").reshape(o.shape[0], classes)

    def digits(images, raw=True, name="input__0"):
        x = np.asarray(images, dtype=np.float32).reshape(-1, 1, 8, 8)
        t = kpb.ModelInferRequest.InferInputTensor(name=name, datatype="FP32", shape=x.shape)
        req = kpb.ModelInferRequest(model_name="digits_cnn", inputs=[t],
                                    outputs=[kpb.ModelInferRequest.InferRequestedOutputTensor(name="output__0")])
        if raw:
            req.raw_input_contents.append(x.astype("<f4").tobytes())
        else:
            req.inputs[0].contents.fp32_contents.extend(x.ravel().tolist())  # req holds a copy of t
        return decode(stub.ModelInfer(req), 10)

    d = load_digits()
    images = d.images / 16.0
    probs = np.concatenate([digits(images[i:i + 32]) for i in range(0, len(images), 32)])
    accuracy = (probs.argmax(1) == d.target).mean()
    print(f"  digits_cnn accuracy {accuracy:.4f}")
    assert accuracy >= 0.95 and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.allclose(digits(images[:5], raw=False), probs[:5], atol=1e-6)
    print("  batch:", expect_error(grpc.StatusCode.INVALID_ARGUMENT, digits, images[:33]))
    print("  name: ", expect_error(grpc.StatusCode.INVALID_ARGUMENT, digits, images[:1], True, "x"))

    def sentiment(texts, raw=True):
        t = kpb.ModelInferRequest.InferInputTensor(name="text", datatype="BYTES", shape=[len(texts), 1])
        req = kpb.ModelInferRequest(model_name="sentiment", inputs=[t])
        enc = [s.encode() for s in texts]
        if raw:
            req.raw_input_contents.append(b"".join(struct.pack("<I", len(e)) + e for e in enc))
        else:
            req.inputs[0].contents.bytes_contents.extend(enc)
        return decode(stub.ModelInfer(req), 2)

    texts = [
        "the food was wonderful and the staff were friendly",
        "terrible service and awful food",
        "the food was and the staff were",  # the sentiment words removed
        "",
    ]
    p = sentiment(texts)
    assert np.allclose(p, sentiment(texts, raw=False), atol=1e-6)
    for s, row in zip(texts, p):
        print(f"  P(positive) = {row[1]:.4f}  {s!r}")
    assert p[0, 1] > 0.9 and p[1, 0] > 0.9
    assert 0.2 < p[2, 1] < 0.8 and 0.2 < p[3, 1] < 0.8, "neutral words should not decide"
    print("  batch:", expect_error(grpc.StatusCode.INVALID_ARGUMENT, sentiment, ["good"] * 33))


def main():
    serving.setup_logging()
    procs = []
    try:
        proc, addr, took = start("sklearn_server.py")
        procs.append(proc)
        print(f"sklearn_server ready on {addr} in {took:.1f}s")
        check_sklearn(addr)
        stop(proc, "sklearn_server")
        proc, addr, took = start("kserve_server.py")
        procs.append(proc)
        print(f"kserve_server ready on {addr} in {took:.1f}s")
        check_kserve(addr)
        stop(proc, "kserve_server")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    print("ok")


if __name__ == "__main__":
    main()
