"""The trainer image runs the whole pipeline (what `make all` runs) into a models volume."""

from __future__ import annotations

import json

from tests.integration.conftest import image


def test_the_trainer_image_publishes_a_verified_model_into_its_volume(engine, tmp_path):
    image(engine, "trainer")
    models = tmp_path / "models"
    models.mkdir(mode=0o777)
    models.chmod(0o777)  # the image runs as an unprivileged user
    container = engine.containers.run(
        "trainer",
        command=["run", "--name", "digits"],
        volumes={str(models): {"bind": "/models", "mode": "rw"}},
        detach=True,
    )
    try:
        code = container.wait(timeout=900)["StatusCode"]
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert code == 0, logs[-3000:]
    manifest = json.loads((models / "reports" / "digits" / "manifest.json").read_text())
    assert manifest["version"] == 1
    assert (models / "serving" / "digits" / "1" / "saved_model.pb").is_file()
    assert (models / "tfjs" / "digits" / "model.json").is_file()
    rows = [r for a in manifest["artifacts"] for r in a["verification"] if r.get("gating", True)]
    assert rows and all(r["passed"] for r in rows)
