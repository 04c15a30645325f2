#!/usr/bin/python3
"""A Python client of the explainer sidecar's ExplainStream.

    /usr/bin/python3 examples/python/client.py --sidecar 127.0.0.1:50051 row --row 0
    /usr/bin/python3 examples/python/client.py --sidecar 127.0.0.1:50051 text "the food was wonderful"
    /usr/bin/python3 examples/python/client.py --sidecar 127.0.0.1:50051 image --index 0
    /usr/bin/python3 examples/python/client.py image --index 3 --save digit3.json
    /usr/bin/python3 examples/python/client.py --sidecar 127.0.0.1:50051 image --file digit3.json
    /usr/bin/python3 examples/python/client.py --auto 0.005 --evaluate row --row 0

Starts one job on the stream, draws a progress bar on stderr from its
progress events and prints the top attributions (--json: a machine-readable
summary on stdout), each with its standard error. --auto TOL samples in
rounds until the top attributions' standard errors are at most TOL, showing
each round; --evaluate adds the sidecar's checks (stability over seeds,
deletion and insertion curves). Ctrl-C (SIGINT) or SIGTERM cancels the job with
CancelJob and waits for the job's CANCELLED error; a second one drops the
stream at once. Exit status: 0 done, 1 the job failed, 130 cancelled.

The image JSON (--file, --save) is the API's ImageInstance in protojson,
the shape `explainer explain --image` and examples/go/client read too:
{"height": 8, "width": 8, "channels": 1, "layout": "IMAGE_LAYOUT_CHW",
"values": [...]}.
"""

import argparse
import json
import queue
import signal
import sys
import threading
from pathlib import Path

GEN = Path(__file__).resolve().parent / "gen"
sys.path.insert(0, str(GEN))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from explainer.v1 import explainer_pb2 as pb  # noqa: E402
from explainer.v1 import explainer_pb2_grpc as pb_grpc  # noqa: E402

JOB_ID = "job-1"
CANCELLED = 1  # google.rpc.Code

# SIGINT / SIGTERM count here; run_job acts on them between events, so an
# interrupt never lands in the middle of gRPC or queue code.
INTERRUPTS = [0]


def on_interrupt(signum, frame):
    INTERRUPTS[0] += 1


def row_request(args):
    """Tabular LIME of one breast-cancer row; the whole data set is LIME's
    training data (the sidecar computes the quartiles and statistics)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [str(n) for n in data.feature_names]
    if not 0 <= args.row < len(data.data):
        sys.exit(f"--row must be in [0, {len(data.data)})")
    return pb.ExplainRequest(
        model=args.model,
        instance=pb.Instance(tabular=pb.TabularInstance(
            values=data.data[args.row].tolist(), feature_names=names)),
        lime=pb.LimeOptions(
            num_samples=args.num_samples or 5000,
            num_features=args.num_features,
            seed=args.seed,
            training=pb.TrainingData(dataset=pb.Dataset(
                num_rows=len(data.data), values=data.data.ravel().tolist(), feature_names=names)),
        ),
    )


def text_request(args):
    return pb.ExplainRequest(
        model=args.model,
        instance=pb.Instance(text=pb.TextInstance(text=args.text)),
        lime_text=pb.LimeTextOptions(
            num_samples=args.num_samples or 5000,
            num_features=args.num_features,
            mask_string=args.mask_string,
            seed=args.seed,
        ),
    )


def read_image(path):
    """Reads the image JSON that explainer explain --image and the Go client
    read too: an ImageInstance in protojson, e.g. {"height": 8, "width": 8,
    "channels": 1, "layout": "IMAGE_LAYOUT_CHW", "values": [...]}."""
    try:
        return json_format.Parse(Path(path).read_text(), pb.ImageInstance())
    except (OSError, json_format.ParseError) as e:
        sys.exit(f"--file {path}: want an ImageInstance as JSON: {e}")


def digit_image(index):
    """One 8x8 digit as the digits_cnn model takes it: FP32 values in
    [0, 1], CHW (1 x 8 x 8), and its true digit."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    if not 0 <= index < len(digits.images):
        sys.exit(f"--index must be in [0, {len(digits.images)})")
    image = digits.images[index] / 16.0
    return pb.ImageInstance(
        height=8, width=8, channels=1, layout=pb.IMAGE_LAYOUT_CHW,
        values=image.astype(np.float32).ravel().tolist()), int(digits.target[index])


