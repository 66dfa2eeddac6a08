"""File import: TWCS CSV (Customer Support on Twitter) and our normalized JSONL.

A file is checked whole before anything is stored (encoding, columns), so a bad file
changes nothing; a bad row inside a good file becomes a dead letter and the rest go in.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.brands.models import Brand, SocialAccount
from socialdesk.ingest.bulk import BulkIngestor
from socialdesk.ingest.service import IngestReport, record_dead_letter
from socialdesk.platforms.base import InboundMessage

TWCS_COLUMNS = (
    "tweet_id",
    "author_id",
    "inbound",
    "created_at",
    "text",
    "response_tweet_id",
    "in_response_to_tweet_id",
)
BATCH = 2000
MENTION = re.compile(r"@(\w{1,15})")


class ImportError_(ValueError):
    """The file as a whole cannot be imported; nothing was stored."""


@dataclass(slots=True)
class _Row:
    line: int
    item: InboundMessage
    account_key: str
    depth: int = 0


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportError_(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportError_(
            f"{path} is not valid UTF-8 (line {line}, byte {exc.start}): nothing was imported"
        ) from exc


_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                                         "Oct", "Nov", "Dec"), start=1)}  # fmt: skip


def parse_twcs_time(value: str) -> datetime:
    """TWCS writes X's classic format, e.g. 'Tue Oct 31 22:10:47 +0000 2017'."""
    value = value.strip()
    parts = value.split()
    # The common UTC case by hand: strptime costs a tenth of a bulk import.
    if len(parts) == 6 and parts[4] == "+0000" and parts[1] in _MONTHS and len(parts[3]) == 8:
        try:
            hour, minute, second = (int(x) for x in parts[3].split(":"))
            return datetime(int(parts[5]), _MONTHS[parts[1]], int(parts[2]), hour, minute, second, tzinfo=UTC)
        except ValueError:
            pass
    for fmt in ("%a %b %d %H:%M:%S %z %Y", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt).astimezone(UTC)
        except ValueError:
            continue
    raise ValueError(f"unrecognised created_at {value!r}")


def import_twcs(session: Session, path: Path, *, brand_slug: str | None = None) -> IngestReport:
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in TWCS_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportError_(
            f"{path} is not a TWCS file: missing column(s) {', '.join(missing)}; expected "
            f"{', '.join(TWCS_COLUMNS)}"
        )
    report = IngestReport()
    rows: dict[str, _Row] = {}
    parent_of: dict[str, str] = {}
    for line, record in enumerate(reader, start=2):
        try:
            row = _twcs_row(line, record)
        except ValueError as exc:
            record_dead_letter(
                session,
                source="file",
                platform="x",
                reason=f"line {line}: {exc}",
                payload=json.dumps(record, ensure_ascii=False),
            )
            report.dead_letters += 1
            continue
        rows[row.item.external_id] = row
        if row.item.reply_to_external_id:
            parent_of[row.item.external_id] = row.item.reply_to_external_id

    # A thread is a reply chain; its brand is whoever answers as the brand in it.
    root: dict[str, str] = {}
    for tweet_id in rows:
        chain = [tweet_id]
        while chain[-1] in parent_of and parent_of[chain[-1]] in rows and len(chain) < 10_000:
            chain.append(parent_of[chain[-1]])
        top = chain[-1]
        key = parent_of.get(top, top)  # a reply to a tweet outside the file keeps that id
        root[tweet_id] = key
        rows[tweet_id].depth = len(chain) - 1
    brand_of_thread: dict[str, str] = {}
    for tweet_id, row in rows.items():
        if row.item.direction == "outbound":
            brand_of_thread.setdefault(root[tweet_id], row.item.author_id)
    known_handles = {h.lower(): h for h in brand_of_thread.values()}
    for existing in session.scalars(select(SocialAccount.handle).where(SocialAccount.platform == "x")):
        if existing:
            known_handles.setdefault(existing.lower(), existing)

    accounts: dict[str, SocialAccount] = {}
    ordered = sorted(rows.values(), key=lambda r: (r.item.sent_at, r.depth))
    ingestor = BulkIngestor(session)
    pending: list[tuple[SocialAccount, InboundMessage]] = []
    for row in ordered:
        item = row.item
        item.thread_key = root[item.external_id]
        handle = brand_of_thread.get(item.thread_key)
        if handle is None:
            handle = next(
                (known_handles[m.lower()] for m in MENTION.findall(item.text) if m.lower() in known_handles),
                None,
            )
        if handle is None:
            record_dead_letter(
                session,
                source="file",
                platform="x",
                reason=f"line {row.line}: no brand answers or is mentioned in this thread, "
                "so its account is unknown",
                payload=json.dumps(item.raw, ensure_ascii=False),
            )
            report.dead_letters += 1
            continue
        account = accounts.get(handle) or _twcs_account(session, handle, brand_slug)
        accounts[handle] = account
        pending.append((account, item))
        if len(pending) >= BATCH:
            _store_batch(ingestor, pending, report)
            pending = []
    _store_batch(ingestor, pending, report)
    return report


