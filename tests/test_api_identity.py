"""``playground.api.identity``: the client key from plain values (the page reuses it), and the
bounded ``Idempotency-Key`` store."""

from __future__ import annotations

from starlette.datastructures import Headers

from playground.api.idempotency import IdempotencyKeys, valid_key
from playground.api.identity import client_key, presented_token
from tests.support import make_settings


def test_without_a_token_any_authorization_header_is_ignored() -> None:
    settings = make_settings()
    keys = {client_key({"Authorization": f"Bearer {n}"}, "10.1.1.1", settings) for n in range(5)}
    assert keys == {"ip:10.1.1.1"}


def test_the_validated_token_is_the_key_however_it_is_spaced_and_never_stored_raw() -> None:
    settings = make_settings(playground_api_token="s3cret")
    variants = ["Bearer s3cret", "bearer   s3cret", "  BEARER s3cret  "]
    keys = {
        client_key({"authorization": v}, f"10.0.0.{i}", settings) for i, v in enumerate(variants)
    }
    assert len(keys) == 1
    (key,) = keys
    assert key.startswith("token:") and "s3cret" not in key
    assert client_key({"authorization": "Bearer nope"}, "10.0.0.9", settings) == "ip:10.0.0.9"


def test_the_raw_form_counts_only_where_allowed() -> None:
    settings = make_settings(playground_api_token="VF.DM.k")
    raw = {"Authorization": "VF.DM.k"}
    assert client_key(raw, "10.0.0.1", settings) == "ip:10.0.0.1"
    assert client_key(raw, "10.0.0.1", settings, allow_raw_token=True).startswith("token:")
    assert presented_token("VF.DM.k") is None
    assert presented_token("VF.DM.k", allow_raw=True) == "VF.DM.k"


def test_forwarded_for_is_read_only_behind_a_trusted_proxy_and_from_the_right() -> None:
    spoofed = {"X-Forwarded-For": "1.2.3.4, 203.0.113.7"}
    assert client_key(spoofed, "10.0.0.1", make_settings()) == "ip:10.0.0.1"
    trusted = make_settings(playground_trust_forwarded_for=True)
    assert client_key(spoofed, "10.0.0.1", trusted) == "ip:203.0.113.7"
    assert client_key(spoofed, "10.0.0.1", make_settings(space_id="me/space")) == "ip:203.0.113.7"
    # A proxy that adds its own header line instead of appending still wins.
    lines = Headers(raw=[(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-for", b"203.0.113.9")])
    assert client_key(lines, "10.0.0.1", trusted) == "ip:203.0.113.9"
    assert client_key({"X-Forwarded-For": " , "}, "10.0.0.1", trusted) == "ip:10.0.0.1"


def test_idempotency_keys_are_per_caller_bounded_and_expire_with_their_turn() -> None:
    turns = {"t1": "turn one", "t2": "turn two", "t3": "turn three"}
    store: IdempotencyKeys[str] = IdempotencyKeys(max_keys=2, lookup=turns.get)
    store.remember("alice", "k", "t1")
    assert store.find("alice", "k") == "turn one"
    assert store.find("bob", "k") is None, "another caller's key is another key"
    store.remember("alice", "k2", "t2")
    store.remember("alice", "k3", "t3")
    assert store.find("alice", "k") is None, "the oldest key went past the bound"
    del turns["t3"]
    assert store.find("alice", "k3") is None, "its turn's log expired"
    assert valid_key("0b6f-uuid") and not valid_key("") and not valid_key("a b")
