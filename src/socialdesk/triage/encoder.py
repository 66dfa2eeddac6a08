"""Sentence encoder for the accurate tier: MiniLM in ONNX (int8), run with onnxruntime.

The graph includes the mean pooling and L2 normalisation, so its output is the sentence
embedding; tokenisation uses the ``tokenizers`` library with the shipped tokenizer.json.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ONNX_NAME = "minilm-int8.onnx"
TOKENIZER_NAME = "minilm-tokenizer.json"
MAX_TOKENS = 96
DIM = 384


class Encoder:
    def __init__(self, folder: Path = ARTIFACTS, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_NAME))
        # The shipped tokenizer.json pads to 128; batches are padded here to their own width.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        opts = ort.SessionOptions()
        n = threads or int(os.environ.get("SOCIALDESK_TRIAGE_THREADS", "0") or 0)
        if n:
            opts.intra_op_num_threads = n
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(folder / ONNX_NAME), opts, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised sentence embeddings, (len(texts), 384) float32."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        # Sorting by length keeps padding (wasted work) small within each batch.
        encs = self.tokenizer.encode_batch([t if t.strip() else "." for t in texts])
        order = np.argsort([len(e.ids) for e in encs], kind="stable")
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                e = encs[i].ids
                ids[r, : len(e)] = e
                mask[r, : len(e)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            out[idx] = self.session.run(None, feeds)[0]
        return out
