"""A Python client of the explainer sidecar.

    from explainer_client import Explainer

    ex = Explainer("127.0.0.1:50051")
    e = ex.lime(df.iloc[0], training=df, seed=7)
    e.to_frame()
"""

from explainer_client._client import ExplainError, Explainer, run_job
from explainer_client._gen.explainer.v1 import explainer_pb2 as pb
from explainer_client._results import (
    PANDAS_MISSING,
    ALECurve,
    Anchor,
    Attribution,
    BatchExplanation,
    BatchSummary,
    Change,
    Counterfactual,
    Explanation,
    GlobalAttribution,
    InstanceFailure,
    LabelExplanation,
    PartialDependenceCurve,
    Progress,
)

__version__ = "0.1.0"

__all__ = [
    "ALECurve", "Anchor", "Change", "Counterfactual", "PartialDependenceCurve",
    "Attribution", "BatchExplanation", "BatchSummary", "ExplainError", "Explainer",
    "Explanation", "GlobalAttribution", "InstanceFailure", "LabelExplanation", "PANDAS_MISSING", "Progress",
    "pb", "run_job",
]
