from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
DISCRETIZER_DECILE: Discretizer
DISCRETIZER_QUARTILE: Discretizer
DISCRETIZER_UNSPECIFIED: Discretizer
FEATURE_SELECTION_AUTO: FeatureSelection
FEATURE_SELECTION_FORWARD_SELECTION: FeatureSelection
FEATURE_SELECTION_HIGHEST_WEIGHTS: FeatureSelection
FEATURE_SELECTION_LASSO_PATH: FeatureSelection
FEATURE_SELECTION_NONE: FeatureSelection
FEATURE_SELECTION_UNSPECIFIED: FeatureSelection
FILL_KIND_BLUR: FillKind
FILL_KIND_CONSTANT: FillKind
FILL_KIND_MEAN: FillKind
FILL_KIND_SEGMENT_MEAN: FillKind
FILL_KIND_UNSPECIFIED: FillKind
IMAGE_LAYOUT_CHW: ImageLayout
IMAGE_LAYOUT_HWC: ImageLayout
IMAGE_LAYOUT_UNSPECIFIED: ImageLayout
LINK_IDENTITY: Link
LINK_LOGIT: Link
LINK_UNSPECIFIED: Link
PDP_KIND_AVERAGE: PdpKind
PDP_KIND_BOTH: PdpKind
PDP_KIND_INDIVIDUAL: PdpKind
PDP_KIND_UNSPECIFIED: PdpKind
REGRESSOR_LASSO: Regressor
REGRESSOR_RIDGE: Regressor
REGRESSOR_UNSPECIFIED: Regressor
SCORING_ACCURACY: Scoring
SCORING_BALANCED_ACCURACY: Scoring
SCORING_NEG_LOG_LOSS: Scoring
SCORING_NEG_MEAN_SQUARED_ERROR: Scoring
SCORING_R2: Scoring
SCORING_ROC_AUC: Scoring
SCORING_UNSPECIFIED: Scoring
STOP_REASON_BUDGET_SPENT: StopReason
STOP_REASON_CANCELLED: StopReason
STOP_REASON_EXHAUSTED: StopReason
STOP_REASON_TARGET_MET: StopReason
STOP_REASON_UNSPECIFIED: StopReason

class AccumulatedLocalEffects(_message.Message):
    __slots__ = ["bin_counts", "constant", "edges", "effects", "feature", "feature_index", "std_errors"]
    BIN_COUNTS_FIELD_NUMBER: _ClassVar[int]
    CONSTANT_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_INDEX_FIELD_NUMBER: _ClassVar[int]
    STD_ERRORS_FIELD_NUMBER: _ClassVar[int]
    bin_counts: _containers.RepeatedScalarFieldContainer[int]
    constant: float
    edges: _containers.RepeatedScalarFieldContainer[float]
    effects: _containers.RepeatedScalarFieldContainer[float]
    feature: str
    feature_index: int
    std_errors: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, feature_index: _Optional[int] = ..., feature: _Optional[str] = ..., edges: _Optional[_Iterable[float]] = ..., effects: _Optional[_Iterable[float]] = ..., std_errors: _Optional[_Iterable[float]] = ..., bin_counts: _Optional[_Iterable[int]] = ..., constant: _Optional[float] = ...) -> None: ...

class AleOptions(_message.Message):
    __slots__ = ["bins", "categorical_features", "data", "features", "labels", "min_bin_points", "streamed"]
    BINS_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_FEATURES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MIN_BIN_POINTS_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    bins: int
    categorical_features: _containers.RepeatedCompositeFieldContainer[CategoricalFeature]
    data: Dataset
    features: _containers.RepeatedScalarFieldContainer[int]
    labels: _containers.RepeatedScalarFieldContainer[int]
    min_bin_points: int
    streamed: bool
    def __init__(self, data: _Optional[_Union[Dataset, _Mapping]] = ..., streamed: bool = ..., features: _Optional[_Iterable[int]] = ..., bins: _Optional[int] = ..., min_bin_points: _Optional[int] = ..., labels: _Optional[_Iterable[int]] = ..., categorical_features: _Optional[_Iterable[_Union[CategoricalFeature, _Mapping]]] = ...) -> None: ...

class Anchor(_message.Message):
    __slots__ = ["coverage", "covered_false", "covered_true", "precision", "predicates", "threshold_met"]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    COVERED_FALSE_FIELD_NUMBER: _ClassVar[int]
    COVERED_TRUE_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    PREDICATES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_MET_FIELD_NUMBER: _ClassVar[int]
    coverage: float
    covered_false: _containers.RepeatedCompositeFieldContainer[AnchorExample]
    covered_true: _containers.RepeatedCompositeFieldContainer[AnchorExample]
    precision: float
    predicates: _containers.RepeatedCompositeFieldContainer[AnchorPredicate]
    threshold_met: bool
    def __init__(self, predicates: _Optional[_Iterable[_Union[AnchorPredicate, _Mapping]]] = ..., precision: _Optional[float] = ..., coverage: _Optional[float] = ..., threshold_met: bool = ..., covered_true: _Optional[_Iterable[_Union[AnchorExample, _Mapping]]] = ..., covered_false: _Optional[_Iterable[_Union[AnchorExample, _Mapping]]] = ...) -> None: ...

class AnchorBatchSummary(_message.Message):
    __slots__ = ["anchors", "features", "mean_coverage", "mean_precision", "mean_predicates", "threshold_met"]
    ANCHORS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    MEAN_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    MEAN_PRECISION_FIELD_NUMBER: _ClassVar[int]
    MEAN_PREDICATES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_MET_FIELD_NUMBER: _ClassVar[int]
    anchors: int
    features: _containers.RepeatedCompositeFieldContainer[RuleFeature]
    mean_coverage: float
    mean_precision: float
    mean_predicates: float
    threshold_met: int
    def __init__(self, anchors: _Optional[int] = ..., threshold_met: _Optional[int] = ..., mean_precision: _Optional[float] = ..., mean_coverage: _Optional[float] = ..., mean_predicates: _Optional[float] = ..., features: _Optional[_Iterable[_Union[RuleFeature, _Mapping]]] = ...) -> None: ...

class AnchorExample(_message.Message):
    __slots__ = ["segments", "text", "values"]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedScalarFieldContainer[int]
    text: str
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ..., text: _Optional[str] = ..., segments: _Optional[_Iterable[int]] = ...) -> None: ...

