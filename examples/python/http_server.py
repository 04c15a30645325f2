#!/usr/bin/python3
"""A KServe model server over HTTP: the v1 protocol and the Open Inference Protocol (v2) REST API.

    /usr/bin/python3 examples/python/http_server.py --address 127.0.0.1:8080

Standard library http.server (threaded) and scikit-learn only: no gRPC, no
KServe package. Three models, trained at start-up in a few seconds on data
that ships with scikit-learn or with this directory:

- breast_cancer: Pipeline(StandardScaler, LogisticRegression) on the 569
  rows of 30 features; classes malignant, benign. v2 input "input-0" FP64
  [-1, 30], output "probabilities" FP64 [-1, 2].
- sentiment: a bag-of-words LogisticRegression on data/sentiment.tsv
  (lower-cased runs of letters, as kserve_server.py's); classes negative,
  positive. v2 input "text" BYTES [-1, 1], output "probabilities" FP32
  [-1, 2]. v1 instances are JSON strings.
- digits: LogisticRegression on the 1797 8x8 digits, pixels / 16 in [0, 1];
  classes 0-9. v2 input "pixels" FP32 [-1, 1, 8, 8] (any [N, ...] of 64
  values per image is taken), output "probabilities" FP32 [-1, 10]. v1
  instances are any nesting of 64 numbers ([8][8], [1][8][8] or flat).

Endpoints (v1 answers with predict_proba: rows of class probabilities):

    GET  /v1/models                         {"models": [...]}
    GET  /v1/models/NAME                    {"name": NAME, "ready": true}
    POST /v1/models/NAME:predict            {"instances": [...]} -> {"predictions": [...]}
    GET  /v2                                server metadata (extensions: binary_tensor_data)
    GET  /v2/health/live, /v2/health/ready  {"live": true}, {"ready": true}
    GET  /v2/models/NAME[/versions/1]       metadata: inputs, outputs
    GET  /v2/models/NAME/ready              {"name": NAME, "ready": true}
    GET  /v2/models/NAME/config             {"name": NAME, "max_batch_size": N} (as Triton)
    POST /v2/models/NAME/infer              JSON tensors; the binary tensor data extension
                                            (Inference-Header-Content-Length) both ways

Errors are JSON {"error": "..."}: 400 for a request the model cannot take
(including a batch over --max-batch-size), 404 for an unknown model or
path (naming the models hosted), 413 for a body over 64 MiB, 500 for a
failure in the model. Prints "ready <host:port>" on stdout once it serves;
logs go to stderr; SIGTERM or Ctrl-C stops it cleanly (exit status 0).
"""

import argparse
import json
import logging
import math
import re
import signal
import struct
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DATA = Path(__file__).resolve().parent / "data"
VERSION = "1"
MAX_BODY = 64 << 20
HEADER_LENGTH = "Inference-Header-Content-Length"

log = logging.getLogger("http_server")


