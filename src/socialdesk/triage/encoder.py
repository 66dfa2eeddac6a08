"""Sentence encoder for the accurate tier: MiniLM in ONNX (int8), run with onnxruntime.

The graph includes the mean pooling and L2 normalisation, so its ``embedding`` output is the
sentence embedding of the original all-MiniLM-L6-v2; a second output ``logits`` holds the
fine-tuned task heads (see ``train/finetune.py``) that share its lower layers. Tokenisation
uses the ``tokenizers`` library with the shipped tokenizer.json.
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

        outs = [o.name for o in self.session.get_outputs()]
        self.n_logits = int(self.session.get_outputs()[1].shape[1]) if "logits" in outs else 0

    @property
    def width(self) -> int:
        return DIM + self.n_logits

    def encode_inputs(self, texts: list[str]) -> np.ndarray:
        """What the accurate heads read: [embedding | fine-tuned logits], (n, width)."""
        emb, logits = self.encode_both(texts)
        return np.hstack([emb, logits]) if self.n_logits else emb

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised sentence embeddings, (len(texts), 384) float32."""
        return self.encode_both(texts, batch_size)[0]

    def encode_both(self, texts: list[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Sentence embeddings and the fine-tuned heads' logits ((n, 0) for an encoder without)."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        logits = np.zeros((len(texts), self.n_logits), dtype=np.float32)
        if not texts:
            return out, logits
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
            res = self.session.run(None, feeds)
            out[idx] = res[0]
            if self.n_logits:
                logits[idx] = res[1]
        return out, logits
