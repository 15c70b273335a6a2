"""Model, inputs and loss for a probe: factory resolution and synthetic batches."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..spec.model import Spec

# set by isolate._run_request: this process is an isolated child or pool worker
ISOLATED: list[bool] = []


class FactoryError(Exception):
    """The factory (or the inputs/loss callable) could not be resolved, raised, or misbehaved."""


CPU_ALLOC_FAILED = "DefaultCPUAllocator: can't allocate memory"


def reads_spec_key(value: Any, key: str) -> bool:
    """Whether factory_args / config_args (`value`) pass the spec's `key` ("model.layers")
    to the user's constructor somewhere: then the spec decides that size of the model."""
    if isinstance(value, str):
        return value == "{" + key + "}"
    if isinstance(value, list):
        return any(reads_spec_key(v, key) for v in value)
    if isinstance(value, dict):
        return any(reads_spec_key(v, key) for v in value.values())
    return False


def out_of_memory(exc: BaseException) -> MemoryError | None:
    """The MemoryError behind `exc` (itself, or a cause or context of it), else None.

    Why: a model that runs out of memory under the isolated process's cap (--probe-memory)
    must be reported as that, naming the cap, not as whatever wrapper caught it ("factory
    raised MemoryError: ", "forward failed"); the isolated process's top level does (isolate.py).
    In a process that is not isolated (the fixture given a model, `probe --in-process`) it is
    None: there the failure stays a finding, as before."""
    if not ISOLATED:
        return None
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, MemoryError):
            return cur
        if isinstance(cur, RuntimeError) and CPU_ALLOC_FAILED in str(cur):
            # torch's CPU allocator reports a refused allocation (here: RLIMIT_AS, the cap) as
            # a RuntimeError, "[enforce fail at alloc_cpu.cpp:...] ... DefaultCPUAllocator:
            # can't allocate memory: you tried to allocate N bytes", not as a MemoryError
            return MemoryError(str(cur).splitlines()[0])
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def project_root(start: Path | None = None) -> Path:
    """The folder holding pyproject.toml (searching upwards from cwd), else the cwd.

    `ARCHCHECK_ROOT` (set by the engine to the spec's own project while it probes) wins, so
    that `archcheck check examples/` imports each example's factory from its own folder.
    """
    env = os.environ.get("ARCHCHECK_ROOT")
    if start is None and env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return here


def resolve(target: str, what: str = "factory") -> Callable[..., Any]:
    """Import "module:callable" with the project root on sys.path."""
    root = str(project_root())
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)  # this project's modules win over same-named ones elsewhere
    if os.getcwd() not in sys.path:
        sys.path.insert(1, os.getcwd())
    mod_name, _, attr = target.partition(":")
    _forget_foreign(mod_name.split(".")[0], Path(root))
    try:
        obj: Any = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # SystemExit (a module that parses argv on import), any other
        raise FactoryError(f"cannot resolve {what} {target!r}: {type(e).__name__}: {e}") from e
    if not callable(obj):
        raise FactoryError(f"{what} {target!r} is not callable")
    return obj  # type: ignore[no-any-return]


def _forget_foreign(top: str, root: Path) -> None:
    """Drop an already-imported module `top` (and its submodules) that comes from another
    project when `root` has its own: two example projects may both have a `model.py`, and
    the import cache would otherwise hand the second one the first one's factories."""
    mod = sys.modules.get(top)
    here = (root / f"{top}.py").is_file() or (root / top / "__init__.py").is_file()
    origin = getattr(mod, "__file__", None)
    if mod is None or not here or origin is None:
        return
    try:
        Path(origin).resolve().relative_to(root.resolve())
    except ValueError:
        for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            del sys.modules[name]


