"""Explainer: the sidecar's ExplainStream behind one method per explainer."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import grpc
import numpy as np

from explainer_client._gen.explainer.v1 import explainer_pb2 as pb
from explainer_client._gen.explainer.v1 import explainer_pb2_grpc as pb_grpc
from explainer_client._results import BatchExplanation, Explanation, Progress

_CODES = {c.value[0]: c for c in grpc.StatusCode}
# Rows of a permutation data set larger than this many values are streamed
# in DataChunk messages rather than sent inside the request.
STREAM_VALUES = 1 << 20
_job_ids = itertools.count(1)
log = logging.getLogger("explainer_client")


class ExplainError(RuntimeError):
    """The job failed: code is a grpc.StatusCode, message the sidecar's."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code, self.message = code, message


# --- converting inputs --------------------------------------------------


def _is_frame(x) -> bool:
    return hasattr(x, "columns") and hasattr(x, "to_numpy")


def _is_series(x) -> bool:
    return hasattr(x, "index") and hasattr(x, "to_numpy") and not hasattr(x, "columns")


def table(data, feature_names=None) -> Tuple[np.ndarray, list]:
    """A 2-D float array and its feature names from a DataFrame, an array
    or a list of rows."""
    names = None
    if _is_frame(data):
        names = [str(c) for c in data.columns]
        try:
            arr = np.asarray(data.to_numpy(dtype=float))
        except (TypeError, ValueError) as e:
            dtypes = getattr(data, "dtypes", None)
            bad = [str(c) for c, t in zip(data.columns, dtypes)
                   if getattr(t, "kind", "f") not in "biuf"] if dtypes is not None else []
            raise ValueError(f"columns {bad or ''} are not numeric: encode categories as integer codes "
                             f"(and name them in categorical_features=): {e}") from None
        if feature_names is not None:
            want = [str(n) for n in feature_names]
            default = names == [str(i) for i in range(len(names))]
            if want != names and not default:
                missing = [n for n in want if n not in names]
                if missing:
                    raise ValueError(f"the table has no columns {missing} (its columns: {names})")
                arr = arr[:, [names.index(n) for n in want]]  # the row's feature order
        data = arr
    arr = np.asarray(data, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"want a table (rows × features), got an array of shape {arr.shape}")
    if feature_names is not None:
        names = [str(n) for n in feature_names]
    if names is not None and len(names) != arr.shape[1]:
        raise ValueError(f"{len(names)} feature names for {arr.shape[1]} features")
    if not np.all(np.isfinite(arr)):
        raise ValueError("the data has NaN or infinite values; the sidecar takes finite values only")
    return arr, names or []


def rows_of(row, feature_names=None) -> Tuple[np.ndarray, list, bool]:
    """(rows, names, batch): one row (a Series, a 1-D array, a list, a
    one-row DataFrame) or many (a DataFrame, a 2-D array) to explain."""
    if _is_series(row):
        names = [str(n) for n in row.index] if feature_names is None else feature_names
        if feature_names is None and names == [str(i) for i in range(len(names))]:
            names = None  # a default index names nothing
        arr, names = table(row.to_numpy(dtype=float), names)
        return arr, names, False
    if _is_frame(row):
        arr, names = table(row, feature_names)
        return arr, names, arr.shape[0] != 1
    batch = np.ndim(row) == 2
    arr, names = table(row, feature_names)
    return arr, names, batch and arr.shape[0] != 1


def dataset(arr: np.ndarray, names=(), targets=None, weights=None) -> pb.Dataset:
    d = pb.Dataset(num_rows=arr.shape[0], values=arr.ravel().tolist(), feature_names=list(names))
    if targets is not None:
        d.targets.extend(np.asarray(targets, dtype=float).ravel().tolist())
    if weights is not None:
        d.weights.extend(np.asarray(weights, dtype=float).ravel().tolist())
    return d


