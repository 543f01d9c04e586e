"""The reference models: tiny models this project trains itself, so that offline results mean something.

The ``tiny:`` builds have random weights (their answers are chance); a reference model is
trained on a dataset that ships offline with the project's own prompts, and answers them the
way an instruction-tuned model does: the class name (or yes/no), then end of answer.

- :mod:`.vlm`: ``qwen2-vl-fashion``, a Qwen2-VL trained on Fashion-MNIST's train split;
- :mod:`.loop`: what the trainers share: the tokenizer, the seeded training loop, the check
  through :func:`~pytest_vlmbench.evaluation.evaluate.evaluate` and the saved folder;
- :mod:`.train`: the command, ``python -m pytest_vlmbench.training.reference.train --out DIR``.

The package sits in ``training`` and not in ``models`` because it builds its prompts with the
strategies' own templates and checks the result through the evaluation, both above ``models``.
Nothing is imported here.
"""