def build_model(spec: Spec, *, fake: bool = False) -> Any:
    """Call the spec's factory (or, without one, the transformers class of the spec's
    config.json when it describes the spec's model, else the reference model of its family)."""
    from torch import nn

    if spec.model.factory is None:
        from ..families import family_of
        from .hf_class import build_real

        real = build_real(spec, fake)  # a spec from a config.json: the transformers class
        return real if real is not None else family_of(spec).reference_module(spec)
    fn = resolve(spec.model.factory)
    try:
        model = call_factory(fn, spec)
    except (KeyboardInterrupt, FactoryError):
        raise
    except BaseException as e:  # sys.exit() or a BaseException subclass: its failure, not ours
        raise FactoryError(f"factory {spec.model.factory!r} raised {type(e).__name__}: {e}") from e
    if not isinstance(model, nn.Module):
        raise FactoryError(
            f"factory {spec.model.factory!r} returned {type(model).__name__}, not torch.nn.Module"
        )
    return model


def build_without_weights(spec: Spec, fake_mode: Any) -> Any:
    """The model for the fake probe, never with real weights first (a 7B factory would take
    26 GB of fp32 before going fake): on the meta device; a factory that cannot run there
    (it copies data into a parameter, calls `.to("cpu")`) under `fake_mode`, the probe's own
    FakeTensorMode; only when both fail, for real (its tensors are replaced by fake ones)."""
    import torch

    from .hf_class import builds_real

    if builds_real(spec, fake=True):
        # a transformers class keeps plain tensors beside its buffers (GPT-J's sinusoidal
        # table): built under the fake mode, every tensor it makes is fake, none is left on meta
        with fake_mode, torch.device("cpu"):
            return build_model(spec, fake=True)
    try:
        with torch.device("meta"):
            return build_model(spec, fake=True)
    except FactoryError as on_meta:
        # FactoryError, or a fake-tensor limitation (a data-dependent op): try for real
        with contextlib.suppress(Exception), fake_mode:
            return build_model(spec, fake=True)
        try:
            return build_model(spec, fake=True)
        except FactoryError as real:
            raise real from on_meta


def substitute(value: Any, spec: Spec) -> Any:
    """`"{model.vocab}"` in factory_args / config_args is the spec's value of that key, so
    that a spec `init` wrote keeps one source for every size (estimate and probe agree)."""
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        table, _, key = value[1:-1].partition(".")
        section = getattr(spec, table, None) if key else None
        if section is None or not hasattr(section, key):
            raise FactoryError(f"{value!r} in factory_args/config_args names no spec key")
        return getattr(section, key)
    if isinstance(value, list):
        return [substitute(v, spec) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, spec) for k, v in value.items()}
    return value


def config_object(spec: Spec) -> Any:
    """The repository's own config object (`[model] config`): a class is called with
    config_args as keywords (a dataclass such as nanoGPT's GPTConfig); any other callable
    (minGPT's `GPT.get_default_config`) is called bare and config_args are set as attributes."""
    m = spec.model
    assert m.config is not None
    target = resolve(m.config, "config")
    args = substitute(m.config_args, spec)
    try:
        if isinstance(target, type):
            return target(**args)
        obj = target()
        for key, value in args.items():
            setattr(obj, key, value)
        return obj
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        raise FactoryError(f"config {m.config!r} raised {type(e).__name__}: {e}") from e


def call_factory(fn: Callable[..., Any], spec: Spec) -> Any:
    """`fn(config_object, **factory_args)` with `[model] config`, else `fn(**factory_args)`.

    What the model prints while it is built ("number of parameters: 123.69M") goes to the
    `pytest_archcheck.model` log (shown by `archcheck -v`), never into the report: a JSON or
    SARIF report on stdout must stay parseable."""
    kwargs = substitute(spec.model.factory_args, spec)
    with model_output_to_log(spec.model.name or "model"):
        if spec.model.config is not None:
            return fn(config_object(spec), **kwargs)
        return fn(**kwargs)


MODEL_LOG = "pytest_archcheck.model"


