"""Builders of tiny random-weight models, one module per kind of architecture.

Each builder is a function ``build_x(target: Path) -> None`` that writes a complete
checkpoint (config, safetensors weights, tokenizer or processor) into ``target``; the
caching, hashing and atomic rename live in :mod:`pytest_vlmbench.models.tiny` only.
"""
