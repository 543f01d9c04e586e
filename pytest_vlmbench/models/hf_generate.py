"""Greedy generation for the Hugging Face adapters: early stops, token counts, shared prefixes.

:func:`greedy_generate` runs one left-padded batch through ``model.generate`` and stops each
answer as soon as it is decided -- at its end-of-sequence token, or when the request's
``decided`` rule says the text so far settles it (binary: a complete first word yes/no) --
and the batch as soon as every answer is. Each :class:`~.base.Answer` carries its request's
:class:`~pytest_vlmbench.record.Tokens`.

:func:`shared_generate` is the same batch with each group's shared prefix computed once.
Requests of one group (one item's questions: same image, same start of prompt) are split,
in token space, at their longest common prefix; one forward pass over the groups' prefixes
(one row per group, so each image goes through the vision encoder once) fills a KV cache,
whose rows are then copied to every request of the group, and ``generate`` continues each
request from its copy with only its own suffix. Rows are laid out as ``[pad | prefix | pad |
suffix]``: the padding in the middle is masked, and positions count only unmasked tokens,
as in the unshared left-padded batch, so every real token sees the same positions and
keys. Models with multimodal RoPE (Qwen2-VL and its successors) keep a per-row position
offset (``rope_deltas``) from the prefix pass; it is copied to the rows the same way.

The last prefix pass is kept (:class:`PrefixMemory`): when the next call holds the same
groups with the same prefix tokens and the same images (binary's next round of the same
items), it continues from a copy of that cache instead of computing the prefix again.
"""

from __future__ import annotations

import inspect
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..record import Tokens
from .base import Answer, PromptTooLong, Request