def image_request(args):
    """LIME over a grid of an image: --file, or digit --index."""
    if args.file:
        image, truth = read_image(args.file), None
    else:
        image, truth = digit_image(args.index)
    rows, cols = (int(v) for v in args.grid.split(","))
    return pb.ExplainRequest(
        model=args.model,
        instance=pb.Instance(image=image),
        lime_image=pb.LimeImageOptions(
            segmentation=pb.Segmentation(grid=pb.GridSegmentation(rows=rows, cols=cols)),
            num_samples=args.num_samples or 1000,
            num_features=args.num_features,
            seed=args.seed,
        ),
    ), truth


def add_checks(request, args):
    """Auto sampling replaces the method's num_samples; the checks ask for
    stability over 5 seeds and the fidelity curves."""
    if args.auto:
        getattr(request, request.WhichOneof("method")).num_samples = 0
        request.auto_sampling.CopyFrom(pb.AutoSampling(tolerance=args.auto))
    if args.evaluate:
        request.evaluation.CopyFrom(pb.Evaluation(stability_runs=5, fidelity_curves=True))
    return request


class Progress:
    """A bar on stderr: redrawn in place on a terminal, else one line per
    tenth of the job, so that logs stay readable."""

    def __init__(self, enabled, width=30):
        self.enabled, self.width = enabled, width
        self.tty = sys.stderr.isatty()
        self.drawn, self.tenth = False, -1

    def draw(self, p):
        if not self.enabled or not p.samples_total:
            return
        done = min(p.samples_scored / p.samples_total, 1.0)
        if not self.tty:
            if int(done * 10) == self.tenth:
                return
            self.tenth = int(done * 10)
        bar = "#" * int(done * self.width)
        line = (f"[{bar:<{self.width}}] {done:4.0%} {p.samples_scored}/{p.samples_total} samples,"
                f" {p.model_calls} model calls")
        sys.stderr.write(f"\r{line}" if self.tty else f"{line}\n")
        sys.stderr.flush()
        self.drawn = self.tty

    def end(self):
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False


def run_job(stub, request, progress, timeout):
    """Runs one job on ExplainStream and returns (kind, payload, progress
    events seen, cancelled by the user): kind "result" with an Explanation
    or "error" with a JobError."""
    outgoing = queue.Queue()  # requests; None closes the send side
    incoming = queue.Queue()  # responses, then None (end) or an RpcError

    def requests():
        while (r := outgoing.get()) is not None:
            yield r

    call = stub.ExplainStream(requests(), timeout=timeout)

    # Reading on a thread keeps the main thread free to act on Ctrl-C at
    # any moment and still read the events that follow the cancel.
    def read():
        try:
            for resp in call:
                incoming.put(resp)
            incoming.put(None)
        except grpc.RpcError as e:
            incoming.put(e)

    threading.Thread(target=read, daemon=True).start()
    outgoing.put(pb.ExplainStreamRequest(start=pb.StartJob(job_id=JOB_ID, request=request)))

    events, cancelled, handled = 0, False, 0
    try:
        while True:
            if INTERRUPTS[0] > handled:
                handled = INTERRUPTS[0]
                if cancelled:  # a second interrupt: drop the stream
                    call.cancel()
                    raise KeyboardInterrupt
                cancelled = True
                progress.end()
                print("cancelling the job (interrupt again to drop the stream)...", file=sys.stderr)
                outgoing.put(pb.ExplainStreamRequest(cancel=pb.CancelJob(job_id=JOB_ID)))
            try:
                item = incoming.get(timeout=0.1)  # short waits keep signals prompt
            except queue.Empty:
                continue
            if item is None:
                raise RuntimeError("the stream ended before the job did")
            if isinstance(item, grpc.RpcError):
                raise item
            if item.job_id != JOB_ID:
                continue
            kind = item.WhichOneof("event")
            if kind == "progress":
                events += 1
                progress.draw(item.progress)
            elif kind == "partial" and item.partial.rounds:
                progress.end()
                print(f"round {item.partial.rounds}: {item.partial.num_samples} samples,"
                      f" largest top standard error {item.partial.precision:.4g}", file=sys.stderr)
            elif kind in ("result", "error"):
                progress.end()
                return kind, getattr(item, kind), events, cancelled
    finally:
        outgoing.put(None)  # close the send side: the server ends the stream


