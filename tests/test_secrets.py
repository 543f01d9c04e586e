"""The process-wide secrets registry: what is masked, what is not, and where."""

from __future__ import annotations

from pytest_vlmbench.secrets import MASK, MIN_SECRET_LENGTH, is_registered, public_url, redact, redact_json, register_secret

KEY = "sk-registry-test-KEY-789"


def test_a_registered_secret_is_masked_everywhere_in_the_text() -> None:
    assert register_secret(KEY)
    assert redact(f"key={KEY}; again {KEY}.") == f"key={MASK}; again {MASK}."
    assert redact("sk-registry-test-KEY-78") == "sk-registry-test-KEY-78"  # only the whole value


def test_the_url_encoded_form_is_masked_too() -> None:
    secret = "p@ss/word with space"
    assert register_secret(secret)
    assert redact("https://h/v1?token=p%40ss%2Fword%20with%20space") == f"https://h/v1?token={MASK}"
    assert redact("token=p%40ss%2Fword+with+space") == f"token={MASK}"


def test_a_secret_containing_another_is_masked_whole() -> None:
    assert register_secret("inner-secret") and register_secret("outer-inner-secret-x")
    assert redact("outer-inner-secret-x") == MASK


def test_short_values_are_not_registered() -> None:
    """Masking "a" or "1234" would mangle every output; no real key is that short."""
    assert MIN_SECRET_LENGTH == 6
    assert not register_secret("abc12") and not register_secret("  ab  ") and not register_secret("") and not register_secret(None)
    assert not is_registered("abc12")
    assert redact("abc12 stays") == "abc12 stays"


def test_url_credentials_are_masked_whether_registered_or_not() -> None:
    text = "failed: https://user:pw@host:8443/v1 and http://token@10.0.0.1/x, not mail@example.com or http://host/a@b"
    assert redact(text) == (
        f"failed: https://{MASK}@host:8443/v1 and http://{MASK}@10.0.0.1/x, not mail@example.com or http://host/a@b"
    )
    assert redact("http://u:p@ss@host/v1?x=a@b") == f"http://{MASK}@host/v1?x=a@b"  # an unencoded @ in the password


def test_public_url_drops_credentials() -> None:
    assert public_url("https://user:pw@example.com:8443/v1") == "https://example.com:8443/v1"
    assert public_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert public_url("user:pw@localhost:8000/v1") == f"{MASK}@localhost:8000/v1"  # no scheme: urlsplit would misread it
    assert public_url("localhost:8000/v1") == "localhost:8000/v1"


def test_redact_json_walks_dicts_lists_tuples_and_keys() -> None:
    register_secret(KEY)
    obj = {"answers": [f"yes {KEY}", 3, None, True], KEY: (f"{KEY}", 1.5), "url": "https://a:b@h/v1", "n": 7}
    assert redact_json(obj) == {"answers": [f"yes {MASK}", 3, None, True], MASK: (MASK, 1.5), "url": f"https://{MASK}@h/v1", "n": 7}
    assert obj["answers"] == [f"yes {KEY}", 3, None, True]  # a copy: the input is left alone
