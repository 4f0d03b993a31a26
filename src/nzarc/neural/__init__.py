"""The neural codec's parts: integer LM runtime, tokenizer, model store, range coder, codec.

Importing this package does not import torch. It sets ``OMP_WAIT_POLICY=PASSIVE`` unless the
user chose a policy: with spinning OpenMP workers, a 2-core machine under any other load
collapses to a few tokens per second. The policy affects speed only, never results.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