class AnchorOptions(_message.Message):
    __slots__ = ["batch_size", "beam_size", "coverage_samples", "delta", "epsilon", "examples", "fill", "mask_string", "max_anchor_size", "min_samples_start", "sample_probability", "seed", "segmentation", "threshold", "training"]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    BEAM_SIZE_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    MASK_STRING_FIELD_NUMBER: _ClassVar[int]
    MAX_ANCHOR_SIZE_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLES_START_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    batch_size: int
    beam_size: int
    coverage_samples: int
    delta: float
    epsilon: float
    examples: int
    fill: Fill
    mask_string: str
    max_anchor_size: int
    min_samples_start: int
    sample_probability: float
    seed: int
    segmentation: Segmentation
    threshold: float
    training: Dataset
    def __init__(self, threshold: _Optional[float] = ..., delta: _Optional[float] = ..., epsilon: _Optional[float] = ..., beam_size: _Optional[int] = ..., batch_size: _Optional[int] = ..., coverage_samples: _Optional[int] = ..., max_anchor_size: _Optional[int] = ..., min_samples_start: _Optional[int] = ..., examples: _Optional[int] = ..., seed: _Optional[int] = ..., training: _Optional[_Union[Dataset, _Mapping]] = ..., mask_string: _Optional[str] = ..., sample_probability: _Optional[float] = ..., segmentation: _Optional[_Union[Segmentation, _Mapping]] = ..., fill: _Optional[_Union[Fill, _Mapping]] = ...) -> None: ...

class AnchorPredicate(_message.Message):
    __slots__ = ["coverage", "description", "index", "precision", "spans"]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    coverage: float
    description: str
    index: int
    precision: float
    spans: _containers.RepeatedCompositeFieldContainer[TextSpan]
    def __init__(self, index: _Optional[int] = ..., description: _Optional[str] = ..., precision: _Optional[float] = ..., coverage: _Optional[float] = ..., spans: _Optional[_Iterable[_Union[TextSpan, _Mapping]]] = ...) -> None: ...

class Attribution(_message.Message):
    __slots__ = ["feature", "features", "index", "mean_abs", "spans", "std", "std_error", "values", "weight"]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MEAN_ABS_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    STD_ERROR_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    feature: str
    features: _containers.RepeatedScalarFieldContainer[int]
    index: int
    mean_abs: float
    spans: _containers.RepeatedCompositeFieldContainer[TextSpan]
    std: float
    std_error: float
    values: _containers.RepeatedScalarFieldContainer[float]
    weight: float
    def __init__(self, index: _Optional[int] = ..., feature: _Optional[str] = ..., weight: _Optional[float] = ..., features: _Optional[_Iterable[int]] = ..., std: _Optional[float] = ..., values: _Optional[_Iterable[float]] = ..., mean_abs: _Optional[float] = ..., spans: _Optional[_Iterable[_Union[TextSpan, _Mapping]]] = ..., std_error: _Optional[float] = ...) -> None: ...

class AttributionMap(_message.Message):
    __slots__ = ["height", "label", "std_errors", "values", "width"]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    STD_ERRORS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    height: int
    label: int
    std_errors: _containers.RepeatedScalarFieldContainer[float]
    values: _containers.RepeatedScalarFieldContainer[float]
    width: int
    def __init__(self, label: _Optional[int] = ..., height: _Optional[int] = ..., width: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ..., std_errors: _Optional[_Iterable[float]] = ...) -> None: ...

class AutoSampling(_message.Message):
    __slots__ = ["initial_samples", "max_samples", "stable_ranking", "tolerance", "top_k"]
    INITIAL_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    STABLE_RANKING_FIELD_NUMBER: _ClassVar[int]
    TOLERANCE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    initial_samples: int
    max_samples: int
    stable_ranking: bool
    tolerance: float
    top_k: int
    def __init__(self, initial_samples: _Optional[int] = ..., max_samples: _Optional[int] = ..., tolerance: _Optional[float] = ..., top_k: _Optional[int] = ..., stable_ranking: bool = ...) -> None: ...

class BackgroundSummary(_message.Message):
    __slots__ = ["kmeans", "sample"]
    KMEANS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    kmeans: int
    sample: int
    def __init__(self, kmeans: _Optional[int] = ..., sample: _Optional[int] = ...) -> None: ...

class BatchExplanation(_message.Message):
    __slots__ = ["anchors", "counterfactuals", "explanations", "failures", "instances", "label", "label_count", "label_picked", "summaries"]
    ANCHORS_FIELD_NUMBER: _ClassVar[int]
    COUNTERFACTUALS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATIONS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    LABEL_COUNT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LABEL_PICKED_FIELD_NUMBER: _ClassVar[int]
    SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    anchors: AnchorBatchSummary
    counterfactuals: CounterfactualBatchSummary
    explanations: _containers.RepeatedCompositeFieldContainer[Explanation]
    failures: _containers.RepeatedCompositeFieldContainer[InstanceError]
    instances: int
    label: int
    label_count: int
    label_picked: bool
    summaries: _containers.RepeatedCompositeFieldContainer[BatchSummary]
    def __init__(self, instances: _Optional[int] = ..., explanations: _Optional[_Iterable[_Union[Explanation, _Mapping]]] = ..., label_picked: bool = ..., label: _Optional[int] = ..., label_count: _Optional[int] = ..., summaries: _Optional[_Iterable[_Union[BatchSummary, _Mapping]]] = ..., anchors: _Optional[_Union[AnchorBatchSummary, _Mapping]] = ..., counterfactuals: _Optional[_Union[CounterfactualBatchSummary, _Mapping]] = ..., failures: _Optional[_Iterable[_Union[InstanceError, _Mapping]]] = ...) -> None: ...

class BatchSummary(_message.Message):
    __slots__ = ["class_name", "coverage", "features", "label", "picked", "total_importance"]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PICKED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    class_name: str
    coverage: float
    features: _containers.RepeatedCompositeFieldContainer[GlobalAttribution]
    label: int
    picked: _containers.RepeatedScalarFieldContainer[int]
    total_importance: float
    def __init__(self, label: _Optional[int] = ..., class_name: _Optional[str] = ..., features: _Optional[_Iterable[_Union[GlobalAttribution, _Mapping]]] = ..., picked: _Optional[_Iterable[int]] = ..., coverage: _Optional[float] = ..., total_importance: _Optional[float] = ...) -> None: ...