class Rejected(Exception):
    """A request the server cannot take: answered with status and the
    message as {"error": message}."""

    def __init__(self, message, status=HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


# -------------------------------------------------------------------- models


class Model:
    """A hosted model: its tensors, classes and scoring function. kind is
    "tabular", "text" or "image"; width the values per instance."""

    def __init__(self, name, kind, width, classes, input_name, input_datatype,
                 input_shape, output_datatype, predict_proba, max_batch_size):
        self.name, self.kind, self.width, self.classes = name, kind, width, classes
        self.input = (input_name, input_datatype, input_shape)
        self.output_datatype = output_datatype
        self.predict_proba = predict_proba  # float array [N, width] or list of str -> [N, classes]
        self.max_batch_size = max_batch_size

    def check_batch(self, n):
        if self.max_batch_size and n > self.max_batch_size:
            raise Rejected(f"batch of {n} instances exceeds model {self.name}'s max_batch_size {self.max_batch_size}")

    def metadata(self):
        name, datatype, shape = self.input
        return {
            "name": self.name, "versions": [VERSION], "platform": "sklearn",
            "inputs": [{"name": name, "datatype": datatype, "shape": shape}],
            "outputs": [{"name": "probabilities", "datatype": self.output_datatype, "shape": [-1, len(self.classes)]}],
        }

    def score(self, batch):
        n = len(batch)
        if n == 0:
            return np.zeros((0, len(self.classes)))
        return self.predict_proba(batch)

    def numbers(self, values, n):
        """values (any nesting, row-major) as a float array [n, width]."""
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise Rejected(f"model {self.name} takes numbers: {self.width} per instance")
        if x.size != n * self.width:
            raise Rejected(f"model {self.name} takes {self.width} values per instance, got {x.size} for {n} instances")
        x = x.reshape(n, self.width)
        if not np.isfinite(x).all():
            raise Rejected(f"model {self.name}: an input value is not finite")
        return x


def tokenize(text):
    """Lower-cased runs of letters: everything else separates words (as
    kserve_server.py's sentiment model)."""
    return re.findall(r"[^\W\d_]+", text.lower())


def read_corpus(path):
    labels, texts = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, text = line.split("\t", 1)
        labels.append(int(label))
        texts.append(text)
    return labels, texts


def train(max_batch_size):
    models = []

    data = load_breast_cancer()
    bc = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
    bc.fit(data.data, data.target)
    log.info("breast_cancer: training accuracy %.4f", bc.score(data.data, data.target))
    models.append(Model("breast_cancer", "tabular", 30, [str(c) for c in data.target_names],
                        "input-0", "FP64", [-1, 30], "FP64", bc.predict_proba, max_batch_size))

    labels, texts = read_corpus(DATA / "sentiment.tsv")
    # C above 1: confident on clear sentences, while every word still moves
    # the probability (LIME then sees each sentiment word's effect).
    st = make_pipeline(CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None),
                       LogisticRegression(C=10, max_iter=1000, random_state=0))
    st.fit(texts, labels)
    log.info("sentiment: training accuracy %.4f on %d sentences", st.score(texts, labels), len(texts))
    models.append(Model("sentiment", "text", 1, ["negative", "positive"],
                        "text", "BYTES", [-1, 1], "FP32", st.predict_proba, max_batch_size))

    digits = load_digits()
    x = digits.images.reshape(len(digits.images), 64) / 16.0
    dg = LogisticRegression(max_iter=2000, random_state=0)
    dg.fit(x, digits.target)
    log.info("digits: training accuracy %.4f", dg.score(x, digits.target))
    models.append(Model("digits", "image", 64, [str(d) for d in range(10)],
                        "pixels", "FP32", [-1, 1, 8, 8], "FP32", dg.predict_proba, max_batch_size))
    return {m.name: m for m in models}


# ------------------------------------------------------------------ protocol


NUMPY_TYPES = {"FP32": "<f4", "FP64": "<f8", "INT64": "<i8", "INT32": "<i4", "FP16": "<f2"}


def bytes_elements(raw, n):
    """Splits BYTES binary data of n elements: a 4-byte little-endian length,
    then that many bytes, each."""
    out, off = [], 0
    for i in range(n):
        if off + 4 > len(raw):
            raise Rejected(f"BYTES input holds {i} elements, its shape says {n}")
        (size,) = struct.unpack_from("<I", raw, off)
        off += 4
        if off + size > len(raw):
            raise Rejected(f"BYTES element {i}: its length runs past the end of the input")
        out.append(raw[off:off + size])
        off += size
    if off != len(raw):
        raise Rejected(f"BYTES input has {len(raw) - off} bytes after its {n} elements")
    return out


