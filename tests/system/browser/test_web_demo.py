"""The demo page in real headless Chromium: golden samples, drawing, the server, errors, the cache."""

from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
import pytest

from pipeline.manifest import add_rows, read_manifest
from pipeline.targets import TARGETS
from pipeline.verify import Verification, score_output
from web import browser
from web.strokes import bitmap_to_counts, strokes_to_bitmap

TOLERANCE = 1e-4  # the tfjs gate: the browser must reproduce Keras almost exactly


def wait_idle(page):
    page.wait_for_function("demo.idle()")


def shown_probabilities(page) -> np.ndarray:
    return np.array(json.loads(page.get_attribute("#top3", "data-probabilities")))


def shown_counts(page) -> np.ndarray:
    return np.array([int(v) for v in page.get_attribute("#grid", "data-counts").split(",")])


def test_golden_samples_give_the_keras_reference_answers(page, golden_doc):
    buttons = page.locator("#samples .sample")
    assert buttons.count() >= 10  # every class
    reference = np.array(golden_doc["reference"])
    x = np.array(golden_doc["x"])
    for i in range(buttons.count()):
        button = buttons.nth(i)
        index = int(button.get_attribute("data-index"))
        button.click()
        wait_idle(page)
        probabilities = shown_probabilities(page)
        assert int(page.get_attribute("#top3", "data-top")) == reference[index].argmax()
        assert np.max(np.abs(probabilities - reference[index])) <= TOLERANCE, index
        assert (shown_counts(page) == np.round(x[index] * 16)).all()  # its exact input
        label = golden_doc["class_names"][reference[index].argmax()]
        assert page.locator("#top3 li .label").first.text_content() == label
    assert page.locator("#top3 li").count() == 3
    assert "ms" in page.text_content("#latency")
    assert page.text_content("#backend-used") == "wasm"


def pad_box(page):
    return page.locator("#pad").bounding_box()


def draw_with_mouse(page, points):
    box = pad_box(page)
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for p in at[1:]:
        page.mouse.move(*p, steps=3)
    page.mouse.up()


def draw_with_pointer(page, points, pointer_type):
    """Pointer events as a pen or a finger sends them (pointerType tells the page which)."""
    page.evaluate(
        """([points, type]) => {
          const pad = document.getElementById("pad");
          const r = pad.getBoundingClientRect();
          const send = (name, [x, y]) => pad.dispatchEvent(new PointerEvent(name, {
            pointerId: 7, pointerType: type, isPrimary: true, bubbles: true, cancelable: true,
            button: 0, buttons: name === "pointerup" ? 0 : 1, pressure: 0.5,
            clientX: r.left + x * r.width, clientY: r.top + y * r.height }));
          send("pointerdown", points[0]);
          for (const p of points.slice(1)) send("pointermove", p);
          send("pointerup", points.at(-1));
        }""",
        [points, pointer_type],
    )


VERTICAL_BAR = [(0.5, 0.15 + 0.7 * i / 12) for i in range(13)]
RING = [
    (0.5 + 0.22 * math.cos(2 * math.pi * i / 36), 0.5 + 0.33 * math.sin(2 * math.pi * i / 36))
    for i in range(37)
]


@pytest.mark.parametrize(
    ("shape", "points", "pointer"),
    [("vertical bar", VERTICAL_BAR, "mouse"), ("ring", RING, "pen"), ("ring", RING, "touch")],
)
def test_drawn_strokes_show_the_pythons_8x8_grid_and_a_prediction(page, shape, points, pointer):
    page.click("#clear")
    if pointer == "mouse":
        draw_with_mouse(page, points)
    else:
        draw_with_pointer(page, points, pointer)
    wait_idle(page)
    strokes = page.evaluate("demo.strokes()")
    assert len(strokes) == 1
    assert np.allclose(strokes[0][0], points[0], atol=0.01)  # what was drawn, in [0, 1]
    assert np.allclose(strokes[0][-1], points[-1], atol=0.01)
    expected = bitmap_to_counts(strokes_to_bitmap(strokes)).ravel()
    assert (shown_counts(page) == expected).all(), shape
    assert expected.sum() > 0
    probabilities = shown_probabilities(page)
    assert probabilities.shape == (10,) and abs(probabilities.sum() - 1) < 1e-3
    assert page.locator("#top3 li").count() == 3


def test_compare_with_server_agrees_within_tolerance(page):
    for i in (0, 5):
        page.locator("#samples .sample").nth(i).click()
        wait_idle(page)
        page.click("#compare")
        page.wait_for_function(
            "document.getElementById('server-result').dataset.pending === 'false'"
        )
        assert page.get_attribute("#server-result", "data-error") is None, page.text_content(
            "#server-result"
        )
        server = np.array(json.loads(page.get_attribute("#server-result", "data-probabilities")))
        assert np.max(np.abs(server - shown_probabilities(page))) <= TOLERANCE
        assert float(page.get_attribute("#server-result", "data-max-abs-diff")) <= TOLERANCE
        assert "largest difference" in page.text_content("#server-result")
    # and a drawing, which the golden set does not contain
    page.click("#clear")
    draw_with_mouse(page, RING)
    wait_idle(page)
    page.click("#compare")
    page.wait_for_function("document.getElementById('server-result').dataset.pending === 'false'")
    assert float(page.get_attribute("#server-result", "data-max-abs-diff")) <= TOLERANCE