class CancelJob(_message.Message):
    __slots__ = ["job_id"]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CategoricalFeature(_message.Message):
    __slots__ = ["category_names", "index"]
    CATEGORY_NAMES_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    category_names: _containers.RepeatedScalarFieldContainer[str]
    index: int
    def __init__(self, index: _Optional[int] = ..., category_names: _Optional[_Iterable[str]] = ...) -> None: ...

class Counterfactual(_message.Message):
    __slots__ = ["changes", "label", "proximity", "scores", "sparsity", "valid", "values"]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROXIMITY_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    SPARSITY_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[FeatureChange]
    label: int
    proximity: float
    scores: _containers.RepeatedScalarFieldContainer[float]
    sparsity: int
    valid: bool
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ..., scores: _Optional[_Iterable[float]] = ..., label: _Optional[int] = ..., valid: bool = ..., changes: _Optional[_Iterable[_Union[FeatureChange, _Mapping]]] = ..., sparsity: _Optional[int] = ..., proximity: _Optional[float] = ...) -> None: ...

class CounterfactualBatchSummary(_message.Message):
    __slots__ = ["features", "found", "mean_proximity", "mean_sparsity", "searched"]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    MEAN_PROXIMITY_FIELD_NUMBER: _ClassVar[int]
    MEAN_SPARSITY_FIELD_NUMBER: _ClassVar[int]
    SEARCHED_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedCompositeFieldContainer[RuleFeature]
    found: int
    mean_proximity: float
    mean_sparsity: float
    searched: int
    def __init__(self, searched: _Optional[int] = ..., found: _Optional[int] = ..., mean_sparsity: _Optional[float] = ..., mean_proximity: _Optional[float] = ..., features: _Optional[_Iterable[_Union[RuleFeature, _Mapping]]] = ...) -> None: ...

class CounterfactualOptions(_message.Message):
    __slots__ = ["count", "data", "desired_class", "immutable_features", "max_generations", "min_probability", "population", "ranges", "seed"]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DESIRED_CLASS_FIELD_NUMBER: _ClassVar[int]
    IMMUTABLE_FEATURES_FIELD_NUMBER: _ClassVar[int]
    MAX_GENERATIONS_FIELD_NUMBER: _ClassVar[int]
    MIN_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    POPULATION_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    count: int
    data: Dataset
    desired_class: int
    immutable_features: _containers.RepeatedScalarFieldContainer[int]
    max_generations: int
    min_probability: float
    population: int
    ranges: _containers.RepeatedCompositeFieldContainer[FeatureRange]
    seed: int
    def __init__(self, data: _Optional[_Union[Dataset, _Mapping]] = ..., desired_class: _Optional[int] = ..., min_probability: _Optional[float] = ..., count: _Optional[int] = ..., immutable_features: _Optional[_Iterable[int]] = ..., ranges: _Optional[_Iterable[_Union[FeatureRange, _Mapping]]] = ..., population: _Optional[int] = ..., max_generations: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class DataChunk(_message.Message):
    __slots__ = ["job_id", "last", "targets", "values", "weights"]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    last: bool
    targets: _containers.RepeatedScalarFieldContainer[float]
    values: _containers.RepeatedScalarFieldContainer[float]
    weights: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, job_id: _Optional[str] = ..., values: _Optional[_Iterable[float]] = ..., targets: _Optional[_Iterable[float]] = ..., weights: _Optional[_Iterable[float]] = ..., last: bool = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ["feature_names", "num_rows", "targets", "values", "weights"]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    NUM_ROWS_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    num_rows: int
    targets: _containers.RepeatedScalarFieldContainer[float]
    values: _containers.RepeatedScalarFieldContainer[float]
    weights: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, num_rows: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ..., targets: _Optional[_Iterable[float]] = ..., weights: _Optional[_Iterable[float]] = ..., feature_names: _Optional[_Iterable[str]] = ...) -> None: ...

class Evaluation(_message.Message):
    __slots__ = ["curve_steps", "fidelity_curves", "random_orders", "stability_runs", "top_k"]
    CURVE_STEPS_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_CURVES_FIELD_NUMBER: _ClassVar[int]
    RANDOM_ORDERS_FIELD_NUMBER: _ClassVar[int]
    STABILITY_RUNS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    curve_steps: int
    fidelity_curves: bool
    random_orders: int
    stability_runs: int
    top_k: int
    def __init__(self, stability_runs: _Optional[int] = ..., fidelity_curves: bool = ..., random_orders: _Optional[int] = ..., top_k: _Optional[int] = ..., curve_steps: _Optional[int] = ...) -> None: ...

class EvaluationReport(_message.Message):
    __slots__ = ["curves", "model_calls", "num_samples", "stability"]
    CURVES_FIELD_NUMBER: _ClassVar[int]
    MODEL_CALLS_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    STABILITY_FIELD_NUMBER: _ClassVar[int]
    curves: _containers.RepeatedCompositeFieldContainer[FidelityCurves]
    model_calls: int
    num_samples: int
    stability: Stability
    def __init__(self, stability: _Optional[_Union[Stability, _Mapping]] = ..., curves: _Optional[_Iterable[_Union[FidelityCurves, _Mapping]]] = ..., model_calls: _Optional[int] = ..., num_samples: _Optional[int] = ...) -> None: ...

class ExplainJobRequest(_message.Message):
    __slots__ = ["request"]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: ExplainRequest
    def __init__(self, request: _Optional[_Union[ExplainRequest, _Mapping]] = ...) -> None: ...

