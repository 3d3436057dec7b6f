"""The assistant's repository on real PostgreSQL and SQLite, and its context cache on Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ssmas.assistant.context import ContextStore
from ssmas.assistant.store import (
    Turn,
    add_outbound,
    apply_status,
    claim_outbound,
    delivery_status,
    get_or_create_conversation,
    record_inbound,
)
from ssmas.core.cache import RedisCache
from ssmas.core.db import UnitOfWork, make_engine, make_session_factory, upgrade
from ssmas.core.security import PiiCipher
from ssmas.settings import Settings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CIPHER = PiiCipher.from_secret("store-test")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def factory(request: pytest.FixtureRequest, settings: Settings) -> Iterator[sessionmaker[Session]]:
    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgres"
        else (settings.resolved_database_url)
    )
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def new_phone() -> str:
    import uuid

    return "34" + str(uuid.uuid4().int)[:9]


def test_conversation_found_by_blind_index_and_inbound_stored_once(
    factory: sessionmaker[Session],
) -> None:
    phone = new_phone()
    with UnitOfWork(factory) as uow:
        conv = get_or_create_conversation(
            uow.session, CIPHER, business_id="b", phone=phone, name="Ana", now=T0
        )
        again = get_or_create_conversation(
            uow.session, CIPHER, business_id="b", phone=phone, name=None, now=T0
        )
        assert again.id == conv.id
        wa_id = f"wamid.{phone}"
        first, created = record_inbound(
            uow.session,
            CIPHER,
            conv,
            wa_id=wa_id,
            kind="text",
            text="hola",
            wa_timestamp=T0,
            now=T0,
        )
        second, created_again = record_inbound(
            uow.session,
            CIPHER,
            conv,
            wa_id=wa_id,
            kind="text",
            text="hola",
            wa_timestamp=T0,
            now=T0,
        )
        assert created and not created_again and first.id == second.id
        uow.commit()


def test_only_one_claim_wins_and_a_stale_claim_is_taken_over(
    factory: sessionmaker[Session],
) -> None:
    with UnitOfWork(factory) as uow:
        conv = get_or_create_conversation(
            uow.session, CIPHER, business_id="b", phone=new_phone(), name=None, now=T0
        )
        message_id = add_outbound(uow.session, CIPHER, conv, text="hi", author="bot", now=T0).id
        uow.commit()
    claims = []
    for offset in (0, 5, 31):
        with UnitOfWork(factory) as uow:
            claims.append(
                claim_outbound(
                    uow.session, message_id, now=T0 + timedelta(seconds=offset), lease_s=30
                )
            )
            uow.commit()
    assert claims == [True, False, True]


def test_status_moves_forward_only_and_failed_is_final(factory: sessionmaker[Session]) -> None:
    wa_id = f"wamid.out.{new_phone()}"
    outcomes = []
    for status in ("read", "sent", "delivered", "failed", "read", "sent"):
        with UnitOfWork(factory) as uow:
            outcomes.append(
                apply_status(
                    uow.session, wa_id=wa_id, status=status, status_at=T0, error_code=None, now=T0
                )
            )
            uow.commit()
    assert outcomes == [True, False, False, True, False, False]
    with UnitOfWork(factory) as uow:
        row = delivery_status(uow.session, wa_id)
        assert row is not None and row.status == "failed"
        assert not apply_status(
            uow.session, wa_id=wa_id, status="deleted", status_at=T0, error_code=None, now=T0
        )


@pytest.mark.redis
def test_context_window_lives_in_redis(redis_url: str, factory: sessionmaker[Session]) -> None:
    cache = RedisCache(redis_url)
    store = ContextStore(cache, CIPHER, max_turns=3, token_budget=500, ttl_s=60)
    with UnitOfWork(factory) as uow:
        conv = get_or_create_conversation(
            uow.session, CIPHER, business_id="b", phone=new_phone(), name=None, now=T0
        )
        for i in range(4):
            record_inbound(
                uow.session,
                CIPHER,
                conv,
                wa_id=f"w{conv.id}-{i}",
                kind="text",
                text=f"mensaje {i}",
                wa_timestamp=T0,
                now=T0,
            )
        uow.commit()
        window = store.load(uow.session, conv)  # a miss: rebuilt from the database
    assert [t.text for t in window.turns] == ["mensaje 1", "mensaje 2", "mensaje 3"]
    assert "mensaje 0" in window.summary
    store.extend(window, Turn(role="bot", text="respuesta", at=T0))
    again = ContextStore(RedisCache(redis_url), CIPHER).cached(conv.id)
    assert again is not None and [t.text for t in again.turns][-1] == "respuesta"
    cache.close()


def test_batch_writes_create_once_skip_seen_ids_and_claim_replies(
    factory: sessionmaker[Session],
) -> None:
    from ssmas.assistant.store import (
        NewInbound,
        NewReply,
        conversations_for,
        insert_inbound_many,
        insert_replies_many,
        seen_wa_ids,
    )
    from ssmas.assistant.tables import ChatMessage

    old, new = new_phone(), new_phone()
    with UnitOfWork(factory) as uow:
        existing = get_or_create_conversation(
            uow.session, CIPHER, business_id="b", phone=old, name=None, now=T0
        )
        uow.commit()
    with UnitOfWork(factory) as uow:
        customers = [("b", old, None), ("b", new, "Eva"), ("b", new, "Eva")]
        found = conversations_for(uow.session, CIPHER, customers, now=T0)
        assert [(c.id == existing.id, created) for c, created in found[:1]] == [(True, False)]
        (first_new, created), (again_new, created_again) = found[1], found[2]
        assert created and created_again and first_new.id == again_new.id
        assert CIPHER.decrypt(first_new.phone_enc) == new
        rows = [
            NewInbound(c.id, 1, f"wamid.{c.id}.{new}", "text", "hola", T0, state="done")
            for c, _ in found[:2]
        ]
        stored = insert_inbound_many(uow.session, CIPHER, rows, now=T0)
        assert set(stored) == {r.wa_id for r in rows}
        # the same message ids again: nothing stored, nothing raised
        assert insert_inbound_many(uow.session, CIPHER, rows, now=T0) == {}
        assert seen_wa_ids(uow.session, [rows[0].wa_id, "wamid.never"]) == {rows[0].wa_id}
        replies = [NewReply(r.conversation_id, 1, stored[r.wa_id], "hi", "es") for r in rows]
        reply_ids = insert_replies_many(uow.session, CIPHER, replies, now=T0)
        assert insert_replies_many(uow.session, CIPHER, replies[:1], now=T0) == {}
        uow.commit()
    with UnitOfWork(factory) as uow:
        for reply_to, reply_id in reply_ids.items():
            row = uow.session.get(ChatMessage, reply_id)
            assert row is not None and row.reply_to_id == reply_to
            assert (row.state, row.attempts, row.claimed_at) == ("sending", 1, T0)
            assert CIPHER.decrypt(row.body_enc) == "hi"


def test_send_token_round_trips_and_refuses_foreign_strings() -> None:
    from ssmas.assistant.store import parse_send_token, send_token

    token = send_token(42, T0)
    assert token == f"ssmas-out.42.{int(T0.timestamp())}"
    assert parse_send_token(token) == (42, int(T0.timestamp()))
    for foreign in (None, "", "42", "other.42.1", "ssmas-out.x.1", "ssmas-out.1.2.3"):
        assert parse_send_token(foreign) is None


def test_a_status_echoing_the_token_settles_the_claimed_row_and_is_found_by_takeovers(
    factory: sessionmaker[Session],
) -> None:
    from ssmas.assistant.store import (
        OTHER_SEND,
        RECORDED,
        SETTLED,
        UNKNOWN,
        accepted_send,
        mark_failed,
        send_token,
        settle_by_token,
    )
    from ssmas.assistant.tables import ChatMessage

    with UnitOfWork(factory) as uow:
        conv = get_or_create_conversation(
            uow.session, CIPHER, business_id="b", phone=new_phone(), name=None, now=T0
        )
        row = add_outbound(
            uow.session, CIPHER, conv, text="hi", author="bot", now=T0, claimed_at=T0
        )
        message_id = row.id
        uow.commit()
    token = send_token(message_id, T0)
    wa_id = f"wamid.accepted.{message_id}.{new_phone()}"
    later = T0 + timedelta(seconds=40)
    with UnitOfWork(factory) as uow:
        assert accepted_send(uow.session, token) is None
        # statuses arrive out of order; the token is kept from the first one on
        for status in ("delivered", "sent"):
            apply_status(
                uow.session,
                wa_id=wa_id,
                status=status,
                status_at=T0,
                error_code=None,
                now=later,
                callback_data=token,
            )
        evidence = accepted_send(uow.session, token)
        assert evidence is not None and (evidence.wa_id, evidence.status) == (wa_id, "delivered")
        # a token of another row, of another database (same id, other second), or not ours
        assert (
            settle_by_token(
                uow.session, send_token(message_id + 10_000, T0), wa_id=wa_id, now=later
            )
            == UNKNOWN
        )
        stale = send_token(message_id, T0 - timedelta(days=3))
        assert settle_by_token(uow.session, stale, wa_id=wa_id, now=later) == UNKNOWN
        assert settle_by_token(uow.session, "campaign-7", wa_id=wa_id, now=later) == UNKNOWN
        assert settle_by_token(uow.session, token, wa_id=wa_id, now=later) == SETTLED
        assert settle_by_token(uow.session, token, wa_id=wa_id, now=later) == RECORDED
        assert settle_by_token(uow.session, token, wa_id=wa_id + "b", now=later) == OTHER_SEND
        # a failure of a later retry does not undo the proof that an earlier try was accepted
        mark_failed(uow.session, message_id, error_code=131000, now=later)
        uow.commit()
    with UnitOfWork(factory) as uow:
        stored = uow.session.get(ChatMessage, message_id)
        assert stored is not None
        assert (stored.state, stored.wa_id, stored.sent_at) == ("sent", wa_id, later)
