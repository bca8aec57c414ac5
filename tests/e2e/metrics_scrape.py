"""Reading the services' `/metrics` over HTTP, the way Prometheus does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpx
from commandcenter.stack import Stack
from prometheus_client.parser import text_string_to_metric_families

TASK_STEPS = ("isolate", "agent", "commit", "verify", "push", "integrate")


@dataclass(frozen=True)
class Scrape:
    """One service's exposition: the families it lists and every sample."""

    families: frozenset[str]
    samples: tuple[tuple[str, Mapping[str, str], float], ...]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0: none)."""
        return sum(
            v
            for n, sample_labels, v in self.samples
            if n == name and all(sample_labels.get(k) == want for k, want in labels.items())
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {ls[label] for n, ls, _ in self.samples if n == name and label in ls}


def scrape(url: str) -> Scrape:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    families: set[str] = set()
    samples: list[tuple[str, Mapping[str, str], float]] = []
    for family in text_string_to_metric_families(response.text):
        # The parser names a counter's family without `_total`; list both spellings.
        families.update(
            {family.name, f"{family.name}_total"} if family.type == "counter" else {family.name}
        )
        samples.extend((s.name, s.labels, s.value) for s in family.samples)
    return Scrape(frozenset(families), tuple(samples))


def scrape_services(stack: Stack, prefix: str = "") -> dict[str, Scrape]:
    """Every service of `stack` whose name starts with `prefix`, by name."""
    return {
        name: scrape(url) for name, url in stack.metrics_urls.items() if name.startswith(prefix)
    }


def total(scrapes: Iterable[Scrape], name: str, **labels: str) -> float:
    return sum(s.value(name, **labels) for s in scrapes)
