"""A line's proof of work: a solution is taken once, from the fan it was issued to, for
the line it was issued for, before it expires; anything else is refused, saying why."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from boxoffice.errors import ChallengeRequired
from boxoffice.queue.challenge import (
    MAX_NUMBERS,
    ChallengeLevel,
    Challenges,
    MemoryReplays,
)

SECRET = "unit-test-secret-key-0123456789abcdef"
TTL = 300
NOW = 1_800_000_000.0
SMALL = {ChallengeLevel.LOW: 200, ChallengeLevel.MEDIUM: 400, ChallengeLevel.HIGH: 800}


def make_challenges(*, secret: str = SECRET) -> Challenges:
    return Challenges(
        secret_key=secret, ttl_seconds=TTL, replays=MemoryReplays(), max_numbers=SMALL
    )


def solve(challenge: dict[str, object]) -> int:
    salted = hashlib.sha256(str(challenge["salt"]).encode())
    target = bytes.fromhex(str(challenge["challenge"]))
    for number in range(int(str(challenge["maxnumber"])) + 1):
        attempt = salted.copy()
        attempt.update(str(number).encode())
        if attempt.digest() == target:
            return number
    raise AssertionError("no number solves the challenge")


def solved(issued: dict[str, object], /, number: int | None = None, **changes: Any) -> str:
    """The base64 payload a fan's page sends for this challenge (its fields changed)."""
    if number is None:
        number = solve(issued)
    payload = {
        "algorithm": issued["algorithm"],
        "challenge": issued["challenge"],
        "number": number,
        "salt": issued["salt"],
        "signature": issued["signature"],
        **changes,
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


def issue(
    challenges: Challenges,
    *,
    user_id: int = 7,
    line: str = "default",
    level: ChallengeLevel = ChallengeLevel.LOW,
) -> dict[str, object]:
    return challenges.issue(user_id=user_id, line=line, level=level, now=NOW)


async def refusal(
    challenges: Challenges,
    proof: str | None,
    *,
    user_id: int = 7,
    line: str = "default",
    now: float = NOW + 1,
    level: ChallengeLevel | None = None,
) -> str:
    with pytest.raises(ChallengeRequired) as refused:
        await challenges.accept(proof, user_id=user_id, line=line, now=now, level=level)
    assert refused.value.status == 403 and refused.value.code == "challenge_required"
    return refused.value.detail


async def test_a_solved_challenge_is_accepted() -> None:
    challenges = make_challenges()
    await challenges.accept(solved(issue(challenges)), user_id=7, line="default", now=NOW + 1)


def test_a_challenge_is_altcha_v1_bound_to_the_fan_the_line_and_its_expiry() -> None:
    challenge = issue(make_challenges(), user_id=42, line="concert:5")
    assert set(challenge) == {"algorithm", "challenge", "salt", "maxnumber", "signature"}
    assert challenge["algorithm"] == "SHA-256"
    assert challenge["maxnumber"] == SMALL[ChallengeLevel.LOW]
    salt = str(challenge["salt"])
    assert "user=42" in salt and "line=concert%3A5" in salt
    assert f"expires={int(NOW + TTL)}" in salt


async def test_a_solution_is_accepted_once() -> None:
    challenges = make_challenges()
    proof = solved(issue(challenges))
    await challenges.accept(proof, user_id=7, line="default", now=NOW + 1)
    assert "already been used" in await refusal(challenges, proof, now=NOW + 2)


async def test_two_challenges_of_one_fan_are_two_places() -> None:
    challenges = make_challenges()
    for _ in range(2):
        await challenges.accept(solved(issue(challenges)), user_id=7, line="default", now=NOW + 1)


async def test_a_solution_sent_after_its_challenge_expired_is_refused() -> None:
    challenges = make_challenges()
    proof = solved(issue(challenges))
    assert "expired" in await refusal(challenges, proof, now=NOW + TTL)


async def test_a_solution_sent_a_moment_before_expiry_is_accepted() -> None:
    challenges = make_challenges()
    await challenges.accept(solved(issue(challenges)), user_id=7, line="default", now=NOW + TTL - 1)


async def test_another_fans_solution_is_refused() -> None:
    challenges = make_challenges()
    proof = solved(issue(challenges, user_id=7))
    assert "not for you" in await refusal(challenges, proof, user_id=8)


async def test_a_solution_for_another_line_is_refused() -> None:
    challenges = make_challenges()
    proof = solved(issue(challenges, line="concert:1"))
    assert "another line" in await refusal(challenges, proof, line="concert:2")
    assert "another line" in await refusal(challenges, proof, line="default")


async def test_a_tampered_signature_is_refused() -> None:
    challenges = make_challenges()
    challenge = issue(challenges)
    signature = str(challenge["signature"])
    flipped = ("1" if signature[0] == "0" else "0") + signature[1:]
    proof = solved(challenge, signature=flipped)
    assert "does not solve" in await refusal(challenges, proof)


async def test_a_challenge_signed_with_another_key_is_refused() -> None:
    proof = solved(issue(make_challenges(secret="another-secret-key-0123456789abcdef")))
    assert "does not solve" in await refusal(make_challenges(), proof)


async def test_a_salt_rewritten_for_another_fan_is_refused() -> None:
    """The salt names the fan and the challenge is its hash, signed: a salt edited and
    hashed again makes a challenge the server never signed."""
    challenges = make_challenges()
    challenge = issue(challenges, user_id=7)
    salt = str(challenge["salt"]).replace("user=7", "user=8")
    rehashed = hashlib.sha256(f"{salt}0".encode()).hexdigest()
    proof = solved(challenge, number=0, salt=salt, challenge=rehashed)
    assert "does not solve" in await refusal(challenges, proof, user_id=8)


async def test_a_wrong_number_is_refused() -> None:
    challenges = make_challenges()
    challenge = issue(challenges)
    right = json.loads(base64.b64decode(solved(challenge)))["number"]
    assert "does not solve" in await refusal(challenges, solved(challenge, number=right + 1))


@pytest.mark.parametrize(
    "proof",
    [
        "%%% not base64 %%%",
        base64.b64encode(b"\xff\xfe not utf-8").decode(),
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1, 2, 3]").decode(),
        base64.b64encode(b'{"algorithm": "SHA-256"}').decode(),
    ],
    ids=["not-base64", "not-utf8", "not-json", "not-an-object", "fields-missing"],
)
async def test_garbage_is_refused(proof: str) -> None:
    assert "not a challenge solution" in await refusal(make_challenges(), proof)