def context_window(config: Any) -> int | None:
    """The most positions the model takes (prompt plus answer): ``max_position_embeddings`` of its
    text model (``text_config`` for VLMs), else of the config itself; ``None`` when neither says."""
    for part in (getattr(config, "text_config", None), config):
        value = getattr(part, "max_position_embeddings", None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_fits(name: str, inputs: Any, requests: Sequence[Request], window: int | None) -> None:
    """Raise :class:`~.base.PromptTooLong` naming each request whose prompt tokens plus its
    ``max_new_tokens`` exceed ``window`` (the rest of the batch is then sent again without them).

    Checked on the tokenized batch, image tokens included, before it reaches the accelerator:
    a prompt of 25 full articles must end as that item's error, not as a 55 GB allocation.
    """
    if window is None:
        return
    lengths = inputs["attention_mask"].sum(dim=1).tolist()
    reasons = {
        row: f"its prompt has {int(n)} tokens, and with the {r.max_new_tokens} to generate that is over the "
        f"{window}-token context window of {name}; show fewer exemplars (--k-shot) or shorten the text"
        for row, (n, r) in enumerate(zip(lengths, requests))
        if int(n) + r.max_new_tokens > window
    }
    if reasons:
        raise PromptTooLong(reasons)


def _stopper(requests: Sequence[Request], prompt_len: int, tokenizer: Any, eos: set[int], generated: list[int]) -> Any:
    """A ``StoppingCriteria`` ending each answer at EOS or when its ``decided`` rule holds.

    It also writes into ``generated`` how many tokens each answer had when it ended (the
    rows ``generate`` has finished are padded after that; their count stays put).
    """
    import torch
    from transformers import StoppingCriteria

    done = [False] * len(requests)

    class AnswerDecided(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            new = input_ids[:, prompt_len:]
            for row, request in enumerate(requests):
                if done[row]:
                    continue
                generated[row] = new.shape[1]
                if int(new[row, -1]) in eos:
                    done[row] = True
                elif request.decided is not None and request.decided(tokenizer.decode(new[row], skip_special_tokens=True)):
                    done[row] = True
            return torch.tensor(done, device=input_ids.device)

    return AnswerDecided()


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    value = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(value if isinstance(value, list) else [value] if value is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def greedy_generate(
    model: Any, tokenizer: Any, inputs: Any, requests: Sequence[Request], **extra: Any
) -> tuple[list[str], list[int]]:
    """Greedy answers of a left-padded batch and each answer's generated-token count.

    ``extra`` goes to ``generate`` as is (a prefilled cache, for :func:`shared_generate`).
    """
    import torch
    from transformers import StoppingCriteriaList

    prompt_len = inputs["input_ids"].shape[1]
    generated = [0] * len(requests)
    stop = _stopper(requests, prompt_len, tokenizer, _eos_ids(model, tokenizer), generated)
    with torch.inference_mode():
        out = model.generate(
            **inputs, **extra, max_new_tokens=max(r.max_new_tokens for r in requests), do_sample=False,
            pad_token_id=tokenizer.pad_token_id, stopping_criteria=StoppingCriteriaList([stop]),
        )  # fmt: skip
    new = out[:, prompt_len:]
    answers = [tokenizer.decode(new[row, :n], skip_special_tokens=True).strip() for row, n in enumerate(generated)]
    return answers, generated


def unshared_generate(model: Any, tokenizer: Any, inputs: Any, requests: Sequence[Request]) -> list[Answer]:
    """:func:`greedy_generate` with each request's prompt tokens counted (nothing shared)."""
    answers, generated = greedy_generate(model, tokenizer, inputs, requests)
    prompt = inputs["attention_mask"].sum(dim=1).tolist()
    return [Answer(a, Tokens(int(p), 0, g)) for a, p, g in zip(answers, prompt, generated)]


def groups_of(requests: Sequence[Request]) -> list[list[int]]:
    """Positions of the requests that share a prefix, by :attr:`Request.group`, in first-seen order."""
    by_key: dict[str, list[int]] = {}
    out: list[list[int]] = []
    for i, request in enumerate(requests):
        if request.group is None:
            out.append([i])
        elif request.group in by_key:
            by_key[request.group].append(i)
        else:
            by_key[request.group] = [i]
            out.append(by_key[request.group])
    return out


def worth_sharing(requests: Sequence[Request], memory: PrefixMemory | None = None) -> bool:
    """Some group has two requests or more, or the kept prefix pass has these very groups
    (otherwise the plain batch is the same work)."""
    groups = groups_of(requests)
    if any(len(g) > 1 for g in groups):
        return True
    last = memory.last if memory is not None else None
    return last is not None and last.keys == [requests[g[0]].group for g in groups]


def _common_length(rows: Sequence[Any]) -> int:
    """Length of the longest common prefix of 1-D token tensors."""
    n = min(int(r.shape[0]) for r in rows)
    first = rows[0][:n]
    for row in rows[1:]:
        differs = (row[:n] != first).nonzero()
        if differs.numel():
            n = int(differs[0])
            first = first[:n]
    return n


def _left_pad(parts: Sequence[Any], value: int) -> Any:
    import torch

    width = max(int(p.shape[0]) for p in parts)
    out = torch.full((len(parts), width), value, dtype=parts[0].dtype, device=parts[0].device)
    for row, part in enumerate(parts):
        if part.shape[0]:
            out[row, width - part.shape[0] :] = part
    return out


@dataclass
class _Prefixes:
    """One prefix pass: its groups (in row order), token inputs, non-token inputs, cache and offsets."""

    keys: list[str | None]
    ids: list[Any]
    prefix: dict[str, Any]
    extras: dict[str, Any]
    cache: Any
    deltas: Any

    def serves(self, keys: list[str | None], real: list[list[Any]], extras: dict[str, Any]) -> bool:
        """The same groups, each row starting with its group's stored prefix (and a token after it), same images."""
        import torch

        if keys != self.keys or None in keys or extras.keys() != self.extras.keys():
            return False
        for stored, rows in zip(self.ids, real):
            n = int(stored.shape[0])
            if any(int(r.shape[0]) <= n or not torch.equal(r[:n], stored) for r in rows):
                return False
        return all(_same(extras[k], self.extras[k]) for k in extras)


def _same(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(torch.equal(a, b))
    return bool(a == b)


class PrefixMemory:
    """An adapter's last prefix pass, for the next call to continue from (see the module docstring),
    and the ids of its model's image tokens (which must all lie in a group's shared prefix)."""

    def __init__(self, vision_tokens: frozenset[int] = frozenset()) -> None:
        self.vision_tokens = vision_tokens
        self.last: _Prefixes | None = None
        self.reused = 0
        """Calls served from the kept prefix pass (for tests and benchmarks)."""


def shared_generate(
    model: Any,
    tokenizer: Any,
    inputs: Any,
    requests: Sequence[Request],
    prefix_extras: Callable[[list[int]], Any] | None,
    memory: PrefixMemory,
) -> list[Answer] | None:
    """Answers with each group's prefix computed once; ``None`` when this batch cannot share.

    ``inputs`` is the left-padded batch of every request (what the unshared path would
    send); ``prefix_extras(rows)`` gives the non-token inputs (pixel values, grids) of those
    rows' images, for the prefix pass. A group whose image tokens (``memory.vision_tokens``)
    do not all lie in its shared prefix cannot be split; then the whole batch returns
    ``None`` and the caller runs it unshared.
    """
    import torch

    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    token_keys = [k for k, v in inputs.items() if hasattr(v, "shape") and tuple(v.shape) == tuple(ids.shape)]
    starts = [ids.shape[1] - int(m) for m in mask.sum(dim=1).tolist()]
    groups = groups_of(requests)
    vision = torch.tensor(sorted(memory.vision_tokens), dtype=ids.dtype, device=ids.device)
    cut: dict[int, int] = {}  # group index -> prefix length
    for g, rows in enumerate(groups):
        real = [ids[r, starts[r] :] for r in rows]
        n = min(_common_length(real), min(int(t.shape[0]) for t in real) - 1)  # every suffix keeps a token
        if any(bool(torch.isin(r[n:], vision).any()) for r in real):
            return None  # an image after the split: its tokens would need the vision encoder again
        cut[g] = n
    reps = [rows[0] for rows in groups]
    pad_value = {k: (tokenizer.pad_token_id if k == "input_ids" else 0) for k in token_keys}

    def part(key: str, row: int, g: int, prefix: bool) -> Any:
        real = inputs[key][row, starts[row] :]
        return real[: cut[g]] if prefix else real[cut[g] :]

    extras = dict(prefix_extras(reps)) if prefix_extras is not None else {}
    extras = {k: v.to(ids.device) if hasattr(v, "to") else v for k, v in extras.items() if k not in token_keys}
    keys = [requests[r].group for r in reps]
    real = [[ids[r, starts[r] :] for r in rows] for rows in groups]
    forward = inspect.signature(model.forward).parameters
    cache_name = "cache" if "cache" in forward else "past_key_values"
    inner: Any = getattr(model, "model", None)
    kept = memory.last
    if kept is not None and kept.serves(keys, real, extras):
        # The same items' prefixes as the last call: continue from a copy of that pass.
        cut = {g: int(t.shape[0]) for g, t in enumerate(kept.ids)}
        prefix, cache, deltas = kept.prefix, copy.deepcopy(kept.cache), kept.deltas
        first = {g: -1 for g in cut}  # nobody computes the prefix in this call
        memory.reused += 1
    else:
        prefix = {k: _left_pad([part(k, r, g, True) for g, r in enumerate(reps)], pad_value[k]) for k in token_keys}
        keep = {"logits_to_keep": 1} if "logits_to_keep" in forward else {}
        if "position_ids" in forward and not hasattr(inner, "rope_deltas"):
            # Positions count real tokens only, as generate() counts them for the suffix (from the
            # whole mask): a forward pass left alone would number the left padding too, and the
            # suffix would then sit as many places too close to a padded row's prefix. Multimodal
            # RoPE computes its own positions from the mask (and keeps the offset, rope_deltas).
            mask_long = prefix["attention_mask"].long()
            keep["position_ids"] = (mask_long.cumsum(-1) - 1).masked_fill(mask_long == 0, 0)
        with torch.inference_mode():
            out = model(**prefix, **extras, use_cache=True, **keep)
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        if cache is None or not hasattr(cache, "reorder_cache"):
            return None  # a model without a reusable cache object: nothing to continue from
        deltas = getattr(inner, "rope_deltas", None)  # multimodal RoPE: each row's position offset
        first = {g: rows[0] for g, rows in enumerate(groups)}  # computed the prefix; the others were served it
        ids_kept = [real[g][0][: cut[g]] for g in range(len(groups))]
        memory.last = _Prefixes(keys, ids_kept, prefix, extras, copy.deepcopy(cache), deltas)

    # Every request's row of the cache is a copy of its group's prefix row.
    group_of = [g for r in range(len(requests)) for g, rows in enumerate(groups) if r in rows]
    index = torch.tensor(group_of, device=ids.device)
    cache.reorder_cache(index)
    full = {}
    for k in token_keys:
        suffix = _left_pad([part(k, r, g, False) for r, g in enumerate(group_of)], pad_value[k])
        full[k] = torch.cat([prefix[k].index_select(0, index), suffix], dim=1)
    if isinstance(deltas, torch.Tensor):
        inner.rope_deltas = deltas.index_select(0, index.to(deltas.device))
    answers, generated = greedy_generate(model, tokenizer, full, requests, **{cache_name: cache})
    return [
        Answer(answers[r], Tokens(ids.shape[1] - starts[r], cut[g] if r != first[g] else 0, generated[r]))
        for r, g in enumerate(group_of)
    ]
