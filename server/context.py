"""What a handler is handed: the server state, the job runner, and `run`, the thread hop to the
state's pool (the library is synchronous; the event loop never waits on disk)."""

from __future__ import annotations

import asyncio
import functools

from .jobs import JobRunner
from .state import LibraryState


class Context:
    def __init__(self, state: LibraryState, jobs: JobRunner | None = None):
        self.state = state
        self.jobs = jobs or JobRunner(state)

    async def run(self, fn, *args):
        """`fn(*args)` on the state's thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self.state.executor, functools.partial(fn, *args))

    def close(self) -> None:
        self.state.close()
