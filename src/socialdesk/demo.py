"""`socialdesk demo`: a demo brand, live traffic through the real webhooks, and the desk.

The traffic is real material in the platforms' real shapes: the documented example payloads
in tests/fixtures/platforms, the Customer Support on Twitter sample (real brand care
threads) re-timed to now, and real multilingual tweets from the UMSAB validation sets, each
wrapped in a copy of a documented payload of the platform it is replayed on. Every delivery
is signed as the platform signs it and posted to /webhooks/{platform}/{account}.
"""

from __future__ import annotations

import copy
import csv
import itertools
import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.brands.models import Brand, SocialAccount
from socialdesk.db.engine import session_scope
from socialdesk.platforms.base import AccountCredentials
from socialdesk.platforms.registry import PLATFORMS, sign
from socialdesk.routing.models import Agent, Team

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
DEMO_PASSWORD = "demo-password"
DEMO_LOGINS = (
    ("agent@demo.socialdesk", "Alex Agent", "agent"),
    ("supervisor@demo.socialdesk", "Sam Supervisor", "supervisor"),
    ("admin@demo.socialdesk", "Ada Admin", "admin"),
)
# The account ids the documented example payloads address, so they parse as "to the brand".
ACCOUNT_IDS = {
    "x": ("2244994945", "TwitterDev"),
    "facebook": ("1234567890321", "AcmePage"),
    "messenger": ("PAGE_ID", "AcmePage"),
    "instagram": ("IGID", "acme"),
    "whatsapp": ("106540352242922", "15550783881"),
    "telegram": ("", "acme_bot"),
    "youtube": ("UCacmeChannel", "Acme"),
}
UMSAB_ON = {  # language → the platform its tweets are replayed on
    "german": "instagram",
    "french": "messenger",
    "spanish": "whatsapp",
    "portuguese": "whatsapp",
    "italian": "telegram",
    "arabic": "whatsapp",
    "hindi": "telegram",
    "english": "facebook",
}
SPIKE_TEXTS = (
    "Terrible. My power bank is swelling and the case is cracking open. This is dangerous!",
    "Power bank swelling after two days and it got so hot it burned my hand. Awful, I want a refund",
    "Worst purchase ever, the power bank is swelling and smells like burning plastic",
    "My power bank is swelling up, I'm scared it will catch fire. Really disappointed",
    "Second power bank swelling AGAIN. Unacceptable and unsafe, fix this now",
    "Why is nobody answering? My power bank is swelling and I'm furious",
)


@dataclass(slots=True)
class Delivery:
    platform: str
    payload: dict[str, Any]
    label: str


def account_slug(platform: str) -> str:
    return f"acme-{platform}"


def seed(session: Session) -> Brand:
    """The demo brand, one account per platform, a team, and three logins (idempotent)."""
    brand = session.scalar(select(Brand).where(Brand.slug == "acme"))
    if brand is None:
        brand = Brand(slug="acme", name="Acme", formality="neutral")
        session.add(brand)
        session.flush()
    for platform in PLATFORMS:
        slug = account_slug(platform)
        if session.scalar(select(SocialAccount).where(SocialAccount.slug == slug)) is None:
            external_id, handle = ACCOUNT_IDS[platform]
            session.add(
                SocialAccount(
                    brand=brand,
                    platform=platform,
                    slug=slug,
                    external_id=external_id,
                    handle=handle,
                    app_secret=f"demo-secret-{platform}",
                    verify_token=f"demo-verify-{platform}",
                )
            )
    team = session.scalar(select(Team).where(Team.slug == "care"))
    if team is None:
        team = Team(slug="care", name="Care", brand_id=brand.id, languages=[], platforms=[])
        session.add(team)
    for email, name, role in DEMO_LOGINS:
        if session.scalar(select(Agent).where(Agent.email == email)) is None:
            agent = Agent(
                email=email,
                name=name,
                role=role,
                password_hash=_hash(DEMO_PASSWORD),
                languages=["en", "de", "fr", "es", "pt", "it"],
                platforms=list(PLATFORMS),
                capacity=50,
                # The admin sets things up; the agent and the supervisor take conversations.
                availability="offline" if role == "admin" else "online",
            )
            agent.teams.append(team)
            session.add(agent)
    session.flush()
    _seed_workflow(session, brand)
    return brand


