#!/usr/bin/python3
"""A KServe v2 / Triton GRPCInferenceService hosting two PyTorch models.

    /usr/bin/python3 examples/python/kserve_server.py --address 127.0.0.1:8001

- digits_cnn: a small CNN trained at start-up on scikit-learn's bundled 8x8
  digits (pixels / 16, so in [0, 1]). Input "input__0" FP32 [-1, 1, 8, 8]
  (NCHW; any [N, ...] holding 64 values per image is taken); output
  "output__0" FP32 [-1, 10], softmax probabilities.
- digits_uint8: digits_cnn on the digits' own pixel values, 0..16, as
  bytes: input "pixels" UINT8 [-1, 1, 8, 8] (raw, or uint_contents),
  output "output__0" FP32 [-1, 10]. As an image model that takes pixels.
- digits_fp16: digits_cnn behind half-precision tensors, as a TensorRT
  FP16 plan takes and gives them: input "input__0" FP16 [-1, 1, 8, 8] (raw
  contents only), widened to float32 for the network (the CPU build of
  torch has no half convolutions), output "output__0" FP16 [-1, 10].
- sentiment: a bag-of-words classifier trained at start-up on
  data/sentiment.tsv. Input "text" BYTES [-1, 1], one UTF-8 sentence per
  element (raw contents with 4-byte little-endian length prefixes, or
  bytes_contents); output "probabilities" FP32 [-1, 2]: negative, positive.

With --triton-examples it also serves stand-ins for the models of the
README's "Use with Triton", under their names and with their tensors, so
that its commands run without Triton or a GPU (CI runs them):

- my_tabular_model: scikit-learn's LogisticRegression (after a
  StandardScaler) on the bundled breast-cancer data. Input "input" FP32
  [-1, 30], output "probabilities" FP32 [-1, 2]; max_batch_size 256.
- resnet50_explain: NOT a ResNet-50: digits_cnn on the image averaged over
  its channels and pooled to 8x8 (28x28-pixel blocks, 0..255 scaled to
  0..1). Input "IMAGE" FP32 [-1, 3, 224, 224] (CHW, RGB 0..255), output
  "LOGITS" FP32 [-1, 1000]: the ten digit logits, then 990 at -20;
  max_batch_size 64. examples/triton/digit.png is a digit it reads.
- bert_classifier: NOT a BERT: sentiment under BERT's tensors. Input
  "TEXT" BYTES [-1, 1], output "PROBABILITIES" FP32 [-1, 2];
  max_batch_size 64.

The models report --max-batch-size in ModelConfig (the stand-ins their own,
as their config.pbtxt says) and reject bigger batches with
INVALID_ARGUMENT. Outputs go back in raw_output_contents, as Triton sends
them. Prints "ready <address>" on stdout once it serves; logs go to stderr.
"""

import argparse
import math
import re
import struct
import time
from pathlib import Path

import serving  # sets up the stub path; import first

import grpc
import numpy as np
import torch
from kserve.v2 import grpc_service_pb2 as pb
from kserve.v2 import grpc_service_pb2_grpc as pb_grpc
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from serving import Rejected, handle, log

VERSION = "1"
SEED = 0
DATA = Path(__file__).resolve().parent / "data"


# ---------------------------------------------------------------- digits_cnn


class DigitsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16x4x4
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32x2x2
        )
        self.head = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def train_digits(epochs=12, batch=64):
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.int64)
    torch.manual_seed(SEED)
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    order = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=order).split(batch):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    with torch.inference_mode():
        accuracy = (net(x).argmax(1) == y).float().mean().item()
    return net, accuracy


# ----------------------------------------------------------------- sentiment


def tokenize(text):
    """Lower-cased runs of letters: everything else separates words."""
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


class BagOfWords(nn.Module):
    """Summed word embeddings and a linear layer: linear in the word counts,
    like a logistic regression, so each word pushes the logits by a fixed
    amount and unknown or removed words push nothing."""

    def __init__(self, vocab_size, dim=16):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab_size, dim, mode="sum")
        self.head = nn.Linear(dim, 2)

    def forward(self, ids, offsets):
        return self.head(self.embed(ids, offsets))


