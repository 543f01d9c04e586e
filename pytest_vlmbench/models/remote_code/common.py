"""What the remote-code adapters share: the flag check, the record facts, releasing memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..base import Adapter, LoadOptions, Reads
from ..hf_common import RemoteCodeRequired, model_info, release

if TYPE_CHECKING:
    from PIL import Image


def require_remote_code(name: str, source: str, options: LoadOptions) -> None:
    """Refuse, in one sentence, before anything is fetched or run, when ``--trust-remote-code`` is off.

    The zoo's entries are refused earlier (``catalog.load_model``); this also covers a hub id
    or a local directory whose ``config.json`` led here (``zoo.family_for_config``).
    """
    if not options.trust_remote_code:
        raise RemoteCodeRequired(
            f"{name} ({source}) runs model code from its hub repository, which --trust-remote-code allows (off by default)."
        )


def rgb(image: Image.Image) -> Image.Image:
    """The image as RGB, as every model card converts it (datasets may hold greyscale images)."""
    return image if image.mode == "RGB" else image.convert("RGB")


class RemoteCodeAdapter(Adapter):
    """Name, record facts and ``close()``, the same for every adapter of this package."""

    reads: Reads = frozenset({"text", "image"})
    model: Any

    def _attach_model(self, name: str, model: Any, source: str, family: str) -> None:
        import torch

        self.name = name
        self.model = model.eval()
        self.device = str(model.device)
        self._torch = torch
        self.info = model_info(model, source, family, self.device)

    def close(self) -> None:
        self.model = None
        release(self._torch)