@contextlib.contextmanager
def model_output_to_log(name: str) -> Iterator[None]:
    """Python-level stdout/stderr writes inside the block become log records of MODEL_LOG."""
    import io
    import logging

    # text streams over bytes buffers: user code that writes to sys.stdout.buffer (bytes, even
    # bytes that are not UTF-8) works as on a real stdout; decoded with replacement for the log
    streams = [
        io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="replace", write_through=True)
        for _ in range(2)
    ]
    try:
        with contextlib.redirect_stdout(streams[0]), contextlib.redirect_stderr(streams[1]):
            yield
    finally:
        log = logging.getLogger(MODEL_LOG)
        for stream in streams:
            stream.flush()
            raw = stream.buffer.getvalue()
            for line in raw.decode("utf-8", errors="replace").splitlines():
                if line.strip():
                    log.info("[%s] %s", name, line)


def resolve_n(spec: Spec, n: int | None, infer: bool = False) -> int:
    """n of a probe: the given one, else the family's training (or inference) n."""
    from ..families import family_of

    if n is not None:
        return n
    fam = family_of(spec)
    return fam.infer_n(spec) if infer else fam.train_n(spec)


def make_inputs(spec: Spec, n: int, batch: int, device: Any, model: Any = None) -> tuple[Any, ...]:
    """One synthetic batch (tuple of positional args for forward) or the user's `inputs`."""
    m = spec.model
    if isinstance(m.inputs, str):
        got = resolve(m.inputs, "inputs")(batch=batch, n=n)
        return tuple(got) if isinstance(got, (tuple, list)) else (got,)
    if m.inputs is not None:
        return tuple(_input(kind, spec, n, batch, device, model) for kind in m.inputs)
    from ..families import family_of
    from .hf_class import with_attention_mask

    return with_attention_mask(model, family_of(spec).make_inputs(spec, n, batch, device))


def _input(kind: str, spec: Spec, n: int, batch: int, device: Any, model: Any) -> Any:
    """One positional argument of forward() from its `inputs` entry (docs/use-on-your-repo.md)."""
    import torch

    from ..families import family_of
    from ..families._base import DEFAULT_VOCAB

    m = spec.model
    width = family_of(spec).input_width(spec)
    if kind == "tokens":
        return torch.randint(0, m.vocab or DEFAULT_VOCAB, (batch, n), device=device)
    if kind == "tokens:n_first":  # nn.LSTM/GRU without batch_first: (n, batch)
        return torch.randint(0, m.vocab or DEFAULT_VOCAB, (n, batch), device=device)
    if kind == "series":
        return torch.randn(batch, n, width, device=device)
    if kind == "series:channels_first":  # nn.Conv1d: (batch, channels, n)
        return torch.randn(batch, m.in_channels or width, n, device=device)
    if kind == "image":
        return torch.randn(batch, m.in_channels or 3, n, n, device=device)
    if kind == "init_hidden":
        init = getattr(model, "init_hidden", None)
        if not callable(init):
            raise FactoryError("inputs name 'init_hidden' but the model has no init_hidden(batch)")
        return init(batch)
    raise FactoryError(f"unknown inputs entry {kind!r}")


