"""``socialdesk triage``: triage a text, evaluate on a folder, train a custom taxonomy.

Mounted by the main CLI as ``app.add_typer(triage_app, name="triage")``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup


class _TextFirstGroup(TyperGroup):
    """``socialdesk triage "text" --json``: anything that is not a subcommand goes to the
    hidden ``text`` command, so options may follow the text (a plain group would take the
    first word after the text for a subcommand name)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["text", *args]
        return super().parse_args(ctx, args)


triage_app = typer.Typer(
    cls=_TextFirstGroup,
    help="Triage messages: language, sentiment, issue type, emotion, PII, urgency.\n\n"
    'Usage: socialdesk triage "text" [--lang-hint de] [--tier fast|accurate] [--json]',
    invoke_without_command=True,
)


def _print_result(text: str, lang_hint: str | None, tier: str | None, as_json: bool,
                  followers: int | None, recent: int | None) -> None:
    from .pipeline import triage
    from .types import TriageContext

    ctx = TriageContext(lang_hint=lang_hint, author_followers=followers, recent_contacts=recent)
    r = triage(text, ctx, tier=tier)
    d = r.to_dict()
    if as_json:
        typer.echo(json.dumps(d, ensure_ascii=False, indent=2))
        return
    typer.echo(f"language   {r.language.code} ({r.language.confidence:.2f}, {r.language.method})")
    typer.echo(f"sentiment  {r.sentiment.label} {r.sentiment.probabilities}")
    typer.echo(f"issue type {r.issue_type.label} ({r.issue_type.confidence:.2f}) "
               f"{'; '.join(r.issue_type.reasons)}")
    typer.echo(f"emotion    {r.emotion.label}, reading: {r.emotion.reading}")
    typer.echo(f"offensive  {r.offensive.label} ({r.offensive.probability:.2f})")
    typer.echo("pii        " + (", ".join(f"{s.kind}:{s.text}" for s in r.pii) or "-"))
    typer.echo(f"urgency    {r.urgency.score} " + "; ".join(r.urgency.reasons))
    typer.echo(f"tier       {r.tier}")
    for k, v in r.explanations.items():
        if v:
            typer.echo(f"  why {k}: " + "; ".join(v))


@triage_app.callback()
def main(ctx: typer.Context) -> None:
    """Triage a text (``socialdesk triage "text"``), or run a subcommand."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@triage_app.command("text", hidden=True)
def text_cmd(
    text: Annotated[str, typer.Argument(help="Message text to triage")],
    lang_hint: Annotated[str | None, typer.Option("--lang-hint", help="ISO 639-1 hint")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="fast or accurate")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON")] = False,
    followers: Annotated[int | None, typer.Option("--followers")] = None,
    recent_contacts: Annotated[int | None, typer.Option("--recent-contacts")] = None,
) -> None:
    """Triage TEXT and print the result."""
    _print_result(text, lang_hint, tier, as_json, followers, recent_contacts)


@triage_app.command("eval")
def eval_cmd(
    task: Annotated[str, typer.Option("--task", help="sentiment|emotion|offensive|intent|language")],
    data: Annotated[Path, typer.Option("--data", help="Folder in the TweetEval/UMSAB layout")],
    tier: Annotated[str, typer.Option("--tier")] = "fast",
    split: Annotated[str | None, typer.Option("--split", help="test (default) or val")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="intent model folder")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Evaluate a task on a folder; prints the baselines' metric and messages/s."""
    from .evaluate import evaluate

    res = evaluate(task, data, tier=tier, split=split, model=model)
    if as_json:
        typer.echo(json.dumps(res))
    else:
        for k, v in res.items():
            typer.echo(f"{k}: {v}")


@triage_app.command("train-intents")
def train_intents_cmd(
    files: Annotated[list[Path], typer.Argument(help="CSV files with text,category columns")],
    name: Annotated[str, typer.Option("--name", help="taxonomy name")] = "default",
    out: Annotated[Path | None, typer.Option("--out", help="model folder")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction")] = 0.1,
    seed: Annotated[int, typer.Option("--seed")] = 13,
    embeddings: Annotated[bool | None, typer.Option(
        "--embeddings/--no-embeddings", help="add MiniLM sentence embeddings")] = None,
) -> None:
    """Train a brand's own issue types from labelled examples (e.g. Banking77's train.csv,
    or the agents' corrections file)."""
    from .intents import train_intents

    report = train_intents(files, name, out=out, val_fraction=val_fraction, seed=seed,
                           embeddings=embeddings)
    typer.echo(json.dumps(report, indent=2))
