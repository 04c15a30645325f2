"""Results as dataclasses, converted from the API's messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from explainer_client._gen.explainer.v1 import explainer_pb2 as pb

PANDAS_MISSING = (
    "to_frame() needs pandas, which is not installed: install it "
    "(pip install pandas, or apt-get install python3-pandas) or use "
    "to_records(), which returns the same rows as a list of dicts"
)


def _pandas():
    try:
        import pandas
    except ImportError as e:
        raise ImportError(PANDAS_MISSING) from e
    return pandas


def _frame(records: List[Dict[str, Any]], columns: List[str]):
    return _pandas().DataFrame.from_records(records, columns=columns)


def _enum_name(enum, value: int, prefix: str) -> str:
    """STOP_REASON_TARGET_MET -> "target_met"; 0 -> ""."""
    if not value:
        return ""
    name = enum.Name(value)
    return name[len(prefix):].lower() if name.startswith(prefix) else name.lower()


@dataclass
class Progress:
    """A job's progress (ExplainStream's progress event)."""

    samples_scored: int = 0
    samples_total: int = 0
    model_calls: int = 0
    instances_done: int = 0
    instances_total: int = 0

    @property
    def fraction(self) -> float:
        """Done, from 0 to 1 (0 while the total is unknown)."""
        if self.instances_total:
            return min(self.instances_done / self.instances_total, 1.0)
        if self.samples_total:
            return min(self.samples_scored / self.samples_total, 1.0)
        return 0.0

    @classmethod
    def from_proto(cls, p: pb.Progress) -> "Progress":
        return cls(p.samples_scored, p.samples_total, p.model_calls, p.instances_done, p.instances_total)


@dataclass
class Attribution:
    """One feature's weight for a label. std_error is 0 when it cannot be
    estimated; std and values are permutation importance's repeats."""

    index: int
    feature: str
    weight: float
    std_error: float = 0.0
    std: float = 0.0
    mean_abs: float = 0.0
    features: List[int] = field(default_factory=list)
    values: List[float] = field(default_factory=list)
    spans: List[tuple] = field(default_factory=list)

    @classmethod
    def from_proto(cls, a: pb.Attribution) -> "Attribution":
        return cls(a.index, a.feature, a.weight, a.std_error, a.std, a.mean_abs,
                   list(a.features), list(a.values), [(s.start, s.end) for s in a.spans])


@dataclass
class Anchor:
    """A rule under which the model keeps its prediction: predicates (their
    descriptions, "worst area > 1084.00" or a word) and the features they
    are on, with the rule's precision and coverage."""

    predicates: List[str]
    features: List[int]
    precision: float
    coverage: float
    threshold_met: bool

    @classmethod
    def from_proto(cls, a: pb.Anchor) -> "Anchor":
        return cls([p.description for p in a.predicates], [p.index for p in a.predicates],
                   a.precision, a.coverage, a.threshold_met)

    def __str__(self) -> str:
        return "IF " + " AND ".join(self.predicates) if self.predicates else "(any instance)"


@dataclass
class Change:
    """One feature a counterfactual changes; scaled is the change in MAD
    units."""

    index: int
    feature: str
    from_: float
    to: float
    scaled: float


@dataclass
class Counterfactual:
    """A row the model puts in label (valid when it reaches the requested
    class and probability), its changes, sparsity (features changed) and
    proximity (L1 in MAD units)."""

    values: List[float]
    scores: List[float]
    label: int
    valid: bool
    changes: List[Change]
    sparsity: int
    proximity: float

    @classmethod
    def from_proto(cls, c: pb.Counterfactual) -> "Counterfactual":
        return cls(list(c.values), list(c.scores), c.label, c.valid,
                   [Change(ch.index, ch.feature, getattr(ch, "from"), ch.to, ch.scaled) for ch in c.changes],
                   c.sparsity, c.proximity)


@dataclass
class PartialDependenceCurve:
    """scikit-learn's partial dependence of one feature (or a pair: the
    second feature's grid in second_grid, average row-major): average over
    the rows per grid point, its standard errors, and each row's curve
    (individual, ICE) when asked."""

    feature_index: int
    feature: str
    grid: List[float]
    average: List[float]
    average_std_error: List[float]
    individual: List[List[float]]
    second_feature_index: Optional[int] = None
    second_feature: str = ""
    second_grid: List[float] = field(default_factory=list)
    centered: bool = False

    @classmethod
    def from_proto(cls, p: pb.PartialDependence) -> "PartialDependenceCurve":
        return cls(p.feature_index, p.feature, list(p.grid), list(p.average), list(p.average_std_error),
                   [list(c.values) for c in p.individual],
                   p.second_feature_index if p.HasField("second_feature_index") else None,
                   p.second_feature, list(p.second_grid), p.centered)


