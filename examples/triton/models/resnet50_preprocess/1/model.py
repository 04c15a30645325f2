"""Triton python backend: ImageNet normalization for resnet50.

IMAGE [N, 3, 224, 224] FP32, RGB values 0..255 in CHW order (what
`explainer explain --image cat.png --layout chw` sends) becomes
NORMALIZED = (IMAGE / 255 - mean) / std, the input torchvision's ResNet-50
was trained on. Only numpy is needed.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

# torchvision's ImageNet statistics, scaled to 0..255, per channel (R, G, B).
MEAN = (np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255).reshape(1, 3, 1, 1)
STD = (np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255).reshape(1, 3, 1, 1)


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            image = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy()
            normalized = ((image - MEAN) / STD).astype(np.float32)
            responses.append(
                pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("NORMALIZED", normalized)])
            )
        return responses
