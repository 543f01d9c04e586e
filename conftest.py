"""Repository-wide pytest settings.

The plugin itself is registered by the ``pytest11`` entry point of the installed package;
nothing here registers it again. Whether the hub is offline is the plugin's decision
(offline unless a selected model or dataset needs it; see docs/usage.md), so that
``pytest suites/ --model qwen2-vl`` still downloads on a machine with a network.
"""

import os

# The tokenizers library forks worker threads and warns when pytest-xdist forks after it.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
