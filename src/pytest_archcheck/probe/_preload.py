"""What the probe pool's fork server imports once, so that every worker forked from it starts
with torch and the probe loaded (probe/pool.py). Imports only: a fork server that ran a torch
op would have started OpenMP threads, and a fork after that can hang."""

from __future__ import annotations

import torch

# FakeTensorMode() imports torch._dynamo (about 1 s): once here, not in every worker
import torch._dynamo.config
import torch.nn  # noqa: F401
from torch._subclasses import fake_tensor  # noqa: F401

from .. import behaviour, measure  # noqa: F401
from . import build, step, tracker  # noqa: F401
