"""Multi-worker training in containers (docker/train-distributed.sh, what `make train-distributed`
runs): two trainer containers under MultiWorkerMirroredStrategy end with equal weights and publish
one version; a worker killed mid-training is restarted and the job resumes from its checkpoint."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import time

import keras
import yaml

from pipeline.cluster import Cluster
from pipeline.config import ROOT, TrainConfig
from pipeline.distributed import weights_sha256
from pipeline.layout import Layout

SCRIPT = ROOT / "docker" / "train-distributed.sh"
LABEL = "keras-deploy.job"


def start(models, name: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MODELS_DIR": str(models)}
    return subprocess.Popen(
        ["bash", str(SCRIPT), name, "2", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen, engine, job: str, seconds=900) -> str:
    """The script's output once it ends; whatever happens, nothing of the job is left running."""
    try:
        out, _ = proc.communicate(timeout=seconds)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # the script's trap removes the containers
            proc.wait(timeout=60)
        for c in engine.containers.list(all=True, filters={"label": f"{LABEL}={job}"}):
            c.remove(force=True)
        for n in engine.networks.list(filters={"label": f"{LABEL}={job}"}):
            n.remove()
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL}={job}"})
    assert not engine.networks.list(names=[job])
    return out


def training_record(layout: Layout) -> dict:
    return json.loads((layout.keras_dir / "training.json").read_text())


def test_two_workers_train_alike_and_the_chief_publishes_one_version(engine, tmp_path):
    models = tmp_path / "models"
    out = finish(start(models, "multi", "run"), engine, "train-multi")
    assert "worker 0: exited, exit 0, restarted 0 times" in out, out[-3000:]
    assert "worker 1: exited, exit 0, restarted 0 times" in out, out[-3000:]
    layout = Layout(models, "multi")
    assert layout.versions() == [1], out[-3000:]  # one version, from the chief alone

    training = training_record(layout)
    exported = training["trainers"][training["exported"]]
    assert training["exported"] == "tf (2 workers)"
    workers = exported["distributed"]
    assert workers["workers"] == 2 and exported["batch_size"] == 2 * TrainConfig().batch_size
    assert len(workers["weights_sha256"]) == 2 and len(set(workers["weights_sha256"])) == 1
    assert workers["resumed_from"] is None and workers["allreduce_ms"] > 0
    # the published reference is the model both workers agreed on, weight for weight
    published = keras.saving.load_model(layout.keras_model, compile=False)
    assert weights_sha256(published.get_weights()) == workers["weights_sha256"][0]
    # one worker beside two, for the report; both pass the bar
    single = training["trainers"]["tf"]
    assert "distributed" not in single
    for summary in (exported, single):
        assert summary["test_accuracy"] >= TrainConfig().min_accuracy
    manifest = json.loads(layout.manifest.read_text())
    assert manifest["passed"] and manifest["version"] == 1
    report = (layout.reports_dir / "report.md").read_text()
    assert "tf (2 workers) (exported)" in report and "all-reduce" in report
    assert not (models / ".checkpoints" / "multi").exists()  # training ended: checkpoints gone


def test_a_killed_worker_is_restarted_and_the_job_resumes_from_its_checkpoint(engine, tmp_path):
    models = tmp_path / "models"
    checkpoints = models / ".checkpoints" / "resume"
    proc = start(models, "resume", "train", "--no-compare")
    try:
        killed_at = _wait_for_checkpoint(checkpoints, at_least_epochs=2, proc=proc)
        worker = engine.containers.get("train-resume-1")
        os.kill(worker.attrs["State"]["Pid"], signal.SIGKILL)  # as a lost machine would
    finally:
        out = finish(proc, engine, "train-resume")
    assert proc.returncode == 0, out[-4000:]
    assert "worker 1: exited, exit 0, restarted 1 times" in out, out[-4000:]
    assert "a peer was lost" in out, out[-4000:]  # the chief stopped, to be restarted too
    resumed = re.findall(r"worker 0: resumed from the checkpoint at epoch (\d+), step (\d+)", out)
    assert len(resumed) == 1, out[-4000:]
    epoch, step = (int(v) for v in resumed[0])
    # from the checkpoint there was at the kill, or one the chief wrote in the instant after it
    assert killed_at <= step <= killed_at + _steps_per_epoch(), (killed_at, step)
    assert step == epoch * _steps_per_epoch()

    distributed = training_record(Layout(models, "resume"))["trainers"]["tf (2 workers)"]
    assert distributed["distributed"]["resumed_from"] == {"epoch": epoch, "step": step}
    assert len(set(distributed["distributed"]["weights_sha256"])) == 1
    assert distributed["epochs"] > epoch  # trained on after the resume, history kept from before
    assert distributed["distributed"]["epochs_here"] == distributed["epochs"] - epoch
    assert distributed["test_accuracy"] >= TrainConfig().min_accuracy


@functools.cache
def _steps_per_epoch() -> int:
    """Whole global batches of two workers per epoch, as the loop runs them."""
    from pipeline.data import load_digits

    cfg = TrainConfig()
    train = load_digits(cfg.seed, cfg.val_fraction, cfg.test_fraction).train
    return len(train.x) // (2 * cfg.batch_size)


def _wait_for_checkpoint(checkpoints, at_least_epochs: int, proc, seconds=300) -> int:
    """The step of the chief's newest checkpoint, once it is `at_least_epochs` epochs in."""
    state = checkpoints / "checkpoint"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the job ended before it was killed"
        if state.is_file():
            match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.M)
            if match and int(match.group(1)) >= at_least_epochs * _steps_per_epoch():
                return int(match.group(1))
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint {at_least_epochs} epochs in within {seconds} s")


def test_the_compose_workers_form_one_cluster():
    """docker-compose.yml's `distributed` services: TF_CONFIGs naming the same workers, by their
    service names, each service its own index, all restarted on failure."""
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    workers = {n: s for n, s in spec.items() if "distributed" in s.get("profiles", [])}
    clusters = {n: Cluster.from_env(s["environment"]) for n, s in workers.items()}
    hosts = [f"{n}:12345" for n in sorted(workers)]
    assert len(workers) == 2
    for name, cluster in clusters.items():
        assert list(cluster.workers) == hosts and cluster.workers[cluster.index] == f"{name}:12345"
        assert workers[name]["restart"] == "on-failure" and workers[name]["image"] == "trainer"
        assert workers[name]["command"][:3] == ["run", "--trainer", "tf"]
