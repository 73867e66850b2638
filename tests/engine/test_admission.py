"""Admission: queue room reserved at admit() and held until each request starts, or given back."""

from __future__ import annotations

from openmaas.engine import Admission


class Counters:
    def __init__(self) -> None:
        self.requests = 0
        self.tokens = 0

    def give_back(self, requests: int, tokens: int) -> None:
        self.requests -= requests
        self.tokens -= tokens


def reserved(counters: Counters, requests: int, tokens: int) -> Admission:
    counters.requests += requests
    counters.tokens += tokens
    return Admission(counters.give_back, requests, tokens)


def test_each_started_request_claims_one_place_and_the_rest_goes_back() -> None:
    counters = Counters()
    admission = reserved(counters, 3, 30)
    assert admission.claim(10) and admission.claim(10)
    admission.release()
    # The two started requests still hold theirs (they leave the queue on their first output).
    assert (counters.requests, counters.tokens) == (2, 20)
    admission.release()  # idempotent
    assert (counters.requests, counters.tokens) == (2, 20)
    assert not admission.claim(10)  # nothing left: the caller counts that request anew


def test_the_last_claim_settles_tokens_exactly() -> None:
    counters = Counters()
    admission = reserved(counters, 2, 30)
    assert admission.claim(12) and admission.claim(20)
    # Reserved 30, the requests brought 32: the queue counts 32, which they take away as they start.
    assert (counters.requests, counters.tokens) == (2, 32)


def test_an_admission_is_given_back_by_its_owner_not_by_a_finalizer() -> None:
    counters = Counters()
    admission = reserved(counters, 4, 40)  # the caller's client left before its stream began
    del admission  # no finalizer: the API layer releases it when the HTTP request ends (on_end)
    assert (counters.requests, counters.tokens) == (4, 40)
    kept = reserved(counters, 4, 40)
    kept.release()
    assert (counters.requests, counters.tokens) == (4, 40)