@dataclass
class ALECurve:
    """Accumulated local effects of one feature: the effect at each bin
    edge (centred: its mean over the rows is 0), their standard errors, the
    rows per bin and the mean score (constant)."""

    feature_index: int
    feature: str
    edges: List[float]
    effects: List[float]
    std_errors: List[float]
    bin_counts: List[int]
    constant: float

    @classmethod
    def from_proto(cls, a: pb.AccumulatedLocalEffects) -> "ALECurve":
        return cls(a.feature_index, a.feature, list(a.edges), list(a.effects), list(a.std_errors),
                   list(a.bin_counts), a.constant)


@dataclass
class LabelExplanation:
    """The explanation of one label (class); attributions by decreasing
    |weight|."""

    label: int
    class_name: str
    prediction: float
    attributions: List[Attribution]
    intercept: float = 0.0
    score: float = 0.0
    local_prediction: float = 0.0
    base_value: float = 0.0
    model_value: float = 0.0
    anchor: Optional[Anchor] = None  # anchors
    partial_dependence: List[PartialDependenceCurve] = field(default_factory=list)
    ale: List[ALECurve] = field(default_factory=list)

    @classmethod
    def from_proto(cls, le: pb.LabelExplanation, class_names=()) -> "LabelExplanation":
        name = le.class_name or (class_names[le.label] if le.label < len(class_names) else "")
        return cls(le.label, name, le.prediction, [Attribution.from_proto(a) for a in le.attributions],
                   le.intercept, le.score, le.local_prediction, le.base_value, le.model_value,
                   Anchor.from_proto(le.anchor) if le.HasField("anchor") else None,
                   [PartialDependenceCurve.from_proto(p) for p in le.partial_dependence],
                   [ALECurve.from_proto(a) for a in le.accumulated_local_effects])

    def as_dict(self) -> Dict[str, float]:
        """{feature: weight}, in the attributions' order."""
        return {a.feature: a.weight for a in self.attributions}


RECORD_COLUMNS = ["label", "class_name", "feature", "index", "weight", "std_error", "std"]


@dataclass
class Explanation:
    """One job's explanation (or one instance's, in a batch). elapsed is in
    seconds; scoring, stop_reason and feature_selection are lower-case names
    ("accuracy", "target_met") or "" when not set. raw is the API message."""

    method: str
    model: str
    labels: List[LabelExplanation]
    instance_scores: List[float] = field(default_factory=list)
    class_names: List[str] = field(default_factory=list)
    seed: int = 0
    num_samples: int = 0
    model_calls: int = 0
    elapsed: float = 0.0
    scoring: str = ""
    baseline_score: float = 0.0
    stop_reason: str = ""
    rounds: int = 0
    precision: float = 0.0
    counterfactuals: List[Counterfactual] = field(default_factory=list)  # closest first
    # Images: occlusion's map per label (H×W), LIME's segment of each pixel.
    maps: Dict[int, Any] = field(default_factory=dict)
    segments: Any = None
    index: Optional[int] = None  # the instance's index, in a batch
    raw: Optional[pb.Explanation] = field(default=None, repr=False, compare=False)

    @classmethod
    def from_proto(cls, e: pb.Explanation, index: Optional[int] = None) -> "Explanation":
        names = list(e.class_names)
        return cls(
            method=e.method, model=e.model,
            labels=[LabelExplanation.from_proto(le, names) for le in e.labels],
            instance_scores=list(e.instance_scores), class_names=names,
            seed=e.seed, num_samples=e.num_samples, model_calls=e.model_calls,
            elapsed=e.elapsed.seconds + e.elapsed.nanos / 1e9,
            scoring=_enum_name(pb.Scoring, e.scoring, "SCORING_"),
            baseline_score=e.baseline_score,
            stop_reason=_enum_name(pb.StopReason, e.stop_reason, "STOP_REASON_"),
            rounds=e.rounds, precision=e.precision,
            counterfactuals=[Counterfactual.from_proto(c) for c in e.counterfactuals],
            maps={m.label: np.asarray(m.values).reshape(m.height, m.width) for m in e.maps},
            segments=(np.asarray(e.segments.labels).reshape(e.segments.height, e.segments.width)
                      if e.HasField("segments") else None),
            index=index, raw=e,
        )

    def label(self, label=None) -> LabelExplanation:
        """The explanation of a label, by index or class name; the first
        explained label when None."""
        for le in self.labels:
            if label is None or label == le.label or (isinstance(label, str) and label == le.class_name):
                return le
        raise KeyError(f"label {label!r} is not explained; explained: {[le.label for le in self.labels]}")

    def to_records(self) -> List[Dict[str, Any]]:
        """One dict per (label, attribution), in the attributions' order."""
        rows = []
        for le in self.labels:
            for a in le.attributions:
                rows.append({"label": le.label, "class_name": le.class_name, "feature": a.feature,
                             "index": a.index, "weight": a.weight, "std_error": a.std_error, "std": a.std})
        if self.index is not None:
            for r in rows:
                r["instance"] = self.index
        return rows

    def to_frame(self):
        """A pandas DataFrame: one row per (label, attribution), columns
        label, class_name, feature, index, weight, std_error, std."""
        cols = (["instance"] if self.index is not None else []) + RECORD_COLUMNS
        return _frame(self.to_records(), cols)


