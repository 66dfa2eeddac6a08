"""The reply checker catches what a care lead would before a reply goes out."""

from socialdesk.assist.checker import check_reply, review_reply


def codes(text: str, **kw) -> set[str]:
    return {w.code for w in check_reply(text, **kw)}


def test_an_over_long_unempathetic_tweet_is_caught():
    text = "You should have read the delivery terms. " * 8
    found = codes(text, platform="x", is_public=True, customer_sentiment="negative")
    assert {"over_limit", "no_acknowledgement", "blame"} <= found
    assert review_reply(text, platform="x").blocking


def test_a_short_empathetic_reply_passes_cleanly():
    text = "Hi Anna, sorry your parcel is late. I've checked and it arrives tomorrow; DM us if not."
    assert codes(text, platform="x", customer_sentiment="negative", customer_name="Anna Weber") == set()


def test_x_counts_weighted_length_so_cjk_doubles():
    check = review_reply("あ" * 141, platform="x")
    assert check.length == 282 and check.limit == 280
    assert "over_limit" in {w.code for w in check.warnings}


def test_private_messages_use_the_private_limit():
    assert "over_limit" not in codes("a" * 900, platform="x", is_public=False)


def test_slang_is_flagged_for_a_formal_brand_but_not_for_a_casual_one():
    assert "slang" in codes("lol we're gonna fix it", brand_formality="formal")
    assert "slang" not in codes("lol we're gonna fix it", brand_formality="casual")


def test_scripted_phrases_are_called_robotic():
    assert "robotic" in codes("We apologize for any inconvenience this may have caused.")


def test_personal_data_in_a_public_reply_suggests_a_dm_but_not_in_a_dm():
    text = "Sorry! Please confirm your email anna.weber@example.com so we can check."
    assert "personal_data_public" in codes(text, is_public=True)
    assert "personal_data_public" not in codes(text, is_public=False, platform="messenger")


def test_german_mixing_sie_and_du_is_inconsistent():
    text = "Hallo Anna, es tut uns leid. Können Sie uns deine Bestellnummer schicken?"
    assert "mixed_formality" in codes(text, customer_language="de")


def test_german_lower_case_sie_meaning_she_is_not_formal_address():
    text = "Hallo Anna, es tut uns leid. Kannst du uns sagen, wann sie geliefert wurde?"
    found = codes(text, customer_language="de", brand_formality="casual")
    assert "mixed_formality" not in found


def test_informal_french_for_a_formal_brand_is_flagged_with_the_locale_note():
    check = review_reply(
        "Bonjour, désolé, tu peux nous envoyer ton numéro ?", customer_language="fr", brand_formality="formal"
    )
    assert "informal_address" in {w.code for w in check.warnings}
    assert "directness" in check.locale_notes


def test_acknowledgement_in_the_customers_language_counts():
    assert "no_acknowledgement" not in codes(
        "Lo sentimos mucho, ya revisamos su pedido.", customer_language="es", customer_sentiment="negative"
    )


def test_empty_reply_is_an_error():
    assert review_reply("   ").blocking