def summary(kind, payload, events, cancelled, top):
    out = {"job_id": JOB_ID, "progress_events": events, "cancel_requested": cancelled}
    if kind == "error":
        out.update(status="cancelled" if payload.code == CANCELLED else "error",
                   code=payload.code, message=payload.message)
        return out
    e = payload
    out.update(
        status="ok", method=e.method, model=e.model, seed=e.seed,
        num_samples=e.num_samples, model_calls=e.model_calls,
        elapsed_ms=e.elapsed.ToMilliseconds() if e.HasField("elapsed") else None,
        class_names=list(e.class_names), instance_scores=list(e.instance_scores),
        labels=[{
            "label": le.label,
            "class_name": le.class_name or (e.class_names[le.label] if le.label < len(e.class_names) else ""),
            "prediction": le.prediction,
            "intercept": le.intercept,
            "score": le.score,
            "attributions": [
                {"index": a.index, "feature": a.feature, "weight": a.weight, "std_error": a.std_error}
                for a in list(le.attributions)[:top]
            ],
        } for le in e.labels],
    )
    if e.stop_reason:
        out.update(stop_reason=pb.StopReason.Name(e.stop_reason).removeprefix("STOP_REASON_").lower(),
                   rounds=e.rounds, precision=e.precision)
    if e.HasField("evaluation"):
        ev = e.evaluation
        out["evaluation"] = {
            "stability": {
                "runs": ev.stability.runs,
                "mean_rank_correlation": ev.stability.mean_rank_correlation,
                "mean_top_k_overlap": ev.stability.mean_top_k_overlap,
            } if ev.HasField("stability") else None,
            "curves": [{
                "label": c.label,
                "deletion_area": c.deletion_area, "random_deletion_area": c.random_deletion_area,
                "insertion_area": c.insertion_area, "random_insertion_area": c.random_insertion_area,
            } for c in ev.curves],
        }
    return out


def print_table(s):
    if s["status"] != "ok":
        print(f"job {s['status']}: code {s['code']}: {s['message']}")
        return
    print(f"{s['model']} · {s['method']} · {s['num_samples']} samples in {s['model_calls']} model calls"
          f" · seed {s['seed']} · {s['elapsed_ms']} ms")
    for le in s["labels"]:
        name = le["class_name"] or f"class {le['label']}"
        print(f"\nlabel {le['label']} ({name}): model says {le['prediction']:.4f},"
              f" weighted R² {le['score']:.3f}")
        width = max((len(a["feature"]) for a in le["attributions"]), default=0)
        for a in le["attributions"]:
            se = f" ± {a['std_error']:.4f}" if a["std_error"] else ""
            print(f"  {a['feature']:<{width}}  {a['weight']:+.4f}{se}")
    if "stop_reason" in s:
        print(f"\nauto sampling: {s['stop_reason'].replace('_', ' ')} after {s['rounds']} round(s),"
              f" largest top standard error {s['precision']:.4g}")
    ev = s.get("evaluation")
    if ev:
        if ev["stability"]:
            st = ev["stability"]
            print(f"stability over {st['runs']} seeds: rank correlation {st['mean_rank_correlation']:.3f},"
                  f" top-k overlap {st['mean_top_k_overlap']:.3f}")
        for c in ev["curves"]:
            print(f"label {c['label']}: deletion area {c['deletion_area']:.4f} (random {c['random_deletion_area']:.4f}),"
                  f" insertion area {c['insertion_area']:.4f} (random {c['random_insertion_area']:.4f})")


