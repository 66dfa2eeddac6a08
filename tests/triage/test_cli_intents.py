import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from socialdesk.triage.cli import triage_app
from socialdesk.triage.intents import IntentModel, record_correction, train_intents

runner = CliRunner()


def test_cli_text_json() -> None:
    res = runner.invoke(triage_app, ["Where is my parcel?", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["issue_type"]["label"] == "order_status_shipping"


def test_cli_text_plain_with_hint() -> None:
    res = runner.invoke(triage_app, ["ok", "--lang-hint", "de"])
    assert res.exit_code == 0, res.output
    assert "language   de" in res.output


def test_cli_eval_small(tmp_path: Path) -> None:
    (tmp_path / "test_text.txt").write_text("I love this\nthis is awful\nit is tuesday\n")
    (tmp_path / "test_labels.txt").write_text("2\n0\n1\n")
    res = runner.invoke(triage_app, ["eval", "--task", "sentiment", "--data", str(tmp_path),
                                     "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["metric"] == "macro_recall" and "messages_per_second" in d


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "category"])
        w.writerows(rows)


def test_train_intents_and_corrections(tmp_path: Path) -> None:
    rows = []
    for i in range(12):
        rows.append((f"my card {i} has not arrived yet", "card_arrival"))
        rows.append((f"please reset my pin number {i}", "pin_reset"))
        rows.append((f"the exchange rate {i} was wrong", "exchange_rate"))
    src = tmp_path / "train.csv"
    _write(src, rows)
    out = tmp_path / "model"
    report = train_intents([src], "t", out=out, embeddings=False, grid=(10.0,))
    assert report["classes"] == 3 and report["validation"]["accuracy"] >= 0.9
    m = IntentModel.load(out)
    assert m.predict("my card still has not arrived")["label"] == "card_arrival"
    # An agent's correction lands in a CSV that train-intents takes as is.
    path = record_correction("where is the new card", "card_arrival", taxonomy="t",
                             data_dir=tmp_path)
    record_correction("pin blocked, reset it", "pin_reset", taxonomy="t", data_dir=tmp_path)
    res = runner.invoke(triage_app, ["train-intents", str(src), str(path), "--name", "t",
                                     "--out", str(out), "--no-embeddings"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["rows"] == len(rows) + 2


def test_custom_intent_in_triage(tmp_path: Path) -> None:
    from socialdesk.triage import TriageContext, triage

    rows = []
    for i in range(10):
        rows.append((f"my card {i} has not arrived yet", "card_arrival"))
        rows.append((f"please reset my pin number {i}", "pin_reset"))
    src = tmp_path / "train.csv"
    _write(src, rows)
    out = tmp_path / "bank"
    train_intents([src], "bank", out=out, embeddings=False, grid=(10.0,), val_fraction=0.0)
    r = triage("my new card has not arrived", TriageContext(intent_model=str(out)))
    assert r.custom_intent is not None and r.custom_intent["label"] == "card_arrival"
    r = triage("hello", TriageContext(intent_model=str(tmp_path / "missing")))
    assert r.custom_intent is not None and "error" in r.custom_intent
