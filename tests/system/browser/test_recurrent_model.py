"""A model with control flow in the browser: the GRU's TF.js graph runs through executeAsync."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.targets import TARGETS
from pipeline.verify import score_output
from web import browser


@pytest.mark.parametrize("backend", ["wasm", "cpu"])
def test_a_recurrent_model_runs_in_the_page_and_agrees_with_keras(gru, chromium, tmp_path, backend):
    """TF.js 4.22's wasm backend cannot run the GRU's loop: the page says so and runs it on cpu."""
    _, layout, _ = gru
    dist = browser.build(layout.root, "gru", tmp_path / "dist")
    golden = json.loads((layout.golden_dir / "golden.json").read_text())
    context = chromium.new_context()
    errors: list[str] = []
    try:
        with browser.static_server(dist) as url:
            page = browser.open_demo(context, f"{url}?model=gru&backend={backend}")
            page.on("pageerror", lambda e: errors.append(str(e)))
            assert page.evaluate("document.body.dataset.state") == "ready", page.text_content(
                "#error"
            )
            assert page.evaluate("demo.page") == "form"  # frames [12, 5]: a JSON box, not the pad
            out = page.evaluate("demo.evaluateGolden()")
            fallback = page.evaluate("demo.state().fallbackReason")
            status = page.text_content("#status")
    finally:
        context.close()
    assert not errors, errors
    if fallback is None:
        assert out["backend"] == backend
    else:  # a backend that cannot run the loop: the page says why and runs it on cpu
        assert backend != "cpu" and out["backend"] == "cpu"
        assert fallback.startswith(f"{backend} could not run this model") and fallback in status
    outputs = np.array(out["outputs"]["scores"], dtype=np.float32)
    reference = np.array(golden["reference"], dtype=np.float32)
    labels = np.array(golden["labels"])
    metrics, failures = score_output(outputs, reference, labels, TARGETS["tfjs"].gate)
    assert failures == [], failures
    assert metrics["top1_agreement"] == 1.0 and len(outputs) == 60
