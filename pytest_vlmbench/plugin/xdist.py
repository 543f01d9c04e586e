"""pytest-xdist: one worker per model, and one GPU per worker.

Registered only when pytest-xdist is installed (as pytest-randomly does), so its xdist-only
hooks are never seen by a pytest without it.

- The controller turns xdist's default ``--dist load`` into ``--dist loadgroup``; each item
  carries an ``xdist_group`` mark naming its model, so all items of one model run on one
  worker and each model is loaded once. An explicit ``--dist`` mode is left alone.
- Workers re-read the command line and would not know of that choice: the controller
  sends it in each worker's ``workerinput``. The worker then suffixes our items' node ids
  with ``@MODEL``, which is how xdist's loadgroup scheduler groups items. (xdist 3.8 does
  this itself by setting ``item._nodeid``, which pytest 9 no longer reads: its node id
  lives in ``item._id``. So we set whichever the running pytest has.)
- With several GPUs visible, each worker is pinned to its own (``CUDA_VISIBLE_DEVICES``,
  before torch is imported there).
"""

from __future__ import annotations

from typing import Any

import pytest

from ..session.gpus import pin_worker

WORKER_KEY = "vlmbench_loadgroup"


class XdistHooks:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
        self.grouped = False
        if workerinput is None:
            if config.getoption("dist", "no") == "load":
                config.option.dist = "loadgroup"
                self.grouped = True
        else:
            self.grouped = bool(workerinput.get(WORKER_KEY)) or config.getoption("dist", "no") == "loadgroup"
            pin_worker(str(workerinput.get("workerid", "")))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_KEY] = self.grouped

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if not self.grouped or not hasattr(self.config, "workerinput"):
            return
        for item in items:
            callspec = getattr(item, "callspec", None)
            case = callspec.params.get("vlmbench_case") if callspec is not None else None
            if case is None or "@" in item.nodeid.rpartition("]")[2]:
                continue  # not ours, or already grouped (xdist on a pytest that reads _nodeid)
            set_node_id(item, f"{item.nodeid}@{case.model}")


def set_node_id(item: pytest.Item, nodeid: str) -> None:
    if hasattr(item, "_id"):  # pytest >= 9
        from _pytest.nodeid import coerce_node_id  # type: ignore[import-not-found,unused-ignore]

        item._id = coerce_node_id(nodeid)
    else:
        item._nodeid = nodeid  # type: ignore[attr-defined,unused-ignore]