def flatten(values):
    """Nested lists in row-major order, flattened."""
    if isinstance(values, list):
        out = []
        for v in values:
            out.extend(flatten(v))
        return out
    return [values]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "explainer-example-http"
    models = {}  # set by main

    def log_message(self, fmt, *args):  # per-request lines at debug level only
        log.debug("%s " + fmt, self.address_string(), *args)

    # --- plumbing

    def reply(self, status, obj=None, body=None, headers=()):
        if body is None:
            body = json.dumps(obj, allow_nan=False).encode()
            headers = (("Content-Type", "application/json"), *headers)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        """Reads the whole body before anything else, so that an error reply
        leaves the keep-alive connection at the next request."""
        self.request_body = b""
        length = self.headers.get("Content-Length")
        if length is None:
            if self.command == "POST":
                self.close_connection = True
                raise Rejected("a Content-Length is required", HTTPStatus.LENGTH_REQUIRED)
            return
        try:
            n = int(length)
        except ValueError:
            n = -1
        if not 0 <= n <= MAX_BODY:
            self.close_connection = True  # the body is not read
            raise Rejected(f"body of {length} bytes: the limit is {MAX_BODY}", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        self.request_body = self.rfile.read(n)

    def body(self):
        return self.request_body

    def model(self, name):
        m = self.models.get(name)
        if m is None:
            raise Rejected(f"unknown model {name!r}; this server hosts {sorted(self.models)}", HTTPStatus.NOT_FOUND)
        return m

    def dispatch(self, routes):
        path = self.path.split("?", 1)[0]
        try:
            self.read_body()
            for method, pattern, fn in routes:
                match = re.fullmatch(pattern, path)
                if match and method == self.command:
                    return fn(*match.groups())
            raise Rejected(f"no route {self.command} {path}; this server hosts {sorted(self.models)}", HTTPStatus.NOT_FOUND)
        except Rejected as e:
            log.info("%s %s: %d %s", self.command, path, e.status, e)
            self.reply(e.status, {"error": str(e)})
        except Exception as e:  # a bug: say so rather than hang the client
            log.exception("%s %s failed", self.command, path)
            self.reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(e).__name__}: {e}"})

    def routes(self):
        m = r"([^/:]+)"
        v = r"(?:/versions/" + VERSION + r")?"
        return [
            ("GET", r"/v1/models", lambda: self.reply(200, {"models": sorted(self.models)})),
            ("GET", rf"/v1/models/{m}", lambda n: self.reply(200, {"name": self.model(n).name, "ready": True})),
            ("POST", rf"/v1/models/{m}:predict", self.v1_predict),
            ("GET", r"/v2", lambda: self.reply(200, {
                "name": "explainer-example-http", "version": "1",
                "extensions": ["binary_tensor_data", "model_configuration"]})),
            ("GET", r"/v2/health/live", lambda: self.reply(200, {"live": True})),
            ("GET", r"/v2/health/ready", lambda: self.reply(200, {"ready": True})),
            ("GET", rf"/v2/models/{m}{v}", lambda n: self.reply(200, self.model(n).metadata())),
            ("GET", rf"/v2/models/{m}{v}/ready", lambda n: self.reply(200, {"name": self.model(n).name, "ready": True})),
            ("GET", rf"/v2/models/{m}{v}/config", lambda n: self.reply(200, {
                "name": self.model(n).name, "platform": "sklearn", "max_batch_size": self.model(n).max_batch_size})),
            ("POST", rf"/v2/models/{m}{v}/infer", self.v2_infer),
        ]

    def do_GET(self):
        self.dispatch(self.routes())

    def do_POST(self):
        self.dispatch(self.routes())

    # --- v1

    def v1_predict(self, name):
        m = self.model(name)
        try:
            req = json.loads(self.body())
        except ValueError as e:
            raise Rejected(f"the body is not JSON: {e.msg}")
        if not isinstance(req, dict) or not isinstance(req.get("instances"), list):
            raise Rejected('want {"instances": [...]}')
        instances = req["instances"]
        n = len(instances)
        m.check_batch(n)
        if m.kind == "text":
            if not all(isinstance(t, str) for t in instances):
                raise Rejected(f"model {m.name} takes texts: instances must be JSON strings")
            batch = instances
        else:
            if any(isinstance(t, str) for t in instances):
                raise Rejected(f"model {m.name} takes {m.kind} instances of {m.width} numbers, not texts")
            batch = m.numbers(instances, n)
        p = m.score(batch)
        self.reply(200, {"predictions": p.tolist()})

    # --- v2

    def v2_infer(self, name):
        m = self.model(name)
        body = self.body()
        js, binary = body, b""
        if self.headers.get(HEADER_LENGTH) is not None:
            n = int(self.headers[HEADER_LENGTH])
            if not 0 <= n <= len(body):
                raise Rejected(f"{HEADER_LENGTH} {n} does not fit a body of {len(body)} bytes")
            js, binary = body[:n], body[n:]
        try:
            req = json.loads(js)
        except ValueError as e:
            raise Rejected(f"the body is not JSON: {e.msg}")
        inputs = req.get("inputs")
        in_name, in_datatype, _ = m.input
        if not isinstance(inputs, list) or len(inputs) != 1:
            raise Rejected(f"model {m.name} takes 1 input ({in_name})")
        t = inputs[0]
        if t.get("name") != in_name:
            raise Rejected(f"model {m.name} has no input {t.get('name')!r}; its input is {in_name!r}")
        shape, datatype = t.get("shape"), t.get("datatype")
        if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise Rejected(f"input {in_name} needs a shape [batch, ...], got {shape!r}")
        n, per_item = shape[0], math.prod(shape[1:])
        m.check_batch(n)
        size = (t.get("parameters") or {}).get("binary_data_size")
        if size is not None and (not isinstance(size, int) or size < 0 or size > len(binary)):
            raise Rejected(f"input {in_name}: binary_data_size {size!r} does not fit the {len(binary)} binary bytes")

        if m.kind == "text":
            if datatype != "BYTES" or per_item != 1:
                raise Rejected(f"input {in_name} takes BYTES [N] or [N, 1], got {datatype} {shape}")
            if size is not None:
                elems = bytes_elements(binary[:size], n)
            else:
                elems = [e.encode() if isinstance(e, str) else None for e in flatten(t.get("data"))]
                if len(elems) != n or None in elems:
                    raise Rejected(f"input {in_name} holds strings: {n} of them")
            try:
                batch = [e.decode("utf-8") for e in elems]
            except UnicodeDecodeError:
                raise Rejected(f"input {in_name}: a text is not UTF-8")
        else:
            if datatype not in ("FP32", "FP64", "INT64", "INT32"):
                raise Rejected(f"input {in_name} takes numbers (FP32, FP64, INT64, INT32), got {datatype}")
            if per_item != m.width:
                raise Rejected(f"input {in_name} takes {m.width} values per item, got shape {shape}")
            if size is not None:
                dt = np.dtype(NUMPY_TYPES[datatype])
                if size != n * m.width * dt.itemsize:
                    raise Rejected(f"input {in_name}: {size} binary bytes, shape {shape} of {datatype} needs {n * m.width * dt.itemsize}")
                values = np.frombuffer(binary[:size], dtype=dt).astype(np.float64)
            else:
                values = flatten(t.get("data"))
                if datatype == "FP32":  # what an FP32 tensor holds
                    values = np.asarray(values, dtype=np.float32)
            batch = m.numbers(values, n)

        p = m.score(batch).astype(np.float32 if m.output_datatype == "FP32" else np.float64)
        out = {"name": "probabilities", "datatype": m.output_datatype, "shape": [n, len(m.classes)]}
        for o in req.get("outputs") or []:
            if o.get("name") != "probabilities":
                raise Rejected(f"model {m.name} has no output {o.get('name')!r}; its output is 'probabilities'")
        binary_out = bool((req.get("parameters") or {}).get("binary_data_output")) or any(
            (o.get("parameters") or {}).get("binary_data") for o in req.get("outputs") or [])
        resp = {"model_name": m.name, "model_version": VERSION, "outputs": [out]}
        if "id" in req:
            resp["id"] = req["id"]
        if not binary_out:
            out["data"] = p.ravel().tolist()
            self.reply(200, resp)
            return
        raw = p.astype(p.dtype.newbyteorder("<")).tobytes()
        out["parameters"] = {"binary_data_size": len(raw)}
        head = json.dumps(resp).encode()
        self.reply(200, body=head + raw, headers=(
            ("Content-Type", "application/octet-stream"), (HEADER_LENGTH, str(len(head)))))