@dataclass
class GlobalAttribution:
    """One feature over a batch's instances, for one label."""

    index: int
    feature: str
    mean_abs: float
    std_error: float
    mean: float
    count: int


@dataclass
class BatchSummary:
    """A label's global view over a batch: features by decreasing mean
    |weight|; picked is SP-LIME's pick."""

    label: int
    class_name: str
    features: List[GlobalAttribution]
    picked: List[int] = field(default_factory=list)
    coverage: float = 0.0
    total_importance: float = 0.0

    def to_frame(self):
        return _frame([vars(f) for f in self.features],
                      ["index", "feature", "mean_abs", "std_error", "mean", "count"])


@dataclass
class InstanceFailure:
    """An instance of a batch left out (skip_failed): its index, the
    gRPC code its single request would get ("INVALID_ARGUMENT") and why."""

    index: int
    code: str
    message: str


@dataclass
class BatchExplanation:
    """A batch job's result: every instance's explanation, in instance
    order (each with its index; with skip_failed, the instances left out
    are in failures instead), and the global summaries."""

    explanations: List[Explanation]
    summaries: List[BatchSummary]
    failures: List[InstanceFailure] = field(default_factory=list)
    label_picked: bool = False
    label: int = 0
    label_count: int = 0
    method: str = ""
    model: str = ""
    seed: int = 0
    num_samples: int = 0
    model_calls: int = 0
    elapsed: float = 0.0
    raw: Optional[pb.Explanation] = field(default=None, repr=False, compare=False)

    @classmethod
    def from_proto(cls, e: pb.Explanation, instances: Dict[int, pb.Explanation],
                   failures: Optional[Dict[int, Any]] = None) -> "BatchExplanation":
        """e is the job's result; instances and failures the
        InstanceExplanation events by index (ExplainStream sends them apart
        from the result)."""
        b = e.batch
        failed = dict(failures or {})
        for f in b.failures:  # Explain lists them in the result
            failed.setdefault(f.index, f)
        got = dict(instances)
        for i, x in enumerate(b.explanations):  # Explain puts them in the result
            if i not in failed:
                got.setdefault(i, x)
        names = list(e.class_names)
        return cls(
            failures=[InstanceFailure(i, failed[i].code, failed[i].message) for i in sorted(failed)],
            explanations=[Explanation.from_proto(got[i], index=i) for i in sorted(got)],
            summaries=[BatchSummary(
                s.label, s.class_name or (names[s.label] if s.label < len(names) else ""),
                [GlobalAttribution(g.index, g.feature, g.mean_abs, g.std_error, g.mean, g.count)
                 for g in s.features],
                list(s.picked), s.coverage, s.total_importance) for s in b.summaries],
            label_picked=b.label_picked, label=b.label, label_count=b.label_count,
            method=e.method, model=e.model, seed=e.seed, num_samples=e.num_samples,
            model_calls=e.model_calls, elapsed=e.elapsed.seconds + e.elapsed.nanos / 1e9, raw=e,
        )

    def __len__(self) -> int:
        return len(self.explanations)

    def __getitem__(self, i: int) -> Explanation:
        return self.explanations[i]

    def to_records(self) -> List[Dict[str, Any]]:
        return [r for x in self.explanations for r in x.to_records()]

    def to_frame(self):
        """A pandas DataFrame: one row per (instance, label, attribution)."""
        return _frame(self.to_records(), ["instance"] + RECORD_COLUMNS)