def _seed_workflow(session: Session, brand: Brand) -> None:
    """SLA targets, listening rules, canned responses and automation, as a new team would set up."""
    from socialdesk.assist.models import ReplyTemplate
    from socialdesk.assist.templates import TemplateInput, create_template, set_approval
    from socialdesk.automation.engine import create_rule as create_automation
    from socialdesk.automation.models import AutomationRule
    from socialdesk.listening.models import ListeningRule
    from socialdesk.listening.service import create_rule as create_listening
    from socialdesk.routing.models import SlaPolicy

    if session.scalar(select(SlaPolicy.id).where(SlaPolicy.brand_id == brand.id)) is None:
        session.add_all(
            [
                SlaPolicy(name="Social care", brand_id=brand.id, first_response_minutes=15,
                          next_response_minutes=30, resolution_minutes=8 * 60),
                SlaPolicy(name="Urgent", brand_id=brand.id, priority="urgent", first_response_minutes=5,
                          next_response_minutes=10, resolution_minutes=2 * 60),
            ]
        )  # fmt: skip
    if session.scalar(select(ListeningRule.id).where(ListeningRule.brand_id == brand.id)) is None:
        for name, kind, query in (
            ("Acme brand", "brand", '"acme" OR @AcmeCare OR #acme'),
            ("Delivery trouble", "product", "(deliver* OR parcel OR package) AND (late OR lost OR never)"),
            ("Globex (competitor)", "competitor", '"globex" OR @globex'),
            ("Black Friday", "campaign", '#blackfriday OR "black friday"'),
        ):
            create_listening(session, brand=brand.id, name=name, query=query, kind=kind, actor="demo")
    if session.scalar(select(ReplyTemplate.id)) is None:
        for name, shortcode, bodies in (
            ("Apology", "sorry", {
                "en": "Hi {{ customer.first_name }}, I'm sorry about this. I'm looking into it now and "
                      "will update you shortly. {{ agent.first_name }}",
                "de": "Hallo {{ customer.first_name }}, das tut mir leid. Ich kümmere mich sofort darum. "
                      "{{ agent.first_name }}",
                "es": "Hola {{ customer.first_name }}, lo sentimos mucho. Lo reviso ahora mismo. "
                      "{{ agent.first_name }}",
            }),
            ("Order status", "order", {
                "en": "Hi {{ customer.first_name }}, sorry for the wait. Could you DM us your order "
                      "number so we can check where it is?",
            }),
        ):  # fmt: skip
            template = create_template(session, TemplateInput(name=name, shortcode=shortcode, bodies=bodies),
                                       actor=None)  # fmt: skip
            set_approval(session, template, "approved", actor=None)
    if session.scalar(select(AutomationRule.id)) is None:
        create_automation(
            session, name="Safety first", event="message_created",
            conditions={"all": [{"field": "issue_type", "op": "eq", "value": "safety"}]},
            actions=[
                {"type": "set_priority", "priority": "urgent"},
                {"type": "add_label", "labels": ["safety"]},
            ],
        )  # fmt: skip
        create_automation(
            session, name="Upset German Instagram customers", event="conversation_created",
            conditions={"all": [
                {"field": "platform", "op": "eq", "value": "instagram"},
                {"field": "language", "op": "eq", "value": "de"},
                {"field": "sentiment", "op": "eq", "value": "negative"},
            ]},
            actions=[{"type": "set_priority", "priority": "high"}],
        )  # fmt: skip
    session.flush()


def _hash(password: str) -> str:
    try:
        from socialdesk.auth.passwords import hash_password
    except ImportError:  # the routing domain ships it; argon2 directly until then
        from argon2 import PasswordHasher

        return PasswordHasher().hash(password)
    return hash_password(password)


def credentials(platform: str) -> AccountCredentials:
    external_id, handle = ACCOUNT_IDS[platform]
    return AccountCredentials(
        external_id=external_id,
        handle=handle,
        app_secret=f"demo-secret-{platform}",
        verify_token=f"demo-verify-{platform}",
    )


# --- traffic --------------------------------------------------------------------------


# Documented API responses kept beside the webhook deliveries (the analytics domain reads
# engagement counts from them); no platform posts these to a webhook.
API_RESPONSES = {"facebook/object_reactions_summary.json", "instagram/media_insights.json"}


def fixture_deliveries(fixtures: Path = FIXTURES) -> Iterator[Delivery]:
    """Every documented example webhook payload once, as the platform would post it."""
    root = fixtures / "platforms"
    for platform in PLATFORMS:
        for path in sorted((root / platform).glob("*.json")):
            if platform == "youtube" or "delete" in path.stem or "read" in path.stem:
                continue
            if f"{platform}/{path.name}" in API_RESPONSES:
                continue
            yield Delivery(platform, json.loads(path.read_text()), f"fixture {platform}/{path.name}")


ORDER_STATUSES = ("processing", "shipped", "delivered", "delivered", "refund requested")