class Sentiment:
    def __init__(self, vocab, net):
        self.vocab, self.net = vocab, net

    def encode(self, texts):
        ids, offsets = [], []
        for t in texts:
            offsets.append(len(ids))
            ids.extend(self.vocab[w] for w in tokenize(t) if w in self.vocab)
        return torch.tensor(ids, dtype=torch.int64), torch.tensor(offsets, dtype=torch.int64)

    def __call__(self, texts):
        return self.net(*self.encode(texts))


def train_sentiment(epochs=300):
    labels, texts = read_corpus(DATA / "sentiment.tsv")
    words = sorted({w for t in texts for w in tokenize(t)})
    vocab = {w: i for i, w in enumerate(words)}
    torch.manual_seed(SEED)
    model = Sentiment(vocab, BagOfWords(len(vocab)))
    ids, offsets = model.encode(texts)
    y = torch.tensor(labels, dtype=torch.int64)
    # Weight decay keeps words seen in both classes ("the", "food") near 0,
    # so that explanations point at the words that carry the sentiment, and
    # keeps one word from saturating the probability (LIME then sees each
    # sentiment word's effect).
    opt = torch.optim.Adam(model.net.parameters(), lr=0.05, weight_decay=1e-2)
    for _ in range(epochs):  # full batch: a few hundred sentences
        opt.zero_grad()
        nn.functional.cross_entropy(model.net(ids, offsets), y).backward()
        opt.step()
    model.net.eval()
    with torch.inference_mode():
        accuracy = (model.net(ids, offsets).argmax(1) == y).float().mean().item()
    return model, accuracy


# ------------------------------------------------------------------- serving


def bytes_elements(raw, n):
    """Splits the raw contents of a BYTES tensor of n elements: each is a
    4-byte little-endian length and then that many bytes."""
    out, off = [], 0
    for i in range(n):
        if off + 4 > len(raw):
            raise Rejected(f"BYTES input holds {i} elements, shape says {n}")
        (size,) = struct.unpack_from("<I", raw, off)
        off += 4
        if off + size > len(raw):
            raise Rejected(f"BYTES element {i}: its length runs past the end of the input")
        out.append(raw[off:off + size])
        off += size
    if off != len(raw):
        raise Rejected(f"BYTES input has {len(raw) - off} bytes after its {n} elements")
    return out


