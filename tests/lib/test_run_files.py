"""The shared checkpoint and run-file bookkeeping of the training loops (lib.training.run_files)."""

import json

import torch

from lib.training import BestCheckpoint, write_run_files


def test_best_checkpoint_keeps_the_best_state_and_writes_meta_beside_model(tmp_path):
    network = torch.nn.Linear(2, 1)
    best = BestCheckpoint(tmp_path / "weights.pt", {"arch": "unet", "channels": [4, 8]}, keep_state=True)
    assert best.offer(network, 0.3, 1, {"score": 0.3})
    kept = {k: v.clone() for k, v in network.state_dict().items()}
    with torch.no_grad():
        network.weight.add_(1.0)
    assert not best.offer(network, 0.3, 2)  # equal is not better
    saved = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert set(saved) == {"model", "arch", "channels"} and saved["arch"] == "unet"
    assert torch.equal(saved["model"]["weight"], kept["weight"]) and torch.equal(best.state["weight"], kept["weight"])
    assert (best.score, best.step, best.validation) == (0.3, 1, {"score": 0.3})


def test_best_checkpoint_without_keep_state_holds_no_copy_and_writes_current(tmp_path):
    network = torch.nn.Linear(2, 1)
    best = BestCheckpoint(tmp_path / "weights.pt", {"arch": "x"})
    assert best.offer(network, 0.0, 5) and best.state is None
    with torch.no_grad():
        network.weight.add_(1.0)
    best.write_current(network, tmp_path / "last.pt")
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["arch"] == "x" and torch.equal(last["model"]["weight"], network.weight)
    assert not torch.equal(torch.load(tmp_path / "weights.pt", weights_only=True)["model"]["weight"], network.weight)


def test_write_run_files_default_and_published_names(tmp_path):
    def card(metrics, path):
        path.write_text(f"# card {metrics['steps']}")

    paths = write_run_files(tmp_path, {"steps": 3}, card)
    assert paths == {"metrics": tmp_path / "metrics.json", "card": tmp_path / "MODEL_CARD.md"}
    assert json.loads(paths["metrics"].read_text()) == {"steps": 3} and paths["card"].read_text() == "# card 3"
    named = write_run_files(tmp_path / "models", {"steps": 4}, card, "two_stage_ct.json", "two_stage_ct.md")
    assert named["metrics"].name == "two_stage_ct.json" and named["card"].read_text() == "# card 4"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["two_stage_ct.json", "two_stage_ct.md"]


def test_record_marks_the_best_rows_keeps_the_history_and_prints_json_lines(tmp_path, capsys):
    network = torch.nn.Linear(2, 1)
    best = BestCheckpoint(tmp_path / "weights.pt")
    assert best.record(network, {"step": 1, "score": 0.2}, 0.2, 1)
    assert not best.record(network, {"step": 2, "score": 0.1}, 0.1, 2)
    assert best.history == [{"step": 1, "score": 0.2, "best": True}, {"step": 2, "score": 0.1}]
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == best.history and best.step == 1
