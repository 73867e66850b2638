"""Room in a model's queue, reserved when a call is admitted and held until its requests start."""

from __future__ import annotations

from collections.abc import Callable


class Admission:
    """The queue room ``EngineClient.admit`` reserved for one call's requests.

    ``admit`` checks the caps and reserves in one step, so calls admitted at the same
    time cannot overfill the queue while their requests have not reached the engine yet
    (a streamed answer's requests start only when its body is sent, after other calls
    may have been admitted). Each request the call starts claims one reservation, which
    from then on counts as that request's place in the queue. What is left unclaimed goes
    back when the call ends: ``release``, which the API layer ties to the call's HTTP request
    (it runs when the request ends, however it ends; no finalizer).
    """

    def __init__(
        self, give_back: Callable[[int, int], None], num_requests: int, num_prompt_tokens: int, *, tenant: str = ""
    ) -> None:
        self._give_back = give_back
        # Whose call this is (its API key's id): the queue serves tenants in turn (QueueControl, FairQueue).
        self.tenant = tenant
        self._num_requests = num_requests
        self._num_prompt_tokens = num_prompt_tokens

    def claim(self, num_prompt_tokens: int) -> bool:
        """Takes one reservation for a request starting now; False when none is left (count it anew)."""
        if self._num_requests <= 0:
            return False
        self._num_requests -= 1
        # The request leaves the queue with its own prompt's tokens; may go below 0 if it brought more.
        self._num_prompt_tokens -= num_prompt_tokens
        if self._num_requests == 0:
            self.release()  # settles the tokens reserved against those the requests brought
        return True

    def release(self) -> None:
        """Gives back what no request claimed (idempotent)."""
        requests, tokens = self._num_requests, self._num_prompt_tokens
        self._num_requests = self._num_prompt_tokens = 0
        if requests or tokens:
            self._give_back(requests, tokens)