class Model:
    """One hosted model: its tensors, batch limit and scoring function."""

    # Numeric input data types: numpy's little-endian dtype, and the typed
    # contents field (None: raw contents only, as Triton takes FP16).
    NUMERIC = {"FP32": ("<f4", "fp32_contents"), "FP16": ("<f2", None), "UINT8": ("u1", "uint_contents")}

    def __init__(self, name, input_name, input_datatype, input_shape,
                 output_name, num_classes, max_batch_size, score, output_datatype="FP32"):
        self.name = name
        self.input = (input_name, input_datatype, input_shape)
        self.output = (output_name, num_classes)
        self.output_datatype = output_datatype  # FP32 or FP16
        self.max_batch_size = max_batch_size
        self.score = score  # the decoded input tensor -> [N, classes] float32

    def metadata(self):
        name, datatype, shape = self.input
        return pb.ModelMetadataResponse(
            name=self.name, versions=[VERSION], platform="pytorch",
            inputs=[pb.ModelMetadataResponse.TensorMetadata(name=name, datatype=datatype, shape=shape)],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(
                name=self.output[0], datatype=self.output_datatype, shape=[-1, self.output[1]])],
        )

    def config(self):
        return pb.ModelConfigResponse(config=pb.ModelConfig(
            name=self.name, platform="pytorch", backend="python",
            max_batch_size=self.max_batch_size))

    def decode(self, request):
        """Checks the request's one input against the metadata and returns
        the batch size and the input: [N, values] in the input's data type
        (float32, float16 or uint8), or a list of str."""
        name, datatype, shape = self.input
        if len(request.inputs) != 1:
            raise Rejected(f"model {self.name} takes 1 input ({name}), got {len(request.inputs)}")
        t = request.inputs[0]
        if t.name != name:
            raise Rejected(f"model {self.name} has no input {t.name!r}; its input is {name!r}")
        if t.datatype != datatype:
            raise Rejected(f"input {name} is {datatype}, got {t.datatype}")
        if not t.shape or t.shape[0] < 0:
            raise Rejected(f"input {name} needs a shape [batch, ...], got {list(t.shape)}")
        n = t.shape[0]
        if n > self.max_batch_size:
            raise Rejected(f"batch of {n} exceeds model {self.name}'s max_batch_size {self.max_batch_size}")
        per_item = math.prod(t.shape[1:])
        raw = request.raw_input_contents
        if raw and len(raw) != 1:
            raise Rejected(f"{len(raw)} raw_input_contents for 1 input")

        if datatype == "BYTES":
            if per_item != 1:
                raise Rejected(f"input {name} holds one text per batch item: shape [N] or [N, 1], got {list(t.shape)}")
            elems = bytes_elements(raw[0], n) if raw else list(t.contents.bytes_contents)
            if len(elems) != n:
                raise Rejected(f"input {name} holds {len(elems)} texts, shape says {n}")
            try:
                return n, [e.decode("utf-8") for e in elems]
            except UnicodeDecodeError as e:
                raise Rejected(f"input {name}: a text is not UTF-8: {e}")

        want = math.prod(shape[1:])
        if per_item != want:
            raise Rejected(f"input {name} takes {want} values per item (shape {shape}), got shape {list(t.shape)}")
        dtype, field = self.NUMERIC[datatype]
        size = np.dtype(dtype).itemsize
        if raw:
            if len(raw[0]) != n * want * size:
                raise Rejected(f"raw input of {len(raw[0])} bytes, shape {list(t.shape)} needs {n * want * size}")
            x = np.frombuffer(raw[0], dtype=dtype).reshape(n, want).copy()  # a writable copy for torch
        elif field is None:
            raise Rejected(f"input {name} is {datatype}: send it in raw_input_contents")
        else:
            values = getattr(t.contents, field)
            if len(values) != n * want:
                raise Rejected(f"input {name} holds {len(values)} {field}, shape {list(t.shape)} needs {n * want}")
            if datatype == "UINT8" and any(v > 255 for v in values):
                raise Rejected(f"input {name} is UINT8: a value above 255")
            x = np.array(values, dtype=np.dtype(dtype)).reshape(n, want)
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise Rejected(f"input {name} holds a non-finite value")
        return n, x

    def infer(self, request):
        out_name, classes = self.output
        for o in request.outputs:
            if o.name != out_name:
                raise Rejected(f"model {self.name} has no output {o.name!r}; its output is {out_name!r}")
        n, x = self.decode(request)
        if n == 0:
            p = np.zeros((0, classes), dtype=np.float32)
        else:
            with torch.inference_mode():
                p = self.score(x).numpy()
        dtype = self.NUMERIC[self.output_datatype][0]
        return pb.ModelInferResponse(
            model_name=self.name, model_version=VERSION, id=request.id,
            outputs=[pb.ModelInferResponse.InferOutputTensor(name=out_name, datatype=self.output_datatype, shape=[n, classes])],
            raw_output_contents=[p.astype(dtype).tobytes()],
        )


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    """Models only read their weights under inference_mode, so concurrent
    calls need no lock."""

    def __init__(self, models):
        self.models = {m.name: m for m in models}

    def model(self, name, version):
        m = self.models.get(name)
        if m is None:
            raise Rejected(f"unknown model {name!r}; this server hosts {sorted(self.models)}",
                           grpc.StatusCode.NOT_FOUND)
        if version not in ("", VERSION):
            raise Rejected(f"model {name} has no version {version!r}; it has {VERSION!r}",
                           grpc.StatusCode.NOT_FOUND)
        return m

    @handle
    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    @handle
    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=True)  # served only once trained

    @handle
    def ModelReady(self, request, context):
        return pb.ModelReadyResponse(
            ready=request.name in self.models and request.version in ("", VERSION))

    @handle
    def ModelMetadata(self, request, context):
        return self.model(request.name, request.version).metadata()

    @handle
    def ModelConfig(self, request, context):
        return self.model(request.name, request.version).config()

    @handle
    def ModelInfer(self, request, context):
        return self.model(request.model_name, request.model_version).infer(request)