def demo_order_book(key: str) -> list[dict[str, Any]]:
    """The demo CRM's orders for a customer it never saw: up to three, the same for the same
    identity every time (seeded by the key), so the customer panel has something to show."""
    rng = random.Random(key)
    today = datetime.now(UTC).date()
    orders = []
    for _ in range(rng.randint(0, 3)):
        number = rng.randint(100_000, 999_999)
        orders.append(
            {
                "id": f"A-{number}",
                "status": rng.choice(ORDER_STATUSES),
                "total": round(rng.uniform(9, 240), 2),
                "currency": "EUR",
                "date": (today - timedelta(days=rng.randint(0, 60))).isoformat(),
                "link": f"https://crm.acme.example/orders/A-{number}",
            }
        )
    return orders


def connect_demo_crm(session: Session, brand: Brand, endpoint: str, header: str, secret: str) -> None:
    """Point the demo brand's CRM lookup at the local fake CRM (as an admin would in settings)."""
    from socialdesk.auth.service import Principal
    from socialdesk.customers import crm

    crm.save_config(
        session,
        brand.id,
        endpoint_url=endpoint,
        secret_header=header,
        secret=secret,
        actor=Principal(name="demo", role="admin"),
    )


def _template(platform: str, name: str, fixtures: Path = FIXTURES) -> dict[str, Any] | None:
    path = fixtures / "platforms" / platform / name
    return json.loads(path.read_text()) if path.is_file() else None


