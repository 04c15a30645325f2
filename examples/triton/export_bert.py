"""Write models/bert_model/1/model.onnx and models/bert_tokenizer/1/tokenizer/
from a Hugging Face BERT sequence classifier. The ONNX graph ends in a
softmax, so Triton returns probabilities.

    pip install torch transformers onnx   # torch 2.5 or later
    python3 examples/triton/export_bert.py textattack/bert-base-uncased-SST-2

The argument is a Hub name or a local directory of a BERT-family model whose
forward takes input_ids, attention_mask and token_type_ids (BERT does;
DistilBERT and RoBERTa take no token_type_ids: drop that input here and in
both configs). Downloads from the Hugging Face Hub unless given a
directory. Not run by this repository's CI (it needs torch and the network).
"""

import sys
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

MAX_LENGTH = 128  # = dims in the configs and MAX_LENGTH in bert_tokenizer

name = sys.argv[1] if len(sys.argv) > 1 else "textattack/bert-base-uncased-SST-2"
models = Path(__file__).resolve().parent / "models"
tokenizer = AutoTokenizer.from_pretrained(name)
model = AutoModelForSequenceClassification.from_pretrained(name).eval()


class WithSoftmax(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        logits = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits
        return torch.softmax(logits, dim=-1)


enc = tokenizer(["an example"], padding="max_length", max_length=MAX_LENGTH, return_tensors="pt")
names = ["input_ids", "attention_mask", "token_type_ids"]
out = models / "bert_model" / "1" / "model.onnx"
torch.onnx.export(
    WithSoftmax(model),
    tuple(enc[n] for n in names),
    str(out),
    input_names=names,
    output_names=["probabilities"],
    dynamic_axes={n: {0: "batch"} for n in names + ["probabilities"]},
    opset_version=17,
    dynamo=False,
)
tokenizer.save_pretrained(str(models / "bert_tokenizer" / "1" / "tokenizer"))
labels = model.config.num_labels
print("wrote", out, "and the tokenizer;", labels, "labels:", model.config.id2label)
if labels != 2:
    print(f"set dims: [ {labels} ] on the outputs of bert_model and bert_classifier")