class ExplainJobResponse(_message.Message):
    __slots__ = ["partial", "progress", "result"]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    partial: Explanation
    progress: Progress
    result: Explanation
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., partial: _Optional[_Union[Explanation, _Mapping]] = ..., result: _Optional[_Union[Explanation, _Mapping]] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ["ale", "anchors", "auto_sampling", "batch", "counterfactual", "evaluation", "instance", "kernel_shap", "lime", "lime_image", "lime_text", "model", "occlusion", "partial_dependence", "permutation", "sensitivity"]
    ALE_FIELD_NUMBER: _ClassVar[int]
    ANCHORS_FIELD_NUMBER: _ClassVar[int]
    AUTO_SAMPLING_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    COUNTERFACTUAL_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    KERNEL_SHAP_FIELD_NUMBER: _ClassVar[int]
    LIME_FIELD_NUMBER: _ClassVar[int]
    LIME_IMAGE_FIELD_NUMBER: _ClassVar[int]
    LIME_TEXT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OCCLUSION_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_DEPENDENCE_FIELD_NUMBER: _ClassVar[int]
    PERMUTATION_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    ale: AleOptions
    anchors: AnchorOptions
    auto_sampling: AutoSampling
    batch: InstanceBatch
    counterfactual: CounterfactualOptions
    evaluation: Evaluation
    instance: Instance
    kernel_shap: KernelShapOptions
    lime: LimeOptions
    lime_image: LimeImageOptions
    lime_text: LimeTextOptions
    model: str
    occlusion: OcclusionOptions
    partial_dependence: PartialDependenceOptions
    permutation: PermutationOptions
    sensitivity: SensitivityOptions
    def __init__(self, model: _Optional[str] = ..., instance: _Optional[_Union[Instance, _Mapping]] = ..., lime: _Optional[_Union[LimeOptions, _Mapping]] = ..., kernel_shap: _Optional[_Union[KernelShapOptions, _Mapping]] = ..., permutation: _Optional[_Union[PermutationOptions, _Mapping]] = ..., sensitivity: _Optional[_Union[SensitivityOptions, _Mapping]] = ..., lime_text: _Optional[_Union[LimeTextOptions, _Mapping]] = ..., lime_image: _Optional[_Union[LimeImageOptions, _Mapping]] = ..., occlusion: _Optional[_Union[OcclusionOptions, _Mapping]] = ..., partial_dependence: _Optional[_Union[PartialDependenceOptions, _Mapping]] = ..., ale: _Optional[_Union[AleOptions, _Mapping]] = ..., anchors: _Optional[_Union[AnchorOptions, _Mapping]] = ..., counterfactual: _Optional[_Union[CounterfactualOptions, _Mapping]] = ..., auto_sampling: _Optional[_Union[AutoSampling, _Mapping]] = ..., evaluation: _Optional[_Union[Evaluation, _Mapping]] = ..., batch: _Optional[_Union[InstanceBatch, _Mapping]] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ["explanation"]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    explanation: Explanation
    def __init__(self, explanation: _Optional[_Union[Explanation, _Mapping]] = ...) -> None: ...

class ExplainStreamRequest(_message.Message):
    __slots__ = ["cancel", "data", "start"]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    cancel: CancelJob
    data: DataChunk
    start: StartJob
    def __init__(self, start: _Optional[_Union[StartJob, _Mapping]] = ..., cancel: _Optional[_Union[CancelJob, _Mapping]] = ..., data: _Optional[_Union[DataChunk, _Mapping]] = ...) -> None: ...

class ExplainStreamResponse(_message.Message):
    __slots__ = ["error", "instance", "job_id", "partial", "progress", "result"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    error: JobError
    instance: InstanceExplanation
    job_id: str
    partial: Explanation
    progress: Progress
    result: Explanation
    def __init__(self, job_id: _Optional[str] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[Explanation, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., partial: _Optional[_Union[Explanation, _Mapping]] = ..., instance: _Optional[_Union[InstanceExplanation, _Mapping]] = ...) -> None: ...

class Explanation(_message.Message):
    __slots__ = ["bands_done", "bands_total", "baseline_score", "batch", "class_names", "counterfactuals", "elapsed", "evaluation", "feature_selection", "features_done", "features_total", "instance_scores", "kernel_width", "labels", "maps", "method", "model", "model_calls", "num_samples", "precision", "repeats_done", "rounds", "scoring", "seed", "segments", "stop_reason"]
    BANDS_DONE_FIELD_NUMBER: _ClassVar[int]
    BANDS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BASELINE_SCORE_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    COUNTERFACTUALS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_DONE_FIELD_NUMBER: _ClassVar[int]
    FEATURES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SELECTION_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_SCORES_FIELD_NUMBER: _ClassVar[int]
    KERNEL_WIDTH_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MAPS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    MODEL_CALLS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    REPEATS_DONE_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    SCORING_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    bands_done: int
    bands_total: int
    baseline_score: float
    batch: BatchExplanation
    class_names: _containers.RepeatedScalarFieldContainer[str]
    counterfactuals: _containers.RepeatedCompositeFieldContainer[Counterfactual]
    elapsed: _duration_pb2.Duration
    evaluation: EvaluationReport
    feature_selection: FeatureSelection
    features_done: int
    features_total: int
    instance_scores: _containers.RepeatedScalarFieldContainer[float]
    kernel_width: float
    labels: _containers.RepeatedCompositeFieldContainer[LabelExplanation]
    maps: _containers.RepeatedCompositeFieldContainer[AttributionMap]
    method: str
    model: str
    model_calls: int
    num_samples: int
    precision: float
    repeats_done: int
    rounds: int
    scoring: Scoring
    seed: int
    segments: SegmentMap
    stop_reason: StopReason
    def __init__(self, method: _Optional[str] = ..., model: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[LabelExplanation, _Mapping]]] = ..., instance_scores: _Optional[_Iterable[float]] = ..., class_names: _Optional[_Iterable[str]] = ..., seed: _Optional[int] = ..., num_samples: _Optional[int] = ..., model_calls: _Optional[int] = ..., elapsed: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., feature_selection: _Optional[_Union[FeatureSelection, str]] = ..., kernel_width: _Optional[float] = ..., scoring: _Optional[_Union[Scoring, str]] = ..., baseline_score: _Optional[float] = ..., repeats_done: _Optional[int] = ..., segments: _Optional[_Union[SegmentMap, _Mapping]] = ..., maps: _Optional[_Iterable[_Union[AttributionMap, _Mapping]]] = ..., bands_done: _Optional[int] = ..., bands_total: _Optional[int] = ..., stop_reason: _Optional[_Union[StopReason, str]] = ..., rounds: _Optional[int] = ..., precision: _Optional[float] = ..., evaluation: _Optional[_Union[EvaluationReport, _Mapping]] = ..., counterfactuals: _Optional[_Iterable[_Union[Counterfactual, _Mapping]]] = ..., features_done: _Optional[int] = ..., features_total: _Optional[int] = ..., batch: _Optional[_Union[BatchExplanation, _Mapping]] = ...) -> None: ...

class FeatureBins(_message.Message):
    __slots__ = ["boundaries", "feature", "frequencies", "maxs", "means", "mins", "stds"]
    BOUNDARIES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    FREQUENCIES_FIELD_NUMBER: _ClassVar[int]
    MAXS_FIELD_NUMBER: _ClassVar[int]
    MEANS_FIELD_NUMBER: _ClassVar[int]
    MINS_FIELD_NUMBER: _ClassVar[int]
    STDS_FIELD_NUMBER: _ClassVar[int]
    boundaries: _containers.RepeatedScalarFieldContainer[float]
    feature: int
    frequencies: _containers.RepeatedScalarFieldContainer[float]
    maxs: _containers.RepeatedScalarFieldContainer[float]
    means: _containers.RepeatedScalarFieldContainer[float]
    mins: _containers.RepeatedScalarFieldContainer[float]
    stds: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, feature: _Optional[int] = ..., boundaries: _Optional[_Iterable[float]] = ..., means: _Optional[_Iterable[float]] = ..., stds: _Optional[_Iterable[float]] = ..., mins: _Optional[_Iterable[float]] = ..., maxs: _Optional[_Iterable[float]] = ..., frequencies: _Optional[_Iterable[float]] = ...) -> None: ...