def image_instance(image, layout: str = "hwc") -> pb.ImageInstance:
    """An ImageInstance of an H×W×C (or H×W) array, or C×H×W with
    layout="chw"; the values go as float32, in that order."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None] if layout == "hwc" else arr[None, :, :]
    if arr.ndim != 3 or layout not in ("hwc", "chw"):
        raise ValueError(f"an image is a 2-D or 3-D array in layout hwc or chw; got shape {arr.shape}, layout {layout!r}")
    h, w, c = arr.shape if layout == "hwc" else (arr.shape[1], arr.shape[2], arr.shape[0])
    return pb.ImageInstance(height=h, width=w, channels=c, values=arr.ravel().tolist(),
                            layout=pb.IMAGE_LAYOUT_HWC if layout == "hwc" else pb.IMAGE_LAYOUT_CHW)


def _images(req, image, layout, submodular_pick, skip_failed):
    """Puts one image in req's instance, or a list of them in its batch."""
    if isinstance(image, (list, tuple)):
        req.batch.image.images.extend(image_instance(x, layout) for x in image)
        req.batch.submodular_pick, req.batch.skip_failed = submodular_pick, skip_failed
    else:
        req.instance.image.CopyFrom(image_instance(image, layout))


def _indexer(names):
    """A feature given by name or index, as its index."""
    def index(f):
        if isinstance(f, str):
            if f not in names:
                raise ValueError(f"no feature named {f!r}; the features: {names}")
            return names.index(f)
        return int(f)
    return index


def categorical(spec, names) -> list:
    """categorical_features: {index or name: [category names] or None} or
    a list of indices or names."""
    if not spec:
        return []
    items = spec.items() if isinstance(spec, dict) else ((k, None) for k in spec)
    out = []
    for k, cats in items:
        i = names.index(k) if isinstance(k, str) else int(k)
        out.append(pb.CategoricalFeature(index=i, category_names=[str(c) for c in cats or ()]))
    return out


def set_options(msg, options: Dict[str, Any]):
    """Sets the fields of an options message from keywords: enums by their
    short lower-case name ("highest_weights") or number, messages from
    dicts, repeated fields from sequences; None leaves a field unset."""
    for key, value in options.items():
        if value is None:
            continue
        fd = msg.DESCRIPTOR.fields_by_name.get(key)
        if fd is None:
            valid = ", ".join(sorted(msg.DESCRIPTOR.fields_by_name))
            raise TypeError(f"{msg.DESCRIPTOR.name} has no option {key!r}; its options: {valid}")
        if fd.enum_type is not None and isinstance(value, str):
            prefix = fd.enum_type.name  # FeatureSelection -> FEATURE_SELECTION_
            prefix = "".join("_" + c if c.isupper() and i else c for i, c in enumerate(prefix)).upper() + "_"
            name = value.upper()
            ev = fd.enum_type.values_by_name.get(name) or fd.enum_type.values_by_name.get(prefix + name)
            if ev is None:
                valid = ", ".join(v.name[len(prefix):].lower() for v in fd.enum_type.values if v.number)
                raise ValueError(f"{key}={value!r}: want one of {valid}")
            value = ev.number
        if fd.message_type is not None and fd.label != fd.LABEL_REPEATED:
            sub = getattr(msg, key)
            if isinstance(value, dict):
                set_options(sub, value)
            else:
                sub.CopyFrom(value)
        elif fd.label == fd.LABEL_REPEATED:
            field = getattr(msg, key)
            del field[:]
            field.extend(value)
        else:
            setattr(msg, key, value)
    return msg


# --- the client -----------------------------------------------------------