def _store_batch(
    ingestor: BulkIngestor, batch: list[tuple[SocialAccount, InboundMessage]], report: IngestReport
) -> None:
    by_account: dict[int, list[InboundMessage]] = {}
    accounts: dict[int, SocialAccount] = {}
    for account, item in batch:
        by_account.setdefault(account.id, []).append(item)
        accounts[account.id] = account
    for account_id, items in by_account.items():
        ingestor.prime(accounts[account_id], items)
    for account, item in batch:
        ingestor.store(account, item, report)
    ingestor.finish(report)


def _twcs_row(line: int, record: dict[str, Any]) -> _Row:
    tweet_id = (record.get("tweet_id") or "").strip()
    author = (record.get("author_id") or "").strip()
    if not tweet_id or not author:
        raise ValueError("tweet_id and author_id are required")
    inbound = (record.get("inbound") or "").strip().lower()
    if inbound not in {"true", "false"}:
        raise ValueError(f"inbound must be True or False, not {record.get('inbound')!r}")
    parent = (record.get("in_response_to_tweet_id") or "").strip()
    parent = parent.split(".")[0] if parent else ""  # pandas exports write 123.0
    item = InboundMessage(
        platform="x",
        external_id=tweet_id,
        thread_key=tweet_id,
        author_id=author,
        author_handle=author,
        author_name="",
        text=record.get("text") or "",
        sent_at=parse_twcs_time(record.get("created_at") or ""),
        is_public=True,
        reply_to_external_id=parent or None,
        direction="inbound" if inbound == "true" else "outbound",
        raw={k: record.get(k) for k in TWCS_COLUMNS},
    )
    return _Row(line=line, item=item, account_key=author)


def _twcs_account(session: Session, handle: str, brand_slug: str | None) -> SocialAccount:
    slug = handle.lower()
    account = session.scalar(
        select(SocialAccount).where(SocialAccount.platform == "x", SocialAccount.slug == slug)
    )
    if account is not None:
        return account
    brand = None
    if brand_slug:
        brand = session.scalar(select(Brand).where(Brand.slug == brand_slug))
        if brand is None:
            raise ImportError_(f"no brand named {brand_slug!r}")
    if brand is None:
        brand = session.scalar(select(Brand).where(Brand.slug == slug))
    if brand is None:
        brand = Brand(slug=slug, name=handle)
        session.add(brand)
    account = SocialAccount(brand=brand, platform="x", slug=slug, handle=handle, external_id=handle)
    session.add(account)
    session.flush()
    return account


# --- JSONL, our normalized schema (docs/ingest.md) ---------------------------------------

JSONL_REQUIRED = ("platform", "account", "external_id", "author", "text", "sent_at")


def parse_time(value: Any) -> datetime:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise ValueError(f"sent_at must be an ISO 8601 string, not {type(value).__name__}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def jsonl_item(obj: Any) -> tuple[str, str, InboundMessage]:
    """One JSONL object → (platform, account slug, item); ValueError says what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("each line must be a JSON object")
    missing = [k for k in JSONL_REQUIRED if obj.get(k) in (None, "")]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    author = obj["author"]
    if not isinstance(author, dict) or not author.get("id"):
        raise ValueError("author must be an object with at least an id")
    if not isinstance(obj["text"], str):
        raise ValueError("text must be a string")
    item = InboundMessage(
        platform=str(obj["platform"]),
        external_id=str(obj["external_id"]),
        thread_key=str(obj.get("thread_key") or obj.get("reply_to") or obj["external_id"]),
        author_id=str(author["id"]),
        author_handle=str(author.get("handle") or ""),
        author_name=str(author.get("name") or ""),
        author_followers=int(author.get("followers") or 0),
        text=obj["text"],
        sent_at=parse_time(obj["sent_at"]),
        is_public=bool(obj.get("public", True)),
        reply_to_external_id=str(obj["reply_to"]) if obj.get("reply_to") else None,
        direction=str(obj.get("direction") or "inbound"),
        addressed_to_brand=bool(obj.get("addressed_to_brand", True)),
        language_hint=str(obj.get("language") or ""),
        raw=obj,
    )
    if item.direction not in {"inbound", "outbound"}:
        raise ValueError("direction must be inbound or outbound")
    return item.platform, str(obj["account"]), item


def import_jsonl(session: Session, path: Path) -> IngestReport:
    text = read_text(path)
    report = IngestReport()
    accounts: dict[tuple[str, str], SocialAccount | None] = {}
    ingestor = BulkIngestor(session)
    batch: list[tuple[SocialAccount, InboundMessage]] = []
    for line_no, line in _lines(text):
        try:
            platform, slug, item = jsonl_item(json.loads(line))
        except (json.JSONDecodeError, ValueError, TypeError) as exc:
            record_dead_letter(session, source="file", reason=f"line {line_no}: {exc}", payload=line)
            report.dead_letters += 1
            continue
        key = (platform, slug)
        if key not in accounts:
            accounts[key] = session.scalar(
                select(SocialAccount).where(SocialAccount.platform == platform, SocialAccount.slug == slug)
            )
        account = accounts[key]
        if account is None:
            record_dead_letter(
                session,
                source="file",
                platform=platform,
                account_slug=slug,
                reason=f"line {line_no}: no {platform} account named {slug!r} is connected",
                payload=line,
            )
            report.dead_letters += 1
            continue
        batch.append((account, item))
        if len(batch) >= BATCH:
            _store_batch(ingestor, batch, report)
            batch = []
    _store_batch(ingestor, batch, report)
    return report


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line