# ------------------------------------------------------------------- serving


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--address", default="127.0.0.1:8080", help="host:port to listen on (port 0: any free port)")
    ap.add_argument("--max-batch-size", type=int, default=0,
                    help="largest batch each model accepts (v2 config reports it); 0: no limit")
    args = ap.parse_args()
    if args.max_batch_size < 0:
        ap.error("--max-batch-size must be >= 0")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    start = time.monotonic()
    Handler.models = train(args.max_batch_size)
    log.info("trained %d models in %.1fs", len(Handler.models), time.monotonic() - start)

    host, port = args.address.rsplit(":", 1)
    try:
        server = ThreadingHTTPServer((host, int(port)), Handler)
    except OSError as e:
        log.error("cannot listen on %s: %s", args.address, e)
        sys.exit(1)
    server.daemon_threads = True  # a request in flight does not hold up the exit
    stop = threading.Event()
    # Installed explicitly: a process started in the background by a shell
    # inherits SIGINT ignored, and Python then would not install its own.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    thread = threading.Thread(target=server.serve_forever, name="serve", daemon=True)
    thread.start()
    bound = f"{host}:{server.server_address[1]}"
    print(f"ready {bound}", flush=True)
    log.info("serving v1 and v2 REST on http://%s", bound)
    while not stop.wait(timeout=1.0):  # a timeout keeps signals prompt
        pass
    log.info("stopping")
    server.shutdown()
    server.server_close()
    log.info("stopped")


if __name__ == "__main__":
    main()