class ProbeLoss:
    """The probe's default loss, `loss(output, inputs)`; `used` says which one ran.

    Cross-entropy, as a training loop computes it, when the spec declares an output head
    (`head_out`: an LM head of `vocab` logits per position, a classifier of `classes` logits)
    and the output's last dimension has that width: `F.cross_entropy(logits.float().view(-1, V),
    targets.view(-1), ignore_index=-100)`, the computation of transformers' `ForCausalLMLoss`.
    What it allocates is what a real step holds and what the sum does not: the fp32
    log-probabilities log_softmax saves for backward (rows·V·4), under autocast the transient
    fp32 copy of the 16-bit logits, and in backward nll_loss's and log_softmax's gradients
    (rows·V·4 each) at once.

    Targets: an LM over token input predicts the input tokens themselves (a view, no copy);
    transformers shifts them by one (pads the labels with -100, then a contiguous slice), which
    changes which token is predicted but allocates only an int64 label tensor of rows·8 bytes,
    at most 2/V of the log-probabilities, and would need to know which input dimension is time
    (an `nn.LSTM` without batch_first takes (n, batch)). Without integer input of the logits'
    leading shape (embeddings in, a classifier) the targets are random ids of that shape
    (`torch.randint`, rows·8 bytes, kept by nll_loss for backward).

    `holds_output`: the probe keeps the model output alive until backward ends, as a real loop
    does (transformers' output object holds `logits` beside `loss`; nanoGPT's
    `logits, loss = model(X, Y)`), so that the formula and the probe count the same logits.

    Any other output (no declared head, or a factory's output of another width) is trained on
    the float sum of every output tensor, a loss that allocates nothing beyond the scalar (the
    16-bit outputs' fp32 copies under autocast).
    """

    def __init__(self, kind: str, width: int | None) -> None:
        self.kind = kind
        self.width = width
        self.used = "sum"
        self.holds_output = False

    def __call__(self, out: Any, inputs: tuple[Any, ...]) -> Any:
        import torch
        import torch.nn.functional as F
        from torch.utils._pytree import tree_flatten

        leaves = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        floats = [t for t in leaves if t.is_floating_point()]
        if not floats:
            raise FactoryError("model output holds no floating-point tensor to build a loss from")
        v = self.width
        logits = next((t for t in floats if v and t.dim() >= 2 and t.shape[-1] == v), None)
        if logits is None or v is None:
            self.used, self.holds_output = "sum", False
            acc = floats[0].float().sum()
            for t in floats[1:]:
                acc = acc + t.float().sum()
            return acc
        lead = tuple(logits.shape[:-1])
        target = next(
            (
                t
                for t in inputs
                if isinstance(t, torch.Tensor)
                and not t.is_floating_point()
                and tuple(t.shape) == lead
            ),
            None,
        )
        if target is None:
            target = torch.randint(0, v, lead, device=logits.device)
        self.used = f"cross_entropy ({'vocab' if self.kind == 'lm' else 'classes'} {v})"
        self.holds_output = True
        return F.cross_entropy(logits.float().reshape(-1, v), target.reshape(-1), ignore_index=-100)


def make_loss(spec: Spec) -> Callable[[Any, tuple[Any, ...]], Any]:
    """`loss(output, inputs)`: the user's callable (`[model] loss`), else ProbeLoss:
    cross-entropy over a declared vocab / classes head, the float sum of the outputs otherwise.

    A family whose `forward_saved` does not yet model cross-entropy (`Family.models_cross_entropy`
    False) keeps the sum, for its reference module and a factory alike, so that its formula
    and its probe still count the same loss."""
    from ..families import family_of
    from ..families._base import head_out

    if spec.model.loss is not None:
        return resolve(spec.model.loss, "loss")
    kind, width = head_out(spec.model)
    if not family_of(spec).models_cross_entropy:
        kind, width = "none", None
    return ProbeLoss(kind, width)


def make_optimizer(spec: Spec, params: list[Any], foreach: bool | None = None) -> Any:
    """The [train] optimizer with lr = 0: it allocates what a real one does, changes nothing.

    foreach: None = torch's default for the parameters' device (foreach on CUDA, for-loop on
    CPU); True forces the foreach implementation (the fake probe's CUDA emulation)."""
    import torch

    opt = spec.train.optimizer
    if opt == "sgd":
        return torch.optim.SGD(params, lr=0.0, foreach=foreach)
    if opt == "sgd-momentum":
        return torch.optim.SGD(params, lr=0.0, momentum=0.9, foreach=foreach)
    if opt == "adam":
        return torch.optim.Adam(params, lr=0.0, foreach=foreach)
    if opt == "adafactor":
        return torch.optim.Adafactor(params, lr=0.0, foreach=foreach)
    return torch.optim.AdamW(params, lr=0.0, foreach=foreach)