class FeatureChange(_message.Message):
    __slots__ = ["feature", "index", "scaled", "to"]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SCALED_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    feature: str
    index: int
    scaled: float
    to: float
    def __init__(self, index: _Optional[int] = ..., feature: _Optional[str] = ..., to: _Optional[float] = ..., scaled: _Optional[float] = ..., **kwargs) -> None: ...

class FeatureDistribution(_message.Message):
    __slots__ = ["feature", "frequencies", "values"]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    FREQUENCIES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    feature: int
    frequencies: _containers.RepeatedScalarFieldContainer[float]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, feature: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ..., frequencies: _Optional[_Iterable[float]] = ...) -> None: ...

class FeatureGrid(_message.Message):
    __slots__ = ["feature", "values"]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    feature: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, feature: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class FeatureGroup(_message.Message):
    __slots__ = ["features", "name"]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedScalarFieldContainer[int]
    name: str
    def __init__(self, features: _Optional[_Iterable[int]] = ..., name: _Optional[str] = ...) -> None: ...

class FeatureRange(_message.Message):
    __slots__ = ["feature", "max", "min"]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    feature: int
    max: float
    min: float
    def __init__(self, feature: _Optional[int] = ..., min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class FidelityCurves(_message.Message):
    __slots__ = ["deletion", "deletion_area", "fractions", "insertion", "insertion_area", "label", "random_deletion", "random_deletion_area", "random_insertion", "random_insertion_area"]
    DELETION_AREA_FIELD_NUMBER: _ClassVar[int]
    DELETION_FIELD_NUMBER: _ClassVar[int]
    FRACTIONS_FIELD_NUMBER: _ClassVar[int]
    INSERTION_AREA_FIELD_NUMBER: _ClassVar[int]
    INSERTION_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    RANDOM_DELETION_AREA_FIELD_NUMBER: _ClassVar[int]
    RANDOM_DELETION_FIELD_NUMBER: _ClassVar[int]
    RANDOM_INSERTION_AREA_FIELD_NUMBER: _ClassVar[int]
    RANDOM_INSERTION_FIELD_NUMBER: _ClassVar[int]
    deletion: _containers.RepeatedScalarFieldContainer[float]
    deletion_area: float
    fractions: _containers.RepeatedScalarFieldContainer[float]
    insertion: _containers.RepeatedScalarFieldContainer[float]
    insertion_area: float
    label: int
    random_deletion: _containers.RepeatedScalarFieldContainer[float]
    random_deletion_area: float
    random_insertion: _containers.RepeatedScalarFieldContainer[float]
    random_insertion_area: float
    def __init__(self, label: _Optional[int] = ..., fractions: _Optional[_Iterable[float]] = ..., deletion: _Optional[_Iterable[float]] = ..., random_deletion: _Optional[_Iterable[float]] = ..., insertion: _Optional[_Iterable[float]] = ..., random_insertion: _Optional[_Iterable[float]] = ..., deletion_area: _Optional[float] = ..., random_deletion_area: _Optional[float] = ..., insertion_area: _Optional[float] = ..., random_insertion_area: _Optional[float] = ...) -> None: ...

class Fill(_message.Message):
    __slots__ = ["kind", "value"]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    kind: FillKind
    value: float
    def __init__(self, kind: _Optional[_Union[FillKind, str]] = ..., value: _Optional[float] = ...) -> None: ...

class GlobalAttribution(_message.Message):
    __slots__ = ["count", "feature", "index", "mean", "mean_abs", "std_error"]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MEAN_ABS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_ERROR_FIELD_NUMBER: _ClassVar[int]
    count: int
    feature: str
    index: int
    mean: float
    mean_abs: float
    std_error: float
    def __init__(self, index: _Optional[int] = ..., feature: _Optional[str] = ..., mean_abs: _Optional[float] = ..., std_error: _Optional[float] = ..., mean: _Optional[float] = ..., count: _Optional[int] = ...) -> None: ...

class GridSegmentation(_message.Message):
    __slots__ = ["cols", "rows"]
    COLS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    cols: int
    rows: int
    def __init__(self, rows: _Optional[int] = ..., cols: _Optional[int] = ...) -> None: ...

class IceCurve(_message.Message):
    __slots__ = ["values"]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class ImageBatch(_message.Message):
    __slots__ = ["images"]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[ImageInstance]
    def __init__(self, images: _Optional[_Iterable[_Union[ImageInstance, _Mapping]]] = ...) -> None: ...

class ImageInstance(_message.Message):
    __slots__ = ["channels", "height", "layout", "values", "width"]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    channels: int
    height: int
    layout: ImageLayout
    values: _containers.RepeatedScalarFieldContainer[float]
    width: int
    def __init__(self, height: _Optional[int] = ..., width: _Optional[int] = ..., channels: _Optional[int] = ..., layout: _Optional[_Union[ImageLayout, str]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class Instance(_message.Message):
    __slots__ = ["image", "tabular", "text"]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TABULAR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    image: ImageInstance
    tabular: TabularInstance
    text: TextInstance
    def __init__(self, tabular: _Optional[_Union[TabularInstance, _Mapping]] = ..., text: _Optional[_Union[TextInstance, _Mapping]] = ..., image: _Optional[_Union[ImageInstance, _Mapping]] = ...) -> None: ...

class InstanceBatch(_message.Message):
    __slots__ = ["image", "skip_failed", "submodular_pick", "tabular", "text"]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    SKIP_FAILED_FIELD_NUMBER: _ClassVar[int]
    SUBMODULAR_PICK_FIELD_NUMBER: _ClassVar[int]
    TABULAR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    image: ImageBatch
    skip_failed: bool
    submodular_pick: int
    tabular: TabularBatch
    text: TextBatch
    def __init__(self, tabular: _Optional[_Union[TabularBatch, _Mapping]] = ..., text: _Optional[_Union[TextBatch, _Mapping]] = ..., image: _Optional[_Union[ImageBatch, _Mapping]] = ..., submodular_pick: _Optional[int] = ..., skip_failed: bool = ...) -> None: ...

class InstanceError(_message.Message):
    __slots__ = ["code", "index", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    index: int
    message: str
    def __init__(self, index: _Optional[int] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class InstanceExplanation(_message.Message):
    __slots__ = ["error", "explanation", "index"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    error: InstanceError
    explanation: Explanation
    index: int
    def __init__(self, index: _Optional[int] = ..., explanation: _Optional[_Union[Explanation, _Mapping]] = ..., error: _Optional[_Union[InstanceError, _Mapping]] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ["code", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class KernelShapOptions(_message.Message):
    __slots__ = ["background", "background_summary", "fill", "groups", "labels", "link", "mask_string", "num_samples", "positional", "seed", "segmentation", "top_labels"]
    BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    MASK_STRING_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    POSITIONAL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_FIELD_NUMBER: _ClassVar[int]
    TOP_LABELS_FIELD_NUMBER: _ClassVar[int]
    background: Dataset
    background_summary: BackgroundSummary
    fill: Fill
    groups: _containers.RepeatedCompositeFieldContainer[FeatureGroup]
    labels: _containers.RepeatedScalarFieldContainer[int]
    link: Link
    mask_string: str
    num_samples: int
    positional: bool
    seed: int
    segmentation: Segmentation
    top_labels: int
    def __init__(self, num_samples: _Optional[int] = ..., link: _Optional[_Union[Link, str]] = ..., groups: _Optional[_Iterable[_Union[FeatureGroup, _Mapping]]] = ..., background: _Optional[_Union[Dataset, _Mapping]] = ..., labels: _Optional[_Iterable[int]] = ..., top_labels: _Optional[int] = ..., seed: _Optional[int] = ..., positional: bool = ..., mask_string: _Optional[str] = ..., segmentation: _Optional[_Union[Segmentation, _Mapping]] = ..., fill: _Optional[_Union[Fill, _Mapping]] = ..., background_summary: _Optional[_Union[BackgroundSummary, _Mapping]] = ...) -> None: ...

class LabelExplanation(_message.Message):
    __slots__ = ["accumulated_local_effects", "anchor", "attributions", "base_value", "class_name", "intercept", "label", "local_prediction", "model_value", "partial_dependence", "prediction", "score"]
    ACCUMULATED_LOCAL_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    BASE_VALUE_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    INTERCEPT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LOCAL_PREDICTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_VALUE_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_DEPENDENCE_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    accumulated_local_effects: _containers.RepeatedCompositeFieldContainer[AccumulatedLocalEffects]
    anchor: Anchor
    attributions: _containers.RepeatedCompositeFieldContainer[Attribution]
    base_value: float
    class_name: str
    intercept: float
    label: int
    local_prediction: float
    model_value: float
    partial_dependence: _containers.RepeatedCompositeFieldContainer[PartialDependence]
    prediction: float
    score: float
    def __init__(self, label: _Optional[int] = ..., class_name: _Optional[str] = ..., prediction: _Optional[float] = ..., intercept: _Optional[float] = ..., attributions: _Optional[_Iterable[_Union[Attribution, _Mapping]]] = ..., score: _Optional[float] = ..., local_prediction: _Optional[float] = ..., base_value: _Optional[float] = ..., model_value: _Optional[float] = ..., partial_dependence: _Optional[_Iterable[_Union[PartialDependence, _Mapping]]] = ..., accumulated_local_effects: _Optional[_Iterable[_Union[AccumulatedLocalEffects, _Mapping]]] = ..., anchor: _Optional[_Union[Anchor, _Mapping]] = ...) -> None: ...

class LimeImageOptions(_message.Message):
    __slots__ = ["feature_selection", "fill", "kernel_width", "labels", "num_features", "num_samples", "seed", "segmentation", "top_labels"]
    FEATURE_SELECTION_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    KERNEL_WIDTH_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    NUM_FEATURES_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_FIELD_NUMBER: _ClassVar[int]
    TOP_LABELS_FIELD_NUMBER: _ClassVar[int]
    feature_selection: FeatureSelection
    fill: Fill
    kernel_width: float
    labels: _containers.RepeatedScalarFieldContainer[int]
    num_features: int
    num_samples: int
    seed: int
    segmentation: Segmentation
    top_labels: int
    def __init__(self, segmentation: _Optional[_Union[Segmentation, _Mapping]] = ..., fill: _Optional[_Union[Fill, _Mapping]] = ..., num_samples: _Optional[int] = ..., num_features: _Optional[int] = ..., feature_selection: _Optional[_Union[FeatureSelection, str]] = ..., kernel_width: _Optional[float] = ..., labels: _Optional[_Iterable[int]] = ..., top_labels: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class LimeOptions(_message.Message):
    __slots__ = ["discretize_continuous", "discretizer", "feature_selection", "kernel_width", "l1_penalty", "labels", "num_features", "num_samples", "regressor", "ridge_alpha", "sample_around_instance", "seed", "top_labels", "training"]
    DISCRETIZER_FIELD_NUMBER: _ClassVar[int]
    DISCRETIZE_CONTINUOUS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SELECTION_FIELD_NUMBER: _ClassVar[int]
    KERNEL_WIDTH_FIELD_NUMBER: _ClassVar[int]
    L1_PENALTY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    NUM_FEATURES_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    REGRESSOR_FIELD_NUMBER: _ClassVar[int]
    RIDGE_ALPHA_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_AROUND_INSTANCE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TOP_LABELS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    discretize_continuous: bool
    discretizer: Discretizer
    feature_selection: FeatureSelection
    kernel_width: float
    l1_penalty: float
    labels: _containers.RepeatedScalarFieldContainer[int]
    num_features: int
    num_samples: int
    regressor: Regressor
    ridge_alpha: float
    sample_around_instance: bool
    seed: int
    top_labels: int
    training: TrainingData
    def __init__(self, num_samples: _Optional[int] = ..., num_features: _Optional[int] = ..., feature_selection: _Optional[_Union[FeatureSelection, str]] = ..., kernel_width: _Optional[float] = ..., discretize_continuous: bool = ..., discretizer: _Optional[_Union[Discretizer, str]] = ..., sample_around_instance: bool = ..., labels: _Optional[_Iterable[int]] = ..., top_labels: _Optional[int] = ..., seed: _Optional[int] = ..., regressor: _Optional[_Union[Regressor, str]] = ..., ridge_alpha: _Optional[float] = ..., l1_penalty: _Optional[float] = ..., training: _Optional[_Union[TrainingData, _Mapping]] = ...) -> None: ...

class LimeTextOptions(_message.Message):
    __slots__ = ["feature_selection", "kernel_width", "labels", "mask_string", "num_features", "num_samples", "positional", "seed", "top_labels"]
    FEATURE_SELECTION_FIELD_NUMBER: _ClassVar[int]
    KERNEL_WIDTH_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MASK_STRING_FIELD_NUMBER: _ClassVar[int]
    NUM_FEATURES_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    POSITIONAL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TOP_LABELS_FIELD_NUMBER: _ClassVar[int]
    feature_selection: FeatureSelection
    kernel_width: float
    labels: _containers.RepeatedScalarFieldContainer[int]
    mask_string: str
    num_features: int
    num_samples: int
    positional: bool
    seed: int
    top_labels: int
    def __init__(self, num_samples: _Optional[int] = ..., num_features: _Optional[int] = ..., feature_selection: _Optional[_Union[FeatureSelection, str]] = ..., kernel_width: _Optional[float] = ..., positional: bool = ..., mask_string: _Optional[str] = ..., labels: _Optional[_Iterable[int]] = ..., top_labels: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class OcclusionOptions(_message.Message):
    __slots__ = ["baseline", "labels", "mask_string", "strides", "window"]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MASK_STRING_FIELD_NUMBER: _ClassVar[int]
    STRIDES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    baseline: float
    labels: _containers.RepeatedScalarFieldContainer[int]
    mask_string: str
    strides: _containers.RepeatedScalarFieldContainer[int]
    window: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, window: _Optional[_Iterable[int]] = ..., strides: _Optional[_Iterable[int]] = ..., baseline: _Optional[float] = ..., labels: _Optional[_Iterable[int]] = ..., mask_string: _Optional[str] = ...) -> None: ...

class PartialDependence(_message.Message):
    __slots__ = ["average", "average_std_error", "centered", "feature", "feature_index", "grid", "grid_labels", "individual", "second_feature", "second_feature_index", "second_grid"]
    AVERAGE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_STD_ERROR_FIELD_NUMBER: _ClassVar[int]
    CENTERED_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_INDEX_FIELD_NUMBER: _ClassVar[int]
    GRID_FIELD_NUMBER: _ClassVar[int]
    GRID_LABELS_FIELD_NUMBER: _ClassVar[int]
    INDIVIDUAL_FIELD_NUMBER: _ClassVar[int]
    SECOND_FEATURE_FIELD_NUMBER: _ClassVar[int]
    SECOND_FEATURE_INDEX_FIELD_NUMBER: _ClassVar[int]
    SECOND_GRID_FIELD_NUMBER: _ClassVar[int]
    average: _containers.RepeatedScalarFieldContainer[float]
    average_std_error: _containers.RepeatedScalarFieldContainer[float]
    centered: bool
    feature: str
    feature_index: int
    grid: _containers.RepeatedScalarFieldContainer[float]
    grid_labels: _containers.RepeatedScalarFieldContainer[str]
    individual: _containers.RepeatedCompositeFieldContainer[IceCurve]
    second_feature: str
    second_feature_index: int
    second_grid: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, feature_index: _Optional[int] = ..., feature: _Optional[str] = ..., grid: _Optional[_Iterable[float]] = ..., grid_labels: _Optional[_Iterable[str]] = ..., second_feature_index: _Optional[int] = ..., second_feature: _Optional[str] = ..., second_grid: _Optional[_Iterable[float]] = ..., average: _Optional[_Iterable[float]] = ..., average_std_error: _Optional[_Iterable[float]] = ..., individual: _Optional[_Iterable[_Union[IceCurve, _Mapping]]] = ..., centered: bool = ...) -> None: ...

class PartialDependenceOptions(_message.Message):
    __slots__ = ["categorical_features", "centered", "data", "features", "grid_resolution", "grids", "kind", "labels", "lower_percentile", "streamed", "upper_percentile"]
    CATEGORICAL_FEATURES_FIELD_NUMBER: _ClassVar[int]
    CENTERED_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    GRIDS_FIELD_NUMBER: _ClassVar[int]
    GRID_RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LOWER_PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    UPPER_PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    categorical_features: _containers.RepeatedCompositeFieldContainer[CategoricalFeature]
    centered: bool
    data: Dataset
    features: _containers.RepeatedCompositeFieldContainer[PdpFeatures]
    grid_resolution: int
    grids: _containers.RepeatedCompositeFieldContainer[FeatureGrid]
    kind: PdpKind
    labels: _containers.RepeatedScalarFieldContainer[int]
    lower_percentile: float
    streamed: bool
    upper_percentile: float
    def __init__(self, data: _Optional[_Union[Dataset, _Mapping]] = ..., streamed: bool = ..., features: _Optional[_Iterable[_Union[PdpFeatures, _Mapping]]] = ..., grid_resolution: _Optional[int] = ..., lower_percentile: _Optional[float] = ..., upper_percentile: _Optional[float] = ..., grids: _Optional[_Iterable[_Union[FeatureGrid, _Mapping]]] = ..., categorical_features: _Optional[_Iterable[_Union[CategoricalFeature, _Mapping]]] = ..., kind: _Optional[_Union[PdpKind, str]] = ..., centered: bool = ..., labels: _Optional[_Iterable[int]] = ...) -> None: ...

class PdpFeatures(_message.Message):
    __slots__ = ["features"]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, features: _Optional[_Iterable[int]] = ...) -> None: ...

class PermutationOptions(_message.Message):
    __slots__ = ["data", "groups", "max_samples", "output", "repeats", "scoring", "seed", "streamed"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    MAX_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    REPEATS_FIELD_NUMBER: _ClassVar[int]
    SCORING_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    data: Dataset
    groups: _containers.RepeatedCompositeFieldContainer[FeatureGroup]
    max_samples: float
    output: int
    repeats: int
    scoring: Scoring
    seed: int
    streamed: bool
    def __init__(self, data: _Optional[_Union[Dataset, _Mapping]] = ..., streamed: bool = ..., scoring: _Optional[_Union[Scoring, str]] = ..., repeats: _Optional[int] = ..., max_samples: _Optional[float] = ..., groups: _Optional[_Iterable[_Union[FeatureGroup, _Mapping]]] = ..., output: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ["instances_done", "instances_total", "model_calls", "samples_scored", "samples_total"]
    INSTANCES_DONE_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MODEL_CALLS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_SCORED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    instances_done: int
    instances_total: int
    model_calls: int
    samples_scored: int
    samples_total: int
    def __init__(self, samples_scored: _Optional[int] = ..., samples_total: _Optional[int] = ..., model_calls: _Optional[int] = ..., instances_done: _Optional[int] = ..., instances_total: _Optional[int] = ...) -> None: ...

class RuleFeature(_message.Message):
    __slots__ = ["count", "feature", "index", "mean_scaled"]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MEAN_SCALED_FIELD_NUMBER: _ClassVar[int]
    count: int
    feature: str
    index: int
    mean_scaled: float
    def __init__(self, index: _Optional[int] = ..., feature: _Optional[str] = ..., count: _Optional[int] = ..., mean_scaled: _Optional[float] = ...) -> None: ...

class SegmentMap(_message.Message):
    __slots__ = ["height", "labels", "width"]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    height: int
    labels: _containers.RepeatedScalarFieldContainer[int]
    width: int
    def __init__(self, height: _Optional[int] = ..., width: _Optional[int] = ..., labels: _Optional[_Iterable[int]] = ...) -> None: ...

class Segmentation(_message.Message):
    __slots__ = ["grid", "slic"]
    GRID_FIELD_NUMBER: _ClassVar[int]
    SLIC_FIELD_NUMBER: _ClassVar[int]
    grid: GridSegmentation
    slic: SlicSegmentation
    def __init__(self, grid: _Optional[_Union[GridSegmentation, _Mapping]] = ..., slic: _Optional[_Union[SlicSegmentation, _Mapping]] = ...) -> None: ...

class SensitivityOptions(_message.Message):
    __slots__ = ["data", "labels", "step", "streamed"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    data: Dataset
    labels: _containers.RepeatedScalarFieldContainer[int]
    step: float
    streamed: bool
    def __init__(self, data: _Optional[_Union[Dataset, _Mapping]] = ..., streamed: bool = ..., step: _Optional[float] = ..., labels: _Optional[_Iterable[int]] = ...) -> None: ...

class SlicSegmentation(_message.Message):
    __slots__ = ["compactness", "max_iterations", "num_segments"]
    COMPACTNESS_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    NUM_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    compactness: float
    max_iterations: int
    num_segments: int
    def __init__(self, num_segments: _Optional[int] = ..., compactness: _Optional[float] = ..., max_iterations: _Optional[int] = ...) -> None: ...

class Stability(_message.Message):
    __slots__ = ["mean_rank_correlation", "mean_top_k_overlap", "min_rank_correlation", "runs", "seeds", "top_k", "weight_std"]
    MEAN_RANK_CORRELATION_FIELD_NUMBER: _ClassVar[int]
    MEAN_TOP_K_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    MIN_RANK_CORRELATION_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_STD_FIELD_NUMBER: _ClassVar[int]
    mean_rank_correlation: float
    mean_top_k_overlap: float
    min_rank_correlation: float
    runs: int
    seeds: _containers.RepeatedScalarFieldContainer[int]
    top_k: int
    weight_std: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, runs: _Optional[int] = ..., seeds: _Optional[_Iterable[int]] = ..., mean_rank_correlation: _Optional[float] = ..., min_rank_correlation: _Optional[float] = ..., mean_top_k_overlap: _Optional[float] = ..., top_k: _Optional[int] = ..., weight_std: _Optional[_Iterable[float]] = ...) -> None: ...

class StartJob(_message.Message):
    __slots__ = ["job_id", "request"]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    request: ExplainRequest
    def __init__(self, job_id: _Optional[str] = ..., request: _Optional[_Union[ExplainRequest, _Mapping]] = ...) -> None: ...

class TabularBatch(_message.Message):
    __slots__ = ["categorical_features", "rows", "streamed"]
    CATEGORICAL_FEATURES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    categorical_features: _containers.RepeatedCompositeFieldContainer[CategoricalFeature]
    rows: Dataset
    streamed: bool
    def __init__(self, rows: _Optional[_Union[Dataset, _Mapping]] = ..., streamed: bool = ..., categorical_features: _Optional[_Iterable[_Union[CategoricalFeature, _Mapping]]] = ...) -> None: ...

class TabularInstance(_message.Message):
    __slots__ = ["categorical_features", "feature_names", "values"]
    CATEGORICAL_FEATURES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    categorical_features: _containers.RepeatedCompositeFieldContainer[CategoricalFeature]
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ..., feature_names: _Optional[_Iterable[str]] = ..., categorical_features: _Optional[_Iterable[_Union[CategoricalFeature, _Mapping]]] = ...) -> None: ...

class TextBatch(_message.Message):
    __slots__ = ["split_expression", "texts"]
    SPLIT_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    split_expression: str
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., split_expression: _Optional[str] = ...) -> None: ...

class TextInstance(_message.Message):
    __slots__ = ["split_expression", "text"]
    SPLIT_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    split_expression: str
    text: str
    def __init__(self, text: _Optional[str] = ..., split_expression: _Optional[str] = ...) -> None: ...

class TextSpan(_message.Message):
    __slots__ = ["end", "start"]
    END_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    end: int
    start: int
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class TrainingData(_message.Message):
    __slots__ = ["dataset", "statistics"]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    STATISTICS_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    statistics: TrainingStatistics
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ..., statistics: _Optional[_Union[TrainingStatistics, _Mapping]] = ...) -> None: ...

class TrainingStatistics(_message.Message):
    __slots__ = ["bins", "categorical", "means", "stds"]
    BINS_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_FIELD_NUMBER: _ClassVar[int]
    MEANS_FIELD_NUMBER: _ClassVar[int]
    STDS_FIELD_NUMBER: _ClassVar[int]
    bins: _containers.RepeatedCompositeFieldContainer[FeatureBins]
    categorical: _containers.RepeatedCompositeFieldContainer[FeatureDistribution]
    means: _containers.RepeatedScalarFieldContainer[float]
    stds: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, means: _Optional[_Iterable[float]] = ..., stds: _Optional[_Iterable[float]] = ..., categorical: _Optional[_Iterable[_Union[FeatureDistribution, _Mapping]]] = ..., bins: _Optional[_Iterable[_Union[FeatureBins, _Mapping]]] = ...) -> None: ...

class ImageLayout(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class FeatureSelection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Discretizer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Regressor(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class FillKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Link(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Scoring(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class PdpKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class StopReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