class Explainer:
    """A client of the explainer sidecar at target ("host:port").

    Every method runs one job on ExplainStream and returns an Explanation
    (or, for many rows or texts, a BatchExplanation). progress, here or per
    call, is called with a Progress on each progress event. A
    KeyboardInterrupt (Ctrl-C) while a job runs cancels the job on the
    sidecar (CancelJob), waits up to cancel_wait seconds for it to end,
    closes the stream and is raised again. A failed job raises
    ExplainError."""

    def __init__(self, target: str = "127.0.0.1:50051", model: str = "", *,
                 channel: Optional[grpc.Channel] = None, credentials=None,
                 timeout: Optional[float] = None,
                 progress: Optional[Callable[[Progress], None]] = None,
                 cancel_wait: float = 5.0):
        options = [("grpc.max_receive_message_length", 256 << 20),
                   ("grpc.max_send_message_length", 256 << 20)]
        self._own = channel is None
        if channel is None:
            channel = (grpc.secure_channel(target, credentials, options) if credentials
                       else grpc.insecure_channel(target, options))
        self.channel = channel
        self.stub = pb_grpc.ExplainerServiceStub(channel)
        self.model, self.timeout, self.progress, self.cancel_wait = model, timeout, progress, cancel_wait

    def close(self):
        if self._own:
            self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- methods ---

    def lime(self, row, training, *, feature_names=None, categorical_features=None,
             num_samples: int = 0, num_features: int = 10, labels: Sequence[int] = (),
             top_labels: int = 0, seed: Optional[int] = None, model: Optional[str] = None,
             progress=None, timeout=None, auto_sampling=None, evaluation=None,
             submodular_pick: int = 0, skip_failed: bool = False, **options):
        """Tabular LIME of row (or of every row of a 2-D table: a batch),
        sampling from training (a DataFrame or array: the sidecar computes
        its statistics). options: LimeOptions' other fields
        (feature_selection="highest_weights", kernel_width=..., ...)."""
        rows, names, batch = rows_of(row, feature_names)
        train, tnames = table(training, names or None)
        names = names or tnames
        opts = set_options(pb.LimeOptions(
            num_samples=num_samples, num_features=num_features, labels=list(labels),
            top_labels=top_labels, seed=seed,
            training=pb.TrainingData(dataset=dataset(train, names))), options)
        req = pb.ExplainRequest(lime=opts)
        self._tabular(req, rows, names, batch, categorical(categorical_features, names), submodular_pick, skip_failed)
        return self._run(req, model, progress, timeout, auto_sampling, evaluation)

    def kernel_shap(self, row, background, *, feature_names=None, num_samples: int = 0,
                    labels: Sequence[int] = (), top_labels: int = 0, seed: Optional[int] = None,
                    link: Optional[str] = None, background_weights=None, summarize: Optional[str] = None,
                    model: Optional[str] = None, progress=None, timeout=None, auto_sampling=None,
                    evaluation=None, submodular_pick: int = 0, skip_failed: bool = False, **options):
        """KernelSHAP of row (or of every row of a 2-D table) against
        background (1 to 1000 rows, or more with summarize="kmeans:K" or
        "sample:K"). link: "identity" or "logit"."""
        rows, names, batch = rows_of(row, feature_names)
        bg, bnames = table(background, names or None)
        names = names or bnames
        opts = set_options(pb.KernelShapOptions(
            num_samples=num_samples, labels=list(labels), top_labels=top_labels, seed=seed,
            background=dataset(bg, names, weights=background_weights)), dict(link=link, **options))
        if summarize:
            kind, _, k = summarize.partition(":")
            if kind not in ("kmeans", "sample") or not k.isdigit():
                raise ValueError(f'summarize={summarize!r}: want "kmeans:K" or "sample:K"')
            setattr(opts.background_summary, kind, int(k))
        req = pb.ExplainRequest(kernel_shap=opts)
        self._tabular(req, rows, names, batch, [], submodular_pick, skip_failed)
        return self._run(req, model, progress, timeout, auto_sampling, evaluation)

    def permutation(self, data, target, *, feature_names=None, scoring: Optional[str] = None,
                    repeats: int = 0, max_samples: float = 0, seed: Optional[int] = None,
                    weights=None, groups=None, model: Optional[str] = None, progress=None,
                    timeout=None, evaluation=None, **options) -> Explanation:
        """Permutation importance over data (a DataFrame or array) with
        target: a column name of data (left out of the features) or one
        value per row. scoring: "accuracy", "balanced_accuracy",
        "neg_log_loss", "roc_auc", "neg_mean_squared_error", "r2". groups:
        lists of feature indices or names permuted together. Large data sets
        are streamed in chunks."""
        if isinstance(target, str):
            if not _is_frame(data):
                raise TypeError(f"target={target!r} names a column: data must then be a DataFrame")
            data, target = data.drop(columns=[target]), data[target].to_numpy()
        arr, names = table(data, feature_names)
        y = np.asarray(target, dtype=float).ravel()
        if len(y) != arr.shape[0]:
            raise ValueError(f"{len(y)} targets for {arr.shape[0]} rows")
        opts = set_options(pb.PermutationOptions(repeats=repeats, max_samples=max_samples, seed=seed),
                           dict(scoring=scoring, **options))
        for g in groups or ():
            opts.groups.add(features=[names.index(f) if isinstance(f, str) else int(f) for f in g])
        chunks = None
        if arr.size > STREAM_VALUES:
            opts.streamed = True
            opts.data.CopyFrom(pb.Dataset(feature_names=names))
            chunks = (arr, y, None if weights is None else np.asarray(weights, dtype=float))
        else:
            opts.data.CopyFrom(dataset(arr, names, targets=y, weights=weights))
        req = pb.ExplainRequest(permutation=opts)
        return self._run(req, model, progress, timeout, None, evaluation, chunks=chunks)

    def lime_text(self, text, *, num_samples: int = 0, num_features: int = 10,
                  labels: Sequence[int] = (), top_labels: int = 0, seed: Optional[int] = None,
                  mask_string: str = "", split_expression: str = "", model: Optional[str] = None,
                  progress=None, timeout=None, auto_sampling=None, evaluation=None,
                  submodular_pick: int = 0, skip_failed: bool = False, **options):
        """LIME of a text (or of every text of a list: a batch), word by
        word. skip_failed: a batch leaves out a text the sidecar refuses (one
        without words) and explains the others (BatchExplanation.failures)."""
        opts = set_options(pb.LimeTextOptions(
            num_samples=num_samples, num_features=num_features, labels=list(labels),
            top_labels=top_labels, seed=seed, mask_string=mask_string), options)
        req = pb.ExplainRequest(lime_text=opts)
        if isinstance(text, str):
            req.instance.text.CopyFrom(pb.TextInstance(text=text, split_expression=split_expression))
        else:
            req.batch.text.CopyFrom(pb.TextBatch(texts=[str(t) for t in text],
                                                 split_expression=split_expression))
            req.batch.submodular_pick = submodular_pick
            req.batch.skip_failed = skip_failed
        return self._run(req, model, progress, timeout, auto_sampling, evaluation)

    def lime_image(self, image, *, layout: str = "hwc", num_samples: int = 0, num_features: int = 0,
                   labels: Sequence[int] = (), top_labels: int = 0, seed: Optional[int] = None,
                   model: Optional[str] = None, progress=None, timeout=None, auto_sampling=None,
                   evaluation=None, submodular_pick: int = 0, skip_failed: bool = False, **options):
        """LIME of an image (an H×W×C or H×W array, or C×H×W with
        layout="chw"; a list of images of one size is a batch): each
        label's attributions are per segment, e.segments the segment of each
        pixel. options: LimeImageOptions' other fields (segmentation={"grid":
        {"rows": 4, "cols": 4}} or {"slic": {"num_segments": 50}},
        fill={"kind": "blur"}, ...)."""
        opts = set_options(pb.LimeImageOptions(
            num_samples=num_samples, num_features=num_features, labels=list(labels),
            top_labels=top_labels, seed=seed), options)
        req = pb.ExplainRequest(lime_image=opts)
        _images(req, image, layout, submodular_pick, skip_failed)
        return self._run(req, model, progress, timeout, auto_sampling, evaluation)

    def occlusion(self, instance, *, window: Sequence[int] = (), strides: Sequence[int] = (),
                  baseline: float = 0, labels: Sequence[int] = (), layout: str = "hwc",
                  mask_string: str = "", model: Optional[str] = None, progress=None, timeout=None,
                  skip_failed: bool = False):
        """Captum's Occlusion of an image (as lime_image takes it; a list of
        images is a batch), in e.maps (label: an H×W array), or of a text (a
        str), per token in each label's attributions."""
        opts = pb.OcclusionOptions(window=list(window), strides=list(strides), baseline=baseline,
                                   labels=list(labels), mask_string=mask_string)
        req = pb.ExplainRequest(occlusion=opts)
        if isinstance(instance, str):
            req.instance.text.CopyFrom(pb.TextInstance(text=instance))
        else:
            _images(req, instance, layout, 0, skip_failed)
        return self._run(req, model, progress, timeout, None, None)

    def anchors(self, instance, training=None, *, feature_names=None, categorical_features=None,
                threshold: float = 0, seed: Optional[int] = None, model: Optional[str] = None,
                progress=None, timeout=None, skip_failed: bool = False, **options):
        """Anchors (alibi's AnchorTabular/AnchorText): a rule under which the
        model keeps its prediction, in each label's .anchor. instance is a row
        (rows drawn from training, a DataFrame or array) or a text; a 2-D
        table or a list of texts is a batch. threshold: the precision the
        rule must reach (default 0.95). options: AnchorOptions' other fields
        (beam_size=, coverage_samples=, ...)."""
        req = pb.ExplainRequest(anchors=set_options(pb.AnchorOptions(threshold=threshold, seed=seed), options))
        if isinstance(instance, str):
            req.instance.text.CopyFrom(pb.TextInstance(text=instance))
        elif isinstance(instance, (list, tuple)) and instance and all(isinstance(t, str) for t in instance):
            req.batch.text.CopyFrom(pb.TextBatch(texts=list(instance)))
            req.batch.skip_failed = skip_failed
        else:
            if training is None:
                raise TypeError("anchors of a row need training= rows to draw samples from")
            rows, names, batch = rows_of(instance, feature_names)
            train, tnames = table(training, names or None)
            names = names or tnames
            req.anchors.training.CopyFrom(dataset(train, names))  # req holds a copy of the options
            self._tabular(req, rows, names, batch, categorical(categorical_features, names), 0, skip_failed)
        return self._run(req, model, progress, timeout, None, None)

    def counterfactual(self, row, data, *, desired_class: Optional[int] = None, min_probability: float = 0,
                       count: int = 0, immutable=(), ranges=None, feature_names=None,
                       categorical_features=None, seed: Optional[int] = None, model: Optional[str] = None,
                       progress=None, timeout=None, skip_failed: bool = False, **options):
        """The closest rows (L1 in MAD units) the model puts in desired_class
        (default: any other class) with at least min_probability, in
        .counterfactuals, closest first. data (a DataFrame or array) gives
        each feature's scale and range. immutable: features (names or
        indices) never changed; ranges: {feature: (min, max)}. A 2-D table of
        rows is a batch."""
        rows, names, batch = rows_of(row, feature_names)
        arr, dnames = table(data, names or None)
        names = names or dnames
        index = _indexer(names)
        opts = set_options(pb.CounterfactualOptions(
            desired_class=desired_class, min_probability=min_probability, count=count, seed=seed,
            data=dataset(arr, names), immutable_features=[index(f) for f in immutable]), options)
        for f, (lo, hi) in (ranges or {}).items():
            opts.ranges.add(feature=index(f), min=float(lo), max=float(hi))
        req = pb.ExplainRequest(counterfactual=opts)
        self._tabular(req, rows, names, batch, categorical(categorical_features, names), 0, skip_failed)
        return self._run(req, model, progress, timeout, None, None)

    def partial_dependence(self, data, features, *, grid_resolution: int = 0, kind: str = "average",
                           centered: bool = False, labels: Sequence[int] = (), feature_names=None,
                           categorical_features=None, model: Optional[str] = None, progress=None,
                           timeout=None, **options) -> Explanation:
        """scikit-learn's partial_dependence(method="brute") over data: for
        each of features (a name or index, or a pair for 2-D), each label's
        .partial_dependence curves: the average and, with kind="individual"
        or "both", every row's (ICE)."""
        arr, names = table(data, feature_names)
        index = _indexer(names)
        opts = set_options(pb.PartialDependenceOptions(
            grid_resolution=grid_resolution, centered=centered, labels=list(labels), data=dataset(arr, names),
            categorical_features=categorical(categorical_features, names)), dict(kind=kind, **options))
        for f in features:
            opts.features.add(features=[index(x) for x in (f if isinstance(f, (tuple, list)) else (f,))])
        return self._run(pb.ExplainRequest(partial_dependence=opts), model, progress, timeout, None, None)

    def ale(self, data, features=(), *, bins: int = 0, labels: Sequence[int] = (), feature_names=None,
            categorical_features=None, model: Optional[str] = None, progress=None, timeout=None,
            **options) -> Explanation:
        """Accumulated local effects (alibi's ALE) of features (names or
        indices; default every numeric one) over data, in each label's .ale
        curves."""
        arr, names = table(data, feature_names)
        index = _indexer(names)
        opts = set_options(pb.AleOptions(
            bins=bins, labels=list(labels), data=dataset(arr, names), features=[index(f) for f in features],
            categorical_features=categorical(categorical_features, names)), options)
        return self._run(pb.ExplainRequest(ale=opts), model, progress, timeout, None, None)

    def explain(self, request: pb.ExplainRequest, *, progress=None, timeout=None):
        """Runs any ExplainRequest (the API's message) on ExplainStream."""
        return self._run(request, None, progress, timeout, None, None)

    # --- plumbing ---

    @staticmethod
    def _tabular(req, rows, names, batch, cats, submodular_pick, skip_failed):
        if batch:
            req.batch.tabular.CopyFrom(pb.TabularBatch(rows=dataset(rows, names), categorical_features=cats))
            req.batch.submodular_pick = submodular_pick
            req.batch.skip_failed = skip_failed
        else:
            req.instance.tabular.CopyFrom(pb.TabularInstance(
                values=rows[0].tolist(), feature_names=names, categorical_features=cats))

    def _run(self, req, model, progress, timeout, auto_sampling, evaluation, chunks=None):
        req.model = model if model is not None else self.model
        if auto_sampling is not None:
            getattr(req, req.WhichOneof("method")).num_samples = 0
            set_options(req.auto_sampling, auto_sampling)
        if evaluation is not None:
            set_options(req.evaluation, evaluation)
        return run_job(self.stub, req, progress or self.progress,
                       timeout if timeout is not None else self.timeout, self.cancel_wait, chunks)


