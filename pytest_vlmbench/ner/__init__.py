"""Named-entity recognition: entities <-> IOB2 tags on tokens, LLM answers parsed onto tokens.

- :mod:`.spans`: entity spans of a tag sequence (strict IOB2, as seqeval reads them), and answered
  entities placed back on the tokens;
- :mod:`.answers`: the study's two LLM output styles (serial ``entity | type`` lines, JSON) parsed.

The record's ``ner`` section is scored in :mod:`pytest_vlmbench.tasks.metrics`, with every other metric.

The datasets are :mod:`pytest_vlmbench.datasets.ner`; the strategies :mod:`pytest_vlmbench.strategies.ner`.
"""