def test_the_clear_button_is_reachable_by_keyboard_and_controls_are_labelled(page):
    page.locator("#samples .sample").first.click()
    wait_idle(page)
    for _ in range(10):  # back from the sample, through the controls
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.id") == "clear":
            break
    assert page.evaluate("document.activeElement.id") == "clear"
    page.keyboard.press("Enter")
    wait_idle(page)
    assert shown_counts(page).sum() == 0
    assert page.locator("#top3 li").count() == 0
    assert page.get_by_label("Backend").count() == 1
    assert page.get_by_role("button", name="Compare with server").is_enabled()
    assert page.locator("#pad").get_attribute("aria-label")


def test_backends_switch_and_still_agree_with_keras(page, golden_doc):
    reference = np.array(golden_doc["reference"])
    for backend in ("cpu", "wasm"):
        page.select_option("#backend", backend)
        page.wait_for_function(
            f"document.getElementById('backend-used').textContent === '{backend}' && demo.idle()"
        )
        out = page.evaluate("demo.evaluateGolden(20)")
        assert out["backend"] == backend
        assert np.max(np.abs(np.array(out["outputs"]) - reference[:20])) <= TOLERANCE


def test_usable_at_phone_width_and_screenshots_saved(context, web_url):
    page = browser.open_demo(context, web_url)
    assert page.evaluate("demo.page") == "digits"  # one [8, 8, 1] input: the drawing page
    desktop = browser.screenshot(page, "digits")
    page.set_viewport_size({"width": 375, "height": 740})
    draw_with_pointer(page, RING, "touch")
    wait_idle(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    pad = pad_box(page)
    assert pad["x"] >= 0 and pad["x"] + pad["width"] <= 375 and pad["width"] >= 200
    phone = browser.screenshot(page, "digits-phone")
    assert desktop.stat().st_size > 10_000 and phone.stat().st_size > 10_000


@pytest.fixture
def local_copy(web_dist, tmp_path):
    """A copy of the built page that a test may break, served on its own port."""
    root = tmp_path / "dist"
    shutil.copytree(web_dist, root)
    return root


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate model.json", "The model is corrupt and could not be loaded"),
        ("truncate weights", "The model is corrupt and could not be loaded"),
        ("remove model.json", "The model is missing"),
        ("remove metadata.json", "The model's metadata is missing"),
    ],
)
def test_a_broken_model_shows_a_clear_message(context, local_copy, damage, message, tmp_path):
    model_dir = local_copy / "models" / "digits"
    if damage == "truncate model.json":
        text = (model_dir / "model.json").read_text()
        (model_dir / "model.json").write_text(text[: len(text) // 2])
    elif damage == "truncate weights":
        shard = next(model_dir.glob("*.bin"))
        shard.write_bytes(shard.read_bytes()[:1000])
    else:
        (model_dir / damage.removeprefix("remove ")).unlink()
    errors = []
    with browser.static_server(local_copy) as url:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_function("document.body.dataset.state === 'error'", timeout=30_000)
        alert = page.get_by_role("alert")
        assert alert.is_visible()
        assert message in alert.text_content()
        page.screenshot(path=tmp_path / "error.png")
    assert not errors, errors


def test_model_is_cached_in_indexeddb_until_its_checksum_changes(context, local_copy):
    meta_path = local_copy / "models" / "digits" / "metadata.json"
    with browser.static_server(local_copy) as url:
        page = browser.open_demo(context, url)
        assert page.get_attribute("#load-time", "data-source") == "network"
        page.reload()
        page.wait_for_function("document.body.dataset.state === 'ready'")
        assert page.get_attribute("#load-time", "data-source") == "cache"
        meta = json.loads(meta_path.read_text())
        meta["artifacts"]["tfjs"]["sha256"] = "0" * 64  # what a new build looks like to the page
        meta_path.write_text(json.dumps(meta))
        page.reload()
        page.wait_for_function("document.body.dataset.state === 'ready'")
        assert page.get_attribute("#load-time", "data-source") == "network"
        assert page.evaluate("demo.state().checksum") == "0" * 64


def test_browser_row_joins_the_manifest(page, built, golden_doc):
    """The whole golden set through the page's own predict: the tfjs-browser verification row."""
    _, _, layout = built
    out = page.evaluate("demo.evaluateGolden()")
    outputs = np.array(out["outputs"], dtype=np.float32)
    labels = golden_doc["labels"]
    labels = None if labels is None else np.array(labels)
    reference = np.array(golden_doc["reference"], dtype=np.float32)
    gate = TARGETS["tfjs"].gate
    metrics, failures = score_output(outputs, reference, labels, gate)
    times = np.array(out["times"])
    manifest = read_manifest(layout.manifest)
    entry = next(a for a in manifest["artifacts"] if a["target"] == "tfjs")
    row = Verification(
        target="tfjs",
        runtime="tfjs-browser",
        where=os.environ.get("WEB_WHERE", "host"),
        accuracy=metrics.get("accuracy"),
        top1_agreement=metrics.get("top1_agreement"),
        max_abs_diff=metrics.get("max_abs_diff"),
        p50_ms=float(np.percentile(times, 50)),
        p99_ms=float(np.percentile(times, 99)),
        bytes=entry["bytes"],
        passed=not failures,
        reason="; ".join(failures),
        gate=gate.describe(),
    )
    add_rows(layout.manifest, "tfjs", [row.to_dict()])
    rows = read_manifest(layout.manifest)["artifacts"]
    recorded = next(a for a in rows if a["target"] == "tfjs")["verification"]
    browser_rows = [r for r in recorded if r["runtime"] == "tfjs-browser"]
    assert len(browser_rows) == 1 and browser_rows[0]["passed"], browser_rows
    assert browser_rows[0]["max_abs_diff"] <= TOLERANCE
    assert browser_rows[0]["top1_agreement"] == 1.0
    assert {r["runtime"] for r in recorded} >= {"tfjs-node", "tfjs-browser"}
