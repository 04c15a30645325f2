"""Write models/resnet50/1/model.onnx: torchvision's ResNet-50 with its
ImageNet weights, input "input" [N, 3, 224, 224] (normalized RGB), output
"logits" [N, 1000].

    pip install torch torchvision onnx   # torch 2.5 or later
    python3 examples/triton/export_resnet50.py

Downloads the weights from PyTorch's servers. Not run by this repository's
CI (it needs torch and the network).
"""

from pathlib import Path

import torch
import torchvision

out = Path(__file__).resolve().parent / "models" / "resnet50" / "1" / "model.onnx"
weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
model = torchvision.models.resnet50(weights=weights).eval()
torch.onnx.export(
    model,
    (torch.zeros(1, 3, 224, 224),),
    str(out),
    input_names=["input"],
    output_names=["logits"],
    dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    opset_version=17,
    dynamo=False,
)
# Class names in the order of the logits, for reading the explanation.
(out.parent.parent / "labels.txt").write_text("\n".join(weights.meta["categories"]) + "\n")
print("wrote", out)
