"""The growth benchmark's order of runs: the smallest N's runs spread over the suite."""

from __future__ import annotations

from bench.growth import schedule


def test_the_smallest_runs_bracket_the_largest() -> None:
    order = schedule((50, 200, 800, 2000), 3)
    assert order == [(50, 1), (200, 1), (800, 1), (50, 2), (2000, 1), (50, 3)]
    assert schedule((50, 200, 800, 2000), 5) == [
        (50, 1),
        (200, 1),
        (50, 2),
        (800, 1),
        (50, 3),
        (50, 4),
        (2000, 1),
        (50, 5),
    ]


def test_every_run_is_scheduled_once() -> None:
    for sizes in [(50,), (4, 12), (50, 200), (50, 200, 800, 2000)]:
        for runs in range(1, 6):
            order = schedule(sizes, runs)
            assert order[0] == (sizes[0], 1)
            assert sorted(k for n, k in order if n == sizes[0]) == list(range(1, runs + 1))
            assert [n for n, _ in order if n != sizes[0]] == list(sizes[1:])
