from boxoffice.bounded import Bounded


def test_keeps_at_most_its_size_forgetting_the_oldest_first() -> None:
    cache: Bounded[int, str] = Bounded(3)
    for n in range(10):
        cache.put(n, str(n))
        assert len(cache) == min(n + 1, 3)
    assert [cache.get(n) for n in range(10)] == [None] * 7 + ["7", "8", "9"]


def test_putting_a_known_key_again_replaces_it_in_its_place() -> None:
    cache: Bounded[str, int] = Bounded(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)
    assert len(cache) == 2 and cache.get("a") == 3
    cache.put("c", 4)  # "a" is still the oldest
    assert cache.get("a") is None and cache.get("b") == 2 and cache.get("c") == 4


def test_a_popped_entry_frees_its_place() -> None:
    cache: Bounded[str, int] = Bounded(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.pop("a") == 1 and cache.pop("a") is None
    cache.put("c", 3)
    assert cache.get("b") == 2 and cache.get("c") == 3


def test_a_long_run_through_a_full_cache_keeps_exactly_the_newest() -> None:
    cache: Bounded[int, int] = Bounded(1_000)
    for n in range(50_000):
        cache.put(n, n)
    assert len(cache) == 1_000
    assert cache.get(48_999) is None and cache.get(49_000) == 49_000
    assert all(cache.get(n) == n for n in range(49_000, 50_000))