class Traffic:
    """Builds new deliveries from documented payloads, with fresh ids and the time now."""

    def __init__(self, fixtures: Path = FIXTURES, data_dir: Path | None = None, seed: int = 7) -> None:
        self.fixtures = fixtures
        self.data_dir = data_dir or Path(
            os.environ.get("SOCIALDESK_TRAINING_DATA", REPO.parent / "shared" / "data")
        )
        self.random = random.Random(seed)
        self.ids = itertools.count(int(time.time() * 1000))
        self.templates = {
            "x": _template("x", "account_activity_tweet_create_events.json", fixtures),
            "whatsapp": _template("whatsapp", "messages_text.json", fixtures),
            "telegram": _template("telegram", "update_message_private.json", fixtures),
            "instagram": _template("instagram", "messaging_text.json", fixtures),
            "messenger": _template("messenger", "messages_text_event.json", fixtures),
            "facebook": _template("facebook", "feed_comment_add.json", fixtures),
        }

    def message(
        self,
        platform: str,
        text: str,
        author: str,
        name: str,
        reply_to: str | None = None,
        outbound: bool = False,
    ) -> Delivery | None:
        template = self.templates.get(platform)
        if template is None:
            return None
        payload = copy.deepcopy(template)
        now = datetime.now(UTC)
        ident = str(next(self.ids))
        build = getattr(self, f"_{platform}")
        build(payload, ident, text, author, name, now, reply_to, outbound)
        return Delivery(platform, payload, f"{platform} message from {name or author}")

    def _x(self, p, ident, text, author, name, now, reply_to, outbound) -> None:
        tweet = p["tweet_create_events"][0]
        brand_id, brand_handle = ACCOUNT_IDS["x"]
        tweet.update(
            id=int(ident),
            id_str=ident,
            created_at=now.strftime("%a %b %d %H:%M:%S +0000 %Y"),
            full_text=text,
            text=text,
            display_text_range=[0, len(text)],
        )
        tweet["entities"] = {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}
        tweet["in_reply_to_status_id"] = int(reply_to) if reply_to else None
        tweet["in_reply_to_status_id_str"] = reply_to
        tweet["in_reply_to_user_id"] = None if outbound else int(brand_id)
        tweet["in_reply_to_user_id_str"] = None if outbound else brand_id
        tweet["in_reply_to_screen_name"] = None if outbound else brand_handle
        user = tweet["user"]
        uid = brand_id if outbound else str(abs(hash(author)) % 10**12)
        user.update(
            id=int(uid),
            id_str=uid,
            name=brand_handle if outbound else (name or author),
            screen_name=brand_handle if outbound else author,
            followers_count=self.random.choice([12, 85, 340, 2100, 56000]),
        )
        p["for_user_id"] = brand_id

    def _whatsapp(self, p, ident, text, author, name, now, reply_to, outbound) -> None:
        value = p["entry"][0]["changes"][0]["value"]
        value["contacts"][0].update(profile={"name": name}, wa_id=author)
        msg = value["messages"][0]
        msg.update(
            {
                "from": author,
                "id": f"wamid.demo{ident}",
                "timestamp": str(int(now.timestamp())),
                "type": "text",
                "text": {"body": text},
            }
        )

    def _telegram(self, p, ident, text, author, name, now, reply_to, outbound) -> None:
        p["update_id"] = int(ident) % 2**31
        msg = p["message"]
        first, _, last = name.partition(" ")
        person = {"id": int(author), "first_name": first, "last_name": last, "username": f"user{author}"}
        msg.update(date=int(now.timestamp()), message_id=int(ident) % 2**31, text=text)
        msg["from"] = dict(person)
        msg["chat"] = {**person, "type": "private"}

    def _instagram(self, p, ident, text, author, name, now, reply_to, outbound) -> None:
        # Meta's reference pages print some events bare, others inside the entry envelope.
        if "entry" in p:
            entry = p["entry"][0]
            entry["time"] = int(now.timestamp() * 1000)
            event = entry["messaging"][0]
        else:
            event = p
            event["recipient"] = {"id": ACCOUNT_IDS["messenger"][0]}
        event["sender"] = {"id": author}
        event["timestamp"] = int(now.timestamp() * 1000)
        event["message"] = {"mid": f"demo-mid-{ident}", "text": text}

    _messenger = _instagram

    def _facebook(self, p, ident, text, author, name, now, reply_to, outbound) -> None:
        entry = p["entry"][0]
        value = entry["changes"][0]["value"]
        post = value["post_id"]
        value.update(
            comment_id=f"{post.split('_')[-1]}_{ident}",
            created_time=int(now.timestamp()),
            message=text,
            parent_id=post,
        )
        value["from"] = {"id": author, "name": name}
        entry["time"] = int(now.timestamp())

    def twcs_threads(self, path: Path) -> list[list[dict[str, str]]]:
        """The TWCS sample's reply chains, oldest first within each."""
        if not path.is_file():
            return []
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        by_id = {r["tweet_id"]: r for r in rows}
        threads: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            root = row
            seen = 0
            while root.get("in_response_to_tweet_id") in by_id and seen < 100:
                root = by_id[root["in_response_to_tweet_id"]]
                seen += 1
            threads.setdefault(root["tweet_id"], []).append(row)
        ordered = []
        for chain in threads.values():
            chain.sort(key=lambda r: r["tweet_id"].zfill(20))
            if any(r["inbound"] == "True" for r in chain):
                ordered.append(chain)
        return ordered

    def multilingual(self, per_language: int = 6) -> list[Delivery]:
        out: list[Delivery] = []
        umsab = self.data_dir / "umsab"
        for language, platform in UMSAB_ON.items():
            path = umsab / language / "val_text.txt"
            if not path.is_file():
                continue
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            for text in self.random.sample(lines, min(per_language, len(lines))):
                author = str(self.random.randint(10**9, 10**10))
                name = self.random.choice(
                    [
                        "Lena Vogel",
                        "Marie Dubois",
                        "Lucía Pérez",
                        "João Silva",
                        "Giulia Rossi",
                        "Omar Haddad",
                        "Priya Sharma",
                        "Jo Smith",
                    ]
                )
                delivery = self.message(platform, text.replace("@user", "").strip(), author, name)
                if delivery:
                    out.append(delivery)
        return out

    def stream(self, twcs: Path) -> Iterator[Delivery]:
        """Interleaved care threads and multilingual messages; a spike after the first minutes."""
        threads = self.twcs_threads(twcs)
        multilingual = self.multilingual()
        self.random.shuffle(multilingual)
        # The spike starts after the first 40 deliveries and, like a real one, builds up over
        # the next minute or so rather than arriving all at once.
        spike_at = 40
        spike = self.spike()
        sent = 0
        thread_iters = [self._replay_thread(chain) for chain in threads]
        while thread_iters or multilingual:
            if thread_iters:
                current = thread_iters.pop(0)
                step = next(current, None)
                if step is not None:
                    yield step
                    thread_iters.append(current)
            if multilingual and self.random.random() < 0.5:
                yield multilingual.pop()
            sent += 1
            if sent >= spike_at:
                burst = next(spike, None)
                if burst is not None:
                    yield burst
        yield from spike

    def _replay_thread(self, chain: list[dict[str, str]]) -> Iterator[Delivery]:
        ids: dict[str, str] = {}
        for row in chain:
            outbound = row["inbound"] != "True"
            parent = ids.get(row.get("in_response_to_tweet_id") or "")
            text = row["text"]
            delivery = self.message("x", text, row["author_id"], "", reply_to=parent, outbound=outbound)
            if delivery is None:
                return
            ids[row["tweet_id"]] = delivery.payload["tweet_create_events"][0]["id_str"]
            yield delivery

    def spike(self, size: int = 24) -> Iterator[Delivery]:
        platforms = ["x", "instagram", "facebook", "whatsapp"]
        for n in range(size):
            text = SPIKE_TEXTS[n % len(SPIKE_TEXTS)]
            author = str(self.random.randint(10**9, 10**10))
            delivery = self.message(platforms[n % len(platforms)], text, f"c{author}", "Worried Customer")
            if delivery:
                delivery.label = "spike: " + delivery.label
                yield delivery


