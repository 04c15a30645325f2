from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
INPUT_KIND_IMAGE: InputKind
INPUT_KIND_TABULAR: InputKind
INPUT_KIND_TEXT: InputKind
INPUT_KIND_UNSPECIFIED: InputKind

class DescribeRequest(_message.Message):
    __slots__ = ["model"]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ["class_names", "feature_names", "input_kind", "max_batch_size", "num_features"]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    INPUT_KIND_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    NUM_FEATURES_FIELD_NUMBER: _ClassVar[int]
    class_names: _containers.RepeatedScalarFieldContainer[str]
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    input_kind: InputKind
    max_batch_size: int
    num_features: int
    def __init__(self, input_kind: _Optional[_Union[InputKind, str]] = ..., num_features: _Optional[int] = ..., class_names: _Optional[_Iterable[str]] = ..., max_batch_size: _Optional[int] = ..., feature_names: _Optional[_Iterable[str]] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ["instance_shape", "model", "num_features", "num_instances", "texts", "values"]
    INSTANCE_SHAPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUM_FEATURES_FIELD_NUMBER: _ClassVar[int]
    NUM_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    instance_shape: _containers.RepeatedScalarFieldContainer[int]
    model: str
    num_features: int
    num_instances: int
    texts: _containers.RepeatedScalarFieldContainer[str]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, model: _Optional[str] = ..., num_instances: _Optional[int] = ..., num_features: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ..., texts: _Optional[_Iterable[str]] = ..., instance_shape: _Optional[_Iterable[int]] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ["num_classes", "scores"]
    NUM_CLASSES_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    num_classes: int
    scores: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, num_classes: _Optional[int] = ..., scores: _Optional[_Iterable[float]] = ...) -> None: ...

class InputKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
