"""The training log: a real CPU run (plain loop, transformers' Trainer, Lightning) writes the
peak torch measured, the shape where it fell and the lengths seen; `archcheck check` compares
the estimate with it (ARC215) and takes P90 n from it (ARC212)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_archcheck.engine import check_paths
from pytest_archcheck.runlog import RunLogError, read_run_log

SPEC = """\
[model]
family = "transformer"
layers = 2
d_model = 64
heads = 4
vocab = 500
max_positions = 256

[train]
batch = 4
seq_len = 64

[budget]
max_n = {max_n}
"""


def _spec(tmp_path: Path, max_n: int = 128) -> Path:
    path = tmp_path / "tiny.archcheck.toml"
    path.write_text(SPEC.format(max_n=max_n), encoding="utf-8")
    return path


def _log(tmp_path: Path, **fields: object) -> Path:
    doc = {
        "schema_version": 1,
        "peak_bytes": 1000,
        "device": "cpu",
        "peak_batch": 4,
        "peak_n": 64,
        "steps": 3,
        "lengths": {"64": 12},
        **fields,
    }
    path = tmp_path / "tiny.run.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _codes(spec: Path) -> dict[str, object]:
    return {f.code: f for f in check_paths([str(spec)], pyprojects=False).findings}


def test_plain_loop_records_torch_s_own_peak_and_the_lengths(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import Action

    from pytest_archcheck.runlog import record_run

    spec = _spec(tmp_path)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(500, 64), torch.nn.Linear(64, 500))
    opt = torch.optim.AdamW(model.parameters())
    lengths = [64, 40, 10, 64]  # padded to 64; the mask says how many tokens are real
    mask = torch.tensor([[1] * n + [0] * (64 - n) for n in lengths])

    def step() -> None:
        x = torch.randint(0, 500, (4, 64))
        out = model(x)
        torch.nn.functional.cross_entropy(out.reshape(-1, 500), x.reshape(-1)).backward()
        opt.step()
        opt.zero_grad()

    step()  # the optimizer state exists from here on, as in every later step
    with record_run(spec, model=model, optimizer=opt) as run:
        for _ in range(3):
            with run.step():
                run.observe(torch.zeros(4, 64, dtype=torch.long), attention_mask=mask)
                step()
    log = read_run_log(tmp_path / "tiny.run.json")
    # the same step under torch's profiler memory timeline: an independent account
    with profile(
        activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True
    ) as prof:
        step()
    cur = peak = 0
    for _, action, _, nbytes in prof._memory_profile().timeline:
        cur += nbytes if action in (Action.PREEXISTING, Action.CREATE) else 0
        cur -= nbytes if action == Action.DESTROY else 0
        peak = max(peak, cur)
    assert log.peak_bytes == peak
    assert (log.peak_batch, log.peak_n, log.steps, log.device) == (4, 64, 3, "cpu")
    assert log.lengths == {64: 6, 40: 3, 10: 3}  # each mask row, once per step
    assert log.length_percentile(50) == 40 and log.length_percentile(90) == 64
    assert log.tokens_per_s is not None and log.tokens_per_s > 0


def test_trainer_callback_writes_the_log(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from pytest_archcheck.runlog import trainer_callback

    spec = _spec(tmp_path)
    cfg = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=500, n_positions=256)
    model = transformers.GPT2LMHeadModel(cfg)
    rows = [
        {
            "input_ids": torch.randint(0, 500, (64,)),
            "attention_mask": torch.tensor([1] * n + [0] * (64 - n)),
            "labels": torch.randint(0, 500, (64,)),
        }
        for n in (64, 32, 48, 16) * 3
    ]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        max_steps=3,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=rows, callbacks=[trainer_callback(spec)]
    )
    trainer.train()
    log = read_run_log(tmp_path / "tiny.run.json")
    assert log.steps == 3 and (log.peak_batch, log.peak_n) == (4, 64)
    assert log.lengths == {64: 3, 32: 3, 48: 3, 16: 3}
    assert log.peak_bytes > sum(p.numel() * 4 for p in model.parameters())  # weights at least


def test_lightning_callback_writes_the_log(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pl = pytest.importorskip("lightning.pytorch")
    from pytest_archcheck.runlog import lightning_callback

    spec = _spec(tmp_path)

    class LM(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.out = torch.nn.Embedding(500, 64), torch.nn.Linear(64, 500)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.emb(x))

        def training_step(self, batch: torch.Tensor, i: int) -> torch.Tensor:
            logits = self(batch)
            return torch.nn.functional.cross_entropy(logits.reshape(-1, 500), batch.reshape(-1))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.AdamW(self.parameters())

    data = torch.utils.data.DataLoader(torch.randint(0, 500, (12, 32)), batch_size=4)
    trainer = pl.Trainer(
        max_steps=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[lightning_callback(spec)],
        default_root_dir=str(tmp_path),
    )
    trainer.fit(LM(), data)
    log = read_run_log(tmp_path / "tiny.run.json")
    assert log.steps == 3 and (log.peak_batch, log.peak_n) == (4, 32)
    assert log.lengths == {32: 12}


def test_arc215_compares_the_estimate_at_the_run_s_shape(tmp_path: Path) -> None:
    from pytest_archcheck.estimate import train_memory
    from pytest_archcheck.runtime import target_for
    from pytest_archcheck.spec.load import load_spec_text

    spec_path = _spec(tmp_path)
    spec = load_spec_text(spec_path.read_text(), str(spec_path)).spec
    assert spec is not None
    est = train_memory(spec, 48, 2, target_for(spec, "cpu")).total
    _log(tmp_path, peak_bytes=round(est * 1.05), peak_batch=2, peak_n=48)  # within 10 %
    assert "ARC215" not in _codes(spec_path)
    _log(tmp_path, peak_bytes=round(est * 1.25), peak_batch=2, peak_n=48)
    f = _codes(spec_path)["ARC215"]
    assert "batch 2 × n 48 (cpu)" in f.message and "-20.0%" in f.message  # 1/1.25 − 1


def test_arc212_takes_p90_from_the_run(tmp_path: Path) -> None:
    spec = _spec(tmp_path, max_n=512)
    _log(tmp_path, lengths={"100": 80, "900": 20})  # nearest-rank P90 = 900
    assert "P90 length 900 in the run" in _codes(spec)["ARC212"].message
    _log(tmp_path, lengths={"100": 95, "900": 5})  # P90 = 100
    assert "ARC212" not in _codes(spec)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "cannot read the run log"),
        ('{"schema_version": 9}', "not a run log of schema_version 1"),
        ('{"schema_version": 1, "device": "cpu", "peak_bytes": -1}', "`peak_bytes` must be"),
        ('{"schema_version": 1, "device": "tpu"}', "`device` must be"),
        ('{"schema_version": 1, "device": "cpu", "lengths": {"x": 1}}', "`lengths` entry"),
    ],
)
def test_broken_logs_are_findings_not_tracebacks(
    tmp_path: Path, content: str, message: str
) -> None:
    spec = _spec(tmp_path)
    (tmp_path / "tiny.run.json").write_text(content, encoding="utf-8")
    with pytest.raises(RunLogError, match=message):
        read_run_log(tmp_path / "tiny.run.json")
    assert (
        message.strip("`") in _codes(spec)["ARC215"].message.replace("`", "")
        or message in _codes(spec)["ARC215"].message
    )


def test_estimate_shows_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_archcheck.cli import main

    spec = _spec(tmp_path)
    _log(tmp_path, peak_bytes=10_000_000, lengths={"64": 9, "32": 1}, tokens_per_s=1234.0)
    assert main(["estimate", str(spec), "--format", "json"]) == 0
    run = json.loads(capsys.readouterr().out)["models"][0]["run"]
    assert run["peak_bytes"] == 10_000_000 and run["p90_n"] == 64
    assert run["delta"] == pytest.approx(run["estimate_bytes"] / 10_000_000 - 1)
    assert main(["estimate", str(spec)]) == 0
    assert "run peaked 9.54 MiB" in capsys.readouterr().out.replace("\n", " ")
