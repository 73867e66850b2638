"""FairQueue: requests waiting to enter the engine, served round robin between tenants (API keys)."""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """FIFO within a tenant, round robin across tenants.

    A tenant's burst of a thousand requests and another tenant's single request are
    interleaved one for one, so the single request waits for one request of each
    other tenant, not for the whole burst (deficit-free round robin, as each item is
    one request). Pure bookkeeping: no clock, no threads.
    """

    def __init__(self) -> None:
        # Tenants in their turn order; the first is served next. Only tenants with items are here.
        self._queues: OrderedDict[str, deque[T]] = OrderedDict()
        self._num_items = 0

    def __len__(self) -> int:
        return self._num_items

    def push(self, tenant: str, item: T) -> None:
        queue = self._queues.get(tenant)
        if queue is None:
            # A tenant that had nothing waiting joins at the end of the current round.
            queue = self._queues[tenant] = deque()
        queue.append(item)
        self._num_items += 1

    def pop(self) -> T | None:
        """The next item in turn (None when empty); its tenant moves to the end of the round."""
        if not self._queues:
            return None
        tenant, queue = next(iter(self._queues.items()))
        item = queue.popleft()
        self._num_items -= 1
        if queue:
            self._queues.move_to_end(tenant)
        else:
            del self._queues[tenant]
        return item

    def remove(self, tenant: str, item: T) -> bool:
        """Takes an item out wherever it is (its request was cancelled); False if it is not here."""
        queue = self._queues.get(tenant)
        if queue is None:
            return False
        try:
            queue.remove(item)
        except ValueError:
            return False
        self._num_items -= 1
        if not queue:
            del self._queues[tenant]
        return True

    def drain(self) -> list[T]:
        """Every item, in turn order, leaving the queue empty."""
        items = []
        while (item := self.pop()) is not None:
            items.append(item)
        return items