def post(client: httpx.Client, base_url: str, delivery: Delivery) -> int:
    body = json.dumps(delivery.payload).encode()
    headers = {
        "content-type": "application/json",
        **sign(delivery.platform, body, credentials(delivery.platform)),
    }
    response = client.post(
        f"{base_url}/webhooks/{delivery.platform}/{account_slug(delivery.platform)}",
        content=body,
        headers=headers,
    )
    return response.status_code


def resolve_old_conversations(session: Session, older_than: timedelta = timedelta(days=1)) -> int:
    """The documented payloads carry their original dates (years ago): resolve what they opened,
    so the live inbox shows the live traffic."""
    from socialdesk.conversations.actions import change_status
    from socialdesk.conversations.models import Conversation

    cutoff = datetime.now(UTC) - older_than
    old = session.scalars(
        select(Conversation).where(
            Conversation.last_message_at < cutoff, Conversation.status.in_(("new", "open"))
        )
    ).all()
    for conversation in old:
        change_status(session, conversation, "resolved", actor=None)
    return len(old)


def replay(base_url: str, pace: float, stop: threading.Event, twcs: Path) -> int:
    traffic = Traffic()
    sent = 0
    with httpx.Client(timeout=30) as client:
        for delivery in fixture_deliveries():
            sent += post(client, base_url, delivery) < 400
        from socialdesk.queue import get_queue

        get_queue().drain(timeout=120)
        with session_scope() as session:
            resolve_old_conversations(session)
        for delivery in traffic.stream(twcs):
            if stop.is_set():
                break
            status = post(client, base_url, delivery)
            sent += 1
            if status >= 400:
                print(f"  ! {delivery.label}: HTTP {status}", flush=True)
            if pace:
                stop.wait(pace * (0.5 + traffic.random.random()))
    return sent


def run_demo(host: str = "127.0.0.1", port: int = 8000, pace: float = 0.5, once: bool = False) -> None:
    import uvicorn

    from socialdesk.config import get_settings
    from socialdesk.web.app import create_app

    # Inbox messages get the accurate tier, as a production desk would configure it.
    os.environ.setdefault("SOCIALDESK_TRIAGE_TIER", "accurate")
    get_settings.cache_clear()

    from socialdesk.platforms.fake_server import running_fake_server

    # The platforms' APIs cannot be reached from a demo: replies go to the local fake platform
    # server, which answers as each platform's documented reply endpoint does.
    fake = running_fake_server()
    platforms = fake.__enter__()
    # Nor can a brand's CRM: the customer panel's orders come from the local fake CRM.
    from socialdesk.customers.fake_crm import running_fake_crm

    fake_crm = running_fake_crm(order_book=demo_order_book)
    orders = fake_crm.__enter__()
    with session_scope() as session:
        brand = seed(session)
        connect_demo_crm(session, brand, orders.endpoint, orders.header, orders.secret)
        for account in session.scalars(select(SocialAccount).where(SocialAccount.slug.like("acme-%"))):
            account.api_base_url = platforms.base_url
            account.access_token = account.access_token or f"demo-token-{account.platform}"
    app = create_app()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    stop = threading.Event()
    base_url = f"http://{host}:{port}"
    twcs = FIXTURES / "twcs" / "sample.csv"

    def drive() -> None:
        while not server.started:
            time.sleep(0.05)
        print(f"\nsocialdesk demo is running at {base_url}/", flush=True)
        print("  log in as one of (password: demo-password):")
        for email, _name, role in DEMO_LOGINS:
            print(f"    {role:<11} {email}")
        print("  replaying real platform traffic through the webhooks; Ctrl+C to stop\n", flush=True)
        sent = replay(base_url, pace, stop, twcs)
        from socialdesk.queue import get_queue

        get_queue().drain(timeout=120)
        print(f"replayed {sent} deliveries; the desk keeps serving", flush=True)
        if once:
            server.should_exit = True

    thread = threading.Thread(target=drive, name="demo-replay", daemon=True)
    thread.start()
    try:
        server.run()
    finally:
        stop.set()
        fake_crm.__exit__(None, None, None)
        fake.__exit__(None, None, None)