def add_common_flags(p, default=None):
    """The flags every subcommand takes, before or after its name: the
    subparsers get default SUPPRESS so that they set only the flags given
    after the name and keep the main parser's defaults and values."""

    def d(v):
        return v if default is None else default

    p.add_argument("--sidecar", default=d("127.0.0.1:50051"), help="the sidecar's host:port (plaintext)")
    p.add_argument("--model", default=d(None),
                   help="model name; default breast_cancer (row), sentiment (text), digits_cnn (image)")
    p.add_argument("--num-samples", type=int, default=d(0), help="perturbed samples; 0 = the method's default")
    p.add_argument("--num-features", type=int, default=d(10), help="attributions in the explanation")
    p.add_argument("--seed", type=int, default=d(7), help="sampler seed")
    p.add_argument("--top", type=int, default=d(10), help="attributions printed per label")
    p.add_argument("--timeout", type=float, default=d(300), help="deadline of the stream in seconds")
    p.add_argument("--json", action="store_true", default=d(False), help="print a JSON summary on stdout")
    p.add_argument("--no-progress", action="store_true", default=d(False), help="no progress bar on stderr")
    p.add_argument("--auto", type=float, default=d(0.0),
                   help="sample in rounds until the top attributions' standard errors are at most this")
    p.add_argument("--evaluate", action="store_true", default=d(False),
                   help="also check stability over 5 seeds and the deletion/insertion curves")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_flags(ap)
    sub = ap.add_subparsers(dest="kind", required=True)
    p = sub.add_parser("row", help="tabular LIME of a breast-cancer row (predict.v1 sklearn_server.py)")
    p.add_argument("--row", type=int, default=0, help="row of sklearn's load_breast_cancer()")
    add_common_flags(p, argparse.SUPPRESS)
    p = sub.add_parser("text", help="LIME of a text (kserve_server.py's sentiment)")
    p.add_argument("text", help="the sentence to explain")
    p.add_argument("--mask-string", default="", help='written in place of removed words, e.g. "[MASK]"')
    add_common_flags(p, argparse.SUPPRESS)
    p = sub.add_parser("image", help="LIME of an 8x8 digit over a grid (kserve_server.py's digits_cnn)")
    p.add_argument("--index", type=int, default=0, help="image of sklearn's load_digits()")
    p.add_argument("--file", help="explain the image in this image JSON file (an ImageInstance) instead")
    p.add_argument("--save", metavar="FILE",
                   help="write digit --index as the image JSON to FILE and exit (explain --image and the Go client read it)")
    p.add_argument("--grid", default="4,4", help="segmentation grid: rows,cols")
    add_common_flags(p, argparse.SUPPRESS)
    args = ap.parse_args()
    if args.kind == "image" and args.save:
        Path(args.save).write_text(json_format.MessageToJson(digit_image(args.index)[0]) + "\n")
        return 0
    if args.model is None:
        args.model = {"row": "breast_cancer", "text": "sentiment", "image": "digits_cnn"}[args.kind]

    truth = None
    if args.kind == "row":
        request = row_request(args)
    elif args.kind == "text":
        request = text_request(args)
    else:
        request, truth = image_request(args)
    request = add_checks(request, args)

    # Set explicitly too because a process started in the background by a
    # shell inherits SIGINT ignored. SIGTERM cancels the job the same way.
    signal.signal(signal.SIGINT, on_interrupt)
    signal.signal(signal.SIGTERM, on_interrupt)

    stub = pb_grpc.ExplainerServiceStub(grpc.insecure_channel(args.sidecar))
    progress = Progress(enabled=not args.no_progress)
    try:
        kind, payload, events, cancelled = run_job(stub, request, progress, args.timeout)
    except KeyboardInterrupt:
        progress.end()
        print("stream dropped", file=sys.stderr)
        return 130
    except RuntimeError as e:
        progress.end()
        print(f"ExplainStream: {e}", file=sys.stderr)
        return 1
    except grpc.RpcError as e:
        progress.end()
        print(f"ExplainStream: {e.code().name}: {e.details()}", file=sys.stderr)
        if args.json:
            print(json.dumps({"job_id": JOB_ID, "status": "rpc_error", "code": e.code().value[0],
                              "message": e.details()}))
        return 1

    s = summary(kind, payload, events, cancelled, args.top)
    if truth is not None:
        s["true_label"] = truth
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print_table(s)
    return {"ok": 0, "cancelled": 130}.get(s["status"], 1)


if __name__ == "__main__":
    sys.exit(main())
