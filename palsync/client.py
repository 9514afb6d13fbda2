"""What the pipeline needs from an account: the `Client` protocol. `palsync.api.TavusClient`
implements it over HTTP; tests may pass anything that does. Importing this module costs nothing
(no httpx), so the planner, the applier and the lease are typed against it, not against `Any`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from palsync.api import PatchResult
    from palsync.kinds import Kind

T = TypeVar("T")
R = TypeVar("R")


class Client(Protocol):
    #: the API's URL as shown (no user:password@ part)
    base_url: str
    #: a one-way fingerprint of the API key: tells two accounts apart, reveals nothing
    account: str
    #: requests in flight at most
    concurrency: int

    def start(self, fn: Callable[[T], R], items: Sequence[T]) -> Callable[[], list[R]]: ...

    def map_concurrent(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...

    def list_kind(self, kind: Kind, expected: int = 0) -> list[dict[str, Any]]: ...

    def get(self, kind: Kind, item_id: str) -> dict[str, Any] | None: ...

    def create(self, kind: Kind, body: dict[str, Any]) -> dict[str, Any]: ...

    def patch(
        self, kind: Kind, item_id: str, change: Any, *, force: bool = False
    ) -> PatchResult: ...

    def delete(self, kind: Kind, item_id: str) -> bool: ...

    def list_pals(self, expected: int = 0, *, with_lease: bool = False) -> list[dict[str, Any]]: ...

    def get_pal(self, pal_id: str) -> dict[str, Any] | None: ...

    def create_pal(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def patch_pal(
        self, pal_id: str, ops: list[dict[str, Any]], *, force: bool = False
    ) -> PatchResult: ...

    def delete_pal(self, pal_id: str) -> bool: ...