@pytest.mark.parametrize(
    "changes",
    [{"number": "5"}, {"number": True}, {"number": -1}, {"algorithm": "SHA-1"}, {"salt": 5}],
    ids=["number-as-text", "number-as-bool", "negative", "other-algorithm", "salt-not-text"],
)
async def test_a_payload_of_the_wrong_shape_is_refused(changes: dict[str, Any]) -> None:
    challenges = make_challenges()
    proof = solved(issue(challenges), **changes)
    assert "not a challenge solution" in await refusal(challenges, proof)


async def test_a_payload_padded_past_any_real_one_is_refused_unread() -> None:
    challenges = make_challenges()
    proof = solved(issue(challenges), padding="x" * 3000)
    assert "not a challenge solution" in await refusal(challenges, proof)


@pytest.mark.parametrize("proof", [None, ""])
async def test_a_join_without_a_proof_is_refused(proof: str | None) -> None:
    assert "none was sent" in await refusal(make_challenges(), proof)


async def test_an_easier_solution_is_refused_once_the_line_asks_for_more() -> None:
    challenges = make_challenges()
    proof = solved(issue(challenges, level=ChallengeLevel.LOW))
    assert "harder now" in await refusal(challenges, proof, level=ChallengeLevel.HIGH)
    await challenges.accept(proof, user_id=7, line="default", now=NOW + 1, level=ChallengeLevel.LOW)


async def test_a_harder_solution_is_taken_when_the_line_asks_for_less() -> None:
    challenges = make_challenges()
    proof = solved(issue(challenges, level=ChallengeLevel.HIGH))
    await challenges.accept(proof, user_id=7, line="default", now=NOW + 1, level=ChallengeLevel.LOW)


def test_a_line_whose_challenge_is_off_issues_none() -> None:
    with pytest.raises(ValueError):
        issue(make_challenges(), level=ChallengeLevel.OFF)


def test_each_level_asks_for_more_work_than_the_one_below() -> None:
    challenges = Challenges(secret_key=SECRET, ttl_seconds=TTL, replays=MemoryReplays())
    issued = [
        int(str(issue(challenges, level=level)["maxnumber"]))
        for level in (ChallengeLevel.LOW, ChallengeLevel.MEDIUM, ChallengeLevel.HIGH)
    ]
    assert issued == [MAX_NUMBERS[ChallengeLevel(level)] for level in ("low", "medium", "high")]
    assert issued == sorted(set(issued))


def test_challenges_are_signed_with_a_key_derived_from_the_secret_not_the_secret() -> None:
    challenge = issue(make_challenges())
    digest = str(challenge["challenge"]).encode()
    with_secret = hmac.new(SECRET.encode(), digest, hashlib.sha256).hexdigest()
    assert challenge["signature"] != with_secret


async def test_the_memory_store_forgets_a_solution_once_its_challenge_has_expired() -> None:
    replays = MemoryReplays()
    assert await replays.first_use("a", ttl_seconds=10, now=0.0)
    assert not await replays.first_use("a", ttl_seconds=10, now=9.0)
    assert await replays.first_use("a", ttl_seconds=10, now=10.0)