def _chunk_requests(job_id, chunks, values_per_chunk=STREAM_VALUES // 2):
    arr, y, w = chunks
    step = max(1, values_per_chunk // max(arr.shape[1], 1))
    for start in range(0, arr.shape[0], step):
        end = min(start + step, arr.shape[0])
        c = pb.DataChunk(job_id=job_id, values=arr[start:end].ravel().tolist(),
                         targets=y[start:end].tolist(), last=end == arr.shape[0])
        if w is not None:
            c.weights.extend(w[start:end].tolist())
        yield pb.ExplainStreamRequest(data=c)


def run_job(stub, request, progress=None, timeout=None, cancel_wait=5.0, chunks=None):
    """Runs one job on a new ExplainStream and returns its Explanation (a
    BatchExplanation for a batch request)."""
    job_id = f"py-{next(_job_ids)}"
    outgoing: "queue.Queue" = queue.Queue()  # requests; None closes the send side
    incoming: "queue.Queue" = queue.Queue()  # responses, then None or an RpcError

    def requests():
        while (r := outgoing.get()) is not None:
            yield r

    call = stub.ExplainStream(requests(), timeout=timeout)

    def read():  # a thread, so that the caller's thread can take Ctrl-C at any moment
        try:
            for resp in call:
                incoming.put(resp)
            incoming.put(None)
        except grpc.RpcError as e:
            incoming.put(e)

    threading.Thread(target=read, daemon=True, name=f"explainer-{job_id}").start()
    outgoing.put(pb.ExplainStreamRequest(start=pb.StartJob(job_id=job_id, request=request)))
    if chunks is not None:
        for c in _chunk_requests(job_id, chunks):
            outgoing.put(c)

    instances: Dict[int, pb.Explanation] = {}
    failures: Dict[int, pb.InstanceError] = {}  # instances left out (skip_failed)
    batch = request.HasField("batch")

    def next_event(deadline=None):
        while True:
            if deadline is not None and time.monotonic() > deadline:
                return None
            try:
                item = incoming.get(timeout=0.1)  # short waits keep Ctrl-C prompt
            except queue.Empty:
                continue
            if item is None:
                raise ExplainError(grpc.StatusCode.UNAVAILABLE, "the stream ended before the job did")
            if isinstance(item, grpc.RpcError):
                raise ExplainError(item.code(), item.details() or str(item))
            if item.job_id == job_id:
                return item

    done = False
    try:
        try:
            while True:
                item = next_event()
                kind = item.WhichOneof("event")
                if kind == "progress" and progress is not None:
                    progress(Progress.from_proto(item.progress))
                elif kind == "instance":
                    if item.instance.HasField("error"):
                        failures[item.instance.index] = item.instance.error
                    else:
                        instances[item.instance.index] = item.instance.explanation
                elif kind == "error":
                    done = True
                    raise ExplainError(_CODES.get(item.error.code, grpc.StatusCode.UNKNOWN), item.error.message)
                elif kind == "result":
                    done = True
                    if batch:
                        return BatchExplanation.from_proto(item.result, instances, failures)
                    return Explanation.from_proto(item.result)
        except KeyboardInterrupt:
            # Cancel the job, give it cancel_wait seconds to end (a second
            # Ctrl-C drops the stream at once), then close the stream below.
            outgoing.put(pb.ExplainStreamRequest(cancel=pb.CancelJob(job_id=job_id)))
            deadline, how = time.monotonic() + cancel_wait, "no answer in time; stream dropped"
            try:
                while (item := next_event(deadline)) is not None:
                    kind = item.WhichOneof("event")
                    if kind == "error":
                        how = f"{_CODES.get(item.error.code, grpc.StatusCode.UNKNOWN).name}: {item.error.message}"
                        done = True
                        break
                    if kind == "result":
                        how, done = "it had finished", True
                        break
            except ExplainError as e:
                how = f"stream ended: {e}"
            log.info("job %s interrupted: cancelled on the sidecar (%s)", job_id, how)
            raise
    finally:
        outgoing.put(None)  # close the send side: the sidecar then ends the stream
        if not done:
            call.cancel()  # the job did not end: drop the stream
