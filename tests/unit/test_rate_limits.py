"""The edge limits' counting, in memory: each named limit refuses past its number,
says when to come back, and turns off with RATE_LIMITS; the poll throttle."""

from __future__ import annotations

import asyncio
import math

import pytest
from limits import parse_many
from limits.aio.storage import MemoryStorage

from boxoffice.config import Settings
from boxoffice.errors import RateLimited
from boxoffice.http import rate_limits
from boxoffice.http.rate_limits import LIMIT_SETTINGS, EdgeLimits, PollThrottle

SECRET = "unit-test-secret-key-long-enough-0123"


def edge(on: bool = True, **tiers: str) -> EdgeLimits:
    every = {name: "3/minute" for name in LIMIT_SETTINGS}
    return EdgeLimits(MemoryStorage(), {**every, **tiers}, polls=PollThrottle("1/second"), on=on)


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("name", sorted(LIMIT_SETTINGS))
async def test_each_limit_refuses_past_its_number_and_names_itself(name: str) -> None:
    limits = edge()
    for _ in range(3):
        await limits.hit(name, "198.51.100.7")
    with pytest.raises(RateLimited) as refused:
        await limits.hit(name, "198.51.100.7")
    assert refused.value.reason == name
    assert 1 <= refused.value.retry_after <= 60
    await limits.hit(name, "198.51.100.8")  # another address, or account, is not held


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("", ""),
        ("not-an-address", "not-an-address"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_slash_64(host: str, key: str) -> None:
    assert rate_limits.address_key(host) == key


async def test_the_addresses_of_one_ipv6_line_count_together() -> None:
    limits = edge()
    for n in range(3):
        await limits.hit("join_address", f"2001:db8:1:2::{n + 1}")
    with pytest.raises(RateLimited):
        await limits.hit("join_address", "2001:db8:1:2:ffff::9")
    await limits.hit("join_address", "2001:db8:1:3::1")  # the next /64 is someone else
    await limits.hit("join_account", "2001:db8:1:2::1")  # an account id is no address
    for n in range(3):
        await limits.count("signin_failed_account_address", "a@example.com", f"2001:db8::{n}")
    assert await limits.wait("signin_failed_account_address", "a@example.com", "2001:db8::9")


def test_the_join_limits_the_queue_calls_exist_with_their_settings() -> None:
    assert LIMIT_SETTINGS["join_address"] == "joins_per_address"
    assert LIMIT_SETTINGS["join_account"] == "joins_per_account"
    settings = Settings(secret_key=SECRET, joins_per_account="2/minute")
    assert EdgeLimits.from_settings(settings, MemoryStorage())._tiers["join_account"] == (
        parse_many("2/minute")
    )


async def test_every_limit_is_off_with_rate_limits_false() -> None:
    limits = edge(on=False)
    for name in LIMIT_SETTINGS:
        for _ in range(5):
            await limits.hit(name, "x")
            await limits.count(name, "x")
        await limits.check(name, "x")
        assert await limits.wait(name, "x") == 0


async def test_failures_are_counted_without_refusal_and_checked_after() -> None:
    limits = edge(admin_token="2/minute")
    await limits.check("admin_token", "a")
    await limits.count("admin_token", "a")
    await limits.count("admin_token", "a")
    await limits.count("admin_token", "a")  # past the number: counted, not raised
    with pytest.raises(RateLimited) as refused:
        await limits.check("admin_token", "a")
    assert refused.value.reason == "admin_token"
    await limits.clear("admin_token", "a")
    await limits.check("admin_token", "a")


async def test_a_longer_tier_makes_the_wait_longer() -> None:
    limits = edge(admin_token="2/second;3/minute")
    await limits.count("admin_token", "a")
    await limits.count("admin_token", "a")
    assert 1 <= await limits.wait("admin_token", "a") <= 1
    await asyncio.sleep(1.05)
    await limits.check("admin_token", "a")  # the second's tier has room again
    await limits.count("admin_token", "a")
    assert await limits.wait("admin_token", "a") > 50  # the minute's is spent


def test_the_defaults_are_those_the_design_promises() -> None:
    """Refused within 10 failed sign-ins of one account from one address, and within
    20 wrong admin tokens from one address in a minute."""
    settings = Settings(secret_key=SECRET)
    assert settings.rate_limits is True
    assert settings.trusted_proxies == ""
    per_account = parse_many(settings.failed_signins_per_account_and_address)
    assert min(item.amount for item in per_account) < 10
    admin = parse_many(settings.admin_failures_per_address)
    assert any(item.amount < 20 and item.get_expiry() >= 60 for item in admin)
    assert [item.get_expiry() for item in admin] == sorted(i.get_expiry() for i in admin)
    assert len(admin) >= 2  # back-off: a second, longer window


@pytest.mark.parametrize(
    "field", ["signups_per_address", "joins_per_account", "polls_per_token", "trusted_proxies"]
)
def test_a_malformed_limit_is_refused_at_startup(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Settings.model_validate({"secret_key": SECRET, field: "lots/fortnight"})


def test_the_poll_limit_is_one_window() -> None:
    with pytest.raises(ValueError, match="one"):
        Settings(secret_key=SECRET, polls_per_token="3/second;30/minute")


def test_a_token_polling_past_its_number_waits_out_the_window() -> None:
    ticks = Ticks()
    polls = PollThrottle("3/10 seconds", clock=ticks)
    for _ in range(3):
        polls.hit("jti-a")
    ticks.now += 2.5
    with pytest.raises(RateLimited) as refused:
        polls.hit("jti-a")
    assert refused.value.reason == "poll_too_fast"
    assert refused.value.retry_after == math.ceil(10 - 2.5)
    polls.hit("jti-b")  # another token is not held
    ticks.now += 7.5
    polls.hit("jti-a")  # a new window


def test_an_honest_page_is_never_refused() -> None:
    """Told to come back after 1 s (the fastest), a page with two tabs polls twice a
    second; the default lets it, every window."""
    ticks = Ticks()
    polls = PollThrottle(Settings.model_fields["polls_per_token"].default, clock=ticks)
    for _ in range(600):
        polls.hit("two-tabs")
        polls.hit("two-tabs")
        ticks.now += 1.0


def test_the_poll_table_forgets_every_window_and_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rate_limits, "MAX_TRACKED_TOKENS", 100)
    ticks = Ticks()
    polls = PollThrottle("2/10 seconds", clock=ticks)
    for n in range(1000):
        polls.hit(f"jti-{n}")
        assert len(polls._counts) <= 100
    ticks.now += 10
    polls.hit("one")
    assert len(polls._counts) == 1


def test_the_poll_throttle_is_off_with_rate_limits_false() -> None:
    polls = PollThrottle("1/minute", on=False)
    for _ in range(10):
        polls.hit("jti")
