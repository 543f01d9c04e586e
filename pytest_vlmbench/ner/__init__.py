"""Named-entity recognition: entities <-> IOB2 tags on tokens, LLM answers parsed onto tokens, seqeval metrics.

- :mod:`.spans`: entity spans of a tag sequence, and answered entities placed back on the tokens;
- :mod:`.answers`: the study's two LLM output styles (serial ``entity | type`` lines, JSON) parsed;
- :mod:`.scores`: the record's ``ner`` section, computed with seqeval (strict IOB2).

The datasets are :mod:`pytest_vlmbench.datasets.ner`; the strategies :mod:`pytest_vlmbench.strategies.ner`.
"""