def triton_standins(cnn, texts):
    """The README's Triton models, under their names and tensors (see the
    module's doc): what the sidecar sees of them, not what they compute."""
    data = load_breast_cancer()
    tabular = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
    tabular.fit(data.data, data.target)

    def rows(x):
        return torch.from_numpy(tabular.predict_proba(x.astype(np.float64)).astype(np.float32))

    def image_logits(x):
        img = torch.from_numpy(x).reshape(-1, 3, 224, 224).mean(dim=1, keepdim=True)
        digit = nn.functional.avg_pool2d(img, 28) / 255.0  # [N, 1, 8, 8] in 0..1
        logits = torch.full((img.shape[0], 1000), -20.0)
        logits[:, :10] = cnn(digit)
        return logits

    return [
        Model("my_tabular_model", "input", "FP32", [-1, 30], "probabilities", 2, 256, rows),
        Model("resnet50_explain", "IMAGE", "FP32", [-1, 3, 224, 224], "LOGITS", 1000, 64, image_logits),
        Model("bert_classifier", "TEXT", "BYTES", [-1, 1], "PROBABILITIES", 2, 64, texts),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--address", default="127.0.0.1:8001", help="host:port to listen on (port 0: any free port)")
    ap.add_argument("--max-batch-size", type=int, default=32,
                    help="largest batch each model accepts (ModelConfig reports it)")
    ap.add_argument("--triton-examples", action="store_true",
                    help="also serve stand-ins for the README's Triton models (my_tabular_model, resnet50_explain, bert_classifier)")
    args = ap.parse_args()
    if args.max_batch_size < 1:
        ap.error("--max-batch-size must be >= 1")
    serving.setup_logging()
    # One intra-op thread: these models are tiny, and with more, OpenMP's
    # spinning threads make training 10-100x slower whenever another process
    # wants the CPU. Concurrent requests still run in parallel (thread pool).
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    start = time.monotonic()
    cnn, acc = train_digits()
    log.info("trained digits_cnn in %.1fs: training accuracy %.4f", time.monotonic() - start, acc)
    start = time.monotonic()
    sentiment, acc2 = train_sentiment()
    log.info("trained sentiment in %.1fs: training accuracy %.4f", time.monotonic() - start, acc2)

    def digits(x):
        return torch.softmax(cnn(torch.from_numpy(x).reshape(-1, 1, 8, 8)), dim=1)

    def digit_bytes(x):  # pixels 0..16, as load_digits gives them
        return digits(x.astype(np.float32) / 16)

    def digits_half(x):  # float16 in and out
        return digits(x.astype(np.float32)).half()

    def texts(batch):
        return torch.softmax(sentiment(batch), dim=1)

    models = [
        Model("digits_cnn", "input__0", "FP32", [-1, 1, 8, 8], "output__0", 10, args.max_batch_size, digits),
        Model("digits_uint8", "pixels", "UINT8", [-1, 1, 8, 8], "output__0", 10, args.max_batch_size, digit_bytes),
        Model("digits_fp16", "input__0", "FP16", [-1, 1, 8, 8], "output__0", 10, args.max_batch_size, digits_half,
              output_datatype="FP16"),
        Model("sentiment", "text", "BYTES", [-1, 1], "probabilities", 2, args.max_batch_size, texts),
    ]
    if args.triton_examples:
        models += triton_standins(cnn, texts)
    # Triton takes messages up to 2 GiB; the README's ResNet-50 sidecar
    # sends up to 64 MB (--max-batch-bytes), which the stand-in must take.
    server = serving.new_server(max_message_bytes=(128 << 20) if args.triton_examples else serving.MAX_MESSAGE_BYTES)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(models), server)
    serving.serve(server, args.address)


if __name__ == "__main__":
    main()
