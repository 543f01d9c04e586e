"""Adapters for the benchmark's VLMs whose model code lives in their hub repositories.

MiniCPM-V-2.6, InternVL2 and Phi-3-vision are not part of transformers: with
``--trust-remote-code`` their own code is fetched and run, and each answers through the
interface its model card documents (``model.chat()``, or a processor of its own), not
through ``AutoModelForImageTextToText``. One module per family:

- :mod:`.minicpmv_chat`: ``model.chat(image=None, msgs=[...], tokenizer=...)``
- :mod:`.internvl_chat`: ``model.chat`` / ``model.batch_chat`` with InternVL's own 448-px tiling
- :mod:`.phi3_vision`: ``AutoProcessor`` + ``AutoModelForCausalLM`` with the ``<|image_1|>`` placeholder

These adapters are tested against stand-ins with the same signatures and behaviour
(``tests/test_remote_code_adapters.py``), not against the real weights: nothing can be
downloaded where they were written (docs/models.md says so too).
"""
