from socialdesk.triage.pii import detect_pii, luhn_valid, redact


def kinds(text: str, **kw: object) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in detect_pii(text, **kw)]  # type: ignore[arg-type]


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("5500 0000 0000 0004")
    assert luhn_valid("378282246310005")  # Amex, 15 digits
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("1234")


def test_cards_valid_and_invalid() -> None:
    assert kinds("my card 4111 1111 1111 1111 ok") == [("card", "4111 1111 1111 1111")]
    assert kinds("card 4111-1111-1111-1111") == [("card", "4111-1111-1111-1111")]
    # Fails Luhn: not a card (and not a phone either).
    assert [k for k, _ in kinds("number 4111 1111 1111 1112")] != ["card"]


def test_email() -> None:
    assert kinds("write to jo.doe+x@example.co.uk please") == [("email", "jo.doe+x@example.co.uk")]
    assert kinds("@user thanks") == []


def test_phones_several_countries() -> None:
    cases = {
        "call +1 415 555 2671": "+1 415 555 2671",
        "ruf an: +49 30 901820": "+49 30 901820",
        "London 020 7946 0958": "020 7946 0958",
        "Appelez le 01 42 68 53 00": "01 42 68 53 00",
        "llámame al 612 345 678": "612 345 678",
        "meu número +55 11 91234-5678": "+55 11 91234-5678",
        "call (415) 555-2671": "(415) 555-2671",
    }
    for text, want in cases.items():
        assert ("phone", want) in kinds(text), text


def test_not_a_phone() -> None:
    assert kinds("I waited 2 hours and 15 minutes in 2024") == []


def test_order_and_ticket_patterns() -> None:
    got = kinds("order #A12345 and ticket: 99887")
    assert ("order", "A12345") in got and ("ticket", "99887") in got
    assert ("order", "12345678") in kinds("Bestellnummer 12345678 fehlt")
    custom = {"order": r"\bORD-\d{6}\b"}
    assert kinds("see ORD-123456", patterns=custom) == [("order", "ORD-123456")]


def test_redact() -> None:
    text = "mail a@b.com now"
    assert redact(text, detect_pii(text)) == "mail [email] now"
