"""Triton python backend: BERT tokenizer for bert_classifier.

TEXT [N, 1] BYTES (one UTF-8 string per row) becomes input_ids,
attention_mask and token_type_ids, each [N, MAX_LENGTH] INT64, padded and
truncated to MAX_LENGTH (the config's parameter, default 128).

The tokenizer is the Hugging Face tokenizer saved next to this file, in
tokenizer/ (tokenizer.save_pretrained(".../bert_tokenizer/1/tokenizer")):
vocab.txt, tokenizer_config.json, special_tokens_map.json and, for a fast
tokenizer, tokenizer.json. It is loaded from disk only; nothing is
downloaded. Needs `pip install transformers` in Triton's image.
"""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils
from transformers import AutoTokenizer


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = config.get("parameters", {})
        self.max_length = int(params.get("MAX_LENGTH", {}).get("string_value", "128"))
        path = os.path.join(args["model_repository"], args["model_version"], "tokenizer")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)

    def execute(self, requests):
        responses = []
        for request in requests:
            raw = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy()
            texts = [_text(v) for v in raw.reshape(-1)]
            enc = self.tokenizer(
                texts,
                padding="max_length",
                truncation=True,
                max_length=self.max_length,
                return_token_type_ids=True,
                return_tensors="np",
            )
            outputs = [
                pb_utils.Tensor(name, enc[name].astype(np.int64))
                for name in ("input_ids", "attention_mask", "token_type_ids")
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses


def _text(value):
    # BYTES elements arrive as bytes (numpy object array); decode as UTF-8.
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
