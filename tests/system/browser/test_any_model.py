"""Every zoo model's page in headless Chromium: built from its signature, it answers its golden
samples as Keras does, agrees with the model server, takes typed, uploaded, pasted and camera
inputs as the server takes them, and a model TF.js cannot take says why and is answered by the
server. The gallery lists every model with its targets' outcomes."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from pipeline.config import EXACT
from pipeline.data import read_golden
from pipeline.layout import Layout
from pipeline.manifest import read_manifest
from pipeline.verify import score
from serving.client import rest_predict
from serving.process import ServerProcess
from web import browser

IN_THE_BROWSER = ["zoo-image_cnn", "zoo-sequence", "zoo-tabular", "zoo-transformer"]
SERVER_ONLY = "zoo-text"  # TextVectorization's graph: TF.js's converter cannot take it
ZOO = [*IN_THE_BROWSER, SERVER_ONLY]


@pytest.fixture(scope="module")
def zoo_server(zoo, tmp_path_factory):
    """One model server for every zoo model, from a model config file."""
    work = tmp_path_factory.mktemp("zoo-server")
    entries = "".join(
        f'  config {{ name: "{name}" base_path: "{Layout(zoo, name).serving_base}" '
        'model_platform: "tensorflow" }\n'
        for name in ZOO
    )
    config = work / "models.config"
    config.write_text("model_config_list {\n" + entries + "}\n")
    with ServerProcess([f"--model_config_file={config}"], log=work / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def zoo_url(zoo, zoo_server, tmp_path_factory):
    dist = browser.build(zoo, "zoo-image_cnn", tmp_path_factory.mktemp("zoo-web") / "dist")
    with browser.static_server(dist, zoo_server.rest_url) as url:
        yield url


@pytest.fixture
def open_model(chromium, zoo_url):
    """open_model(name) → the model's page, ready; no page may raise an uncaught error."""
    contexts, errors = [], []

    def open_(name: str, **options):
        context = chromium.new_context(viewport={"width": 1100, "height": 900}, **options)
        contexts.append(context)
        page = browser.open_demo(context, f"{zoo_url}?model={name}")
        page.on("pageerror", lambda e: errors.append(str(e)))
        assert page.evaluate("document.body.dataset.state") == "ready", page.text_content("#error")
        assert page.evaluate("demo.page") == "form"
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, errors


def server_predict(server, name: str, inputs: dict, outputs: list[str]) -> dict[str, np.ndarray]:
    """TF Serving's columnar REST predict for one sample (the project's client): `outputs` by name."""
    doc = rest_predict(server.rest_url, name, {"inputs": {k: [v] for k, v in inputs.items()}})
    answer = doc["outputs"]
    if not isinstance(answer, dict):  # one output: TF Serving leaves its name out
        (only,) = outputs
        answer = {only: answer}
    return {k: np.asarray(answer[k], dtype=np.float32)[0] for k in outputs}


def zoo_predict(server, zoo, name: str, inputs: dict) -> dict[str, np.ndarray]:
    outputs = [t["name"] for t in read_manifest(Layout(zoo, name).manifest)["outputs"]]
    return server_predict(server, name, inputs, outputs)


def shown(page) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float32) for k, v in page.evaluate("demo.outputs()").items()}


def assert_close(got: dict, want: dict, what: str):
    """Within the tfjs gate (1e-4, relative to values larger than 1) for every output."""
    assert got.keys() == want.keys(), what
    for name in want:
        scale = max(1.0, float(np.max(np.abs(want[name]))))
        diff = float(np.max(np.abs(got[name] - want[name])))
        assert diff / scale <= EXACT.max_abs_diff, f"{what}: {name} differs by {diff:.3g}"


def wait_idle(page):
    page.wait_for_function("demo.idle()")


def answers(page) -> int:
    return page.evaluate("demo.state().answers")


def wait_answer(page, after: int):
    """Until the page has shown an answer after the `after`th (an image's decoding is async)."""
    page.wait_for_function(f"demo.state().answers > {after} && demo.idle()")


def predict(page):
    page.click("#predict")
    wait_idle(page)


@pytest.mark.parametrize("name", IN_THE_BROWSER)
def test_the_page_answers_the_golden_samples_as_keras_does(open_model, zoo, name):
    page = open_model(name)
    golden = read_golden(Layout(zoo, name).golden_dir)
    out = page.evaluate("demo.evaluateGolden()")
    outputs = {k: np.asarray(v, dtype=np.float32) for k, v in out["outputs"].items()}
    _, failures = score(outputs, golden, EXACT)
    assert failures == [], failures
    assert len(next(iter(outputs.values()))) == len(golden)
    # a click on a strip sample feeds its exact input and shows the reference beside the answer
    buttons = page.locator("#samples .sample")
    assert buttons.count() >= 3
    for i in (0, buttons.count() // 2, buttons.count() - 1):
        button = buttons.nth(i)
        index = int(button.get_attribute("data-index"))
        button.click()
        wait_idle(page)
        want = {k: v[index] for k, v in golden.reference.items()}
        assert_close(shown(page), want, f"sample {index}")
        for output in want:
            view = page.locator(f'#outputs .output[data-output="{output}"] .reference')
            assert view.text_content().startswith("Reference (Keras):")
            assert float(view.get_attribute("data-max-abs-diff")) <= 1e-4 * max(
                1, float(np.max(np.abs(want[output])))
            )
    # classes as bars named from the metadata (by index when it names none), values as numbers
    for t in read_manifest(Layout(zoo, name).manifest)["outputs"]:
        view = page.locator(f'#outputs .output[data-output="{t["name"]}"]')
        if t["shape"][-1] > 1:
            assert view.get_attribute("data-kind") == "classes"
            assert view.locator("li").count() == min(3, t["shape"][-1])
        else:
            assert view.get_attribute("data-kind") == "values"
            assert view.locator("output").text_content().strip()
    assert browser.screenshot(page, name).stat().st_size > 10_000


@pytest.mark.parametrize("name", IN_THE_BROWSER)
def test_compare_with_server_agrees(open_model, zoo, zoo_server, name):
    page = open_model(name)
    page.locator("#samples .sample").nth(1).click()
    wait_idle(page)
    page.click("#compare")
    page.wait_for_function("document.getElementById('server-result').dataset.pending === 'false'")
    assert page.get_attribute("#server-result", "data-error") is None, page.text_content(
        "#server-result"
    )
    server = json.loads(page.get_attribute("#server-result", "data-outputs"))
    server = {k: np.asarray(v, dtype=np.float32) for k, v in server.items()}
    assert_close(shown(page), server, "browser vs server")
    assert "largest difference" in page.text_content("#server-result")
    # what the page sent is what the server answers for those inputs, asked directly
    inputs = {k: nested(v) for k, v in page.evaluate("demo.inputs()").items()}
    assert_close(zoo_predict(zoo_server, zoo, name, inputs), server, "page vs direct")


def nested(value: dict):
    values = value["values"]
    if value["shape"] and all(isinstance(v, (int, float)) for v in values):
        return np.asarray(values).reshape(value["shape"]).tolist()
    return np.asarray(values, dtype=object).reshape(value["shape"]).tolist()


TYPED = {
    # new inputs, in none of the golden sets, as a user types them
    "zoo-tabular": {
        "numeric": [2.1, 2.4, 19.5, 98, 2.2, 1.9, 0.35, 1.6, 4.8, 1.02, 2.75],
        "region": ["high"],
    },
    "zoo-sequence": {"tokens": [9, 14, 3, 22, 7, 1, 13, 11, 2, 5, 19, 8, 6, 4, 16, 12]},
    "zoo-transformer": {"tokens": [9, 2, 14, 22, 7, 18, 13, 11, 1, 5, 19, 8, 3, 4, 16, 12]},
}


@pytest.mark.parametrize("name", sorted(TYPED))
def test_a_typed_input_gives_the_servers_answer(open_model, zoo, zoo_server, name):
    page = open_model(name)
    for input_name, value in TYPED[name].items():
        box = page.locator(f'fieldset[data-input="{input_name}"]')
        kind = box.get_attribute("data-kind")
        if kind == "numbers":
            fields = box.locator("input.number")
            assert fields.count() == len(value)
            for i, v in enumerate(value):
                fields.nth(i).fill(str(v))
        elif kind == "text":
            box.locator("input").fill(value[0])
        else:
            assert kind == "json"
            box.locator("textarea").fill(json.dumps(value))
    predict(page)
    assert page.locator(".input-error:visible").all_text_contents() == []
    want = zoo_predict(zoo_server, zoo, name, TYPED[name])
    assert_close(shown(page), want, "typed input")
    # the reference line belongs to golden samples only
    assert all(t == "" for t in page.locator("#outputs .reference").all_text_contents())


def png(pixels: np.ndarray) -> bytes:
    import tensorflow as tf

    return tf.io.encode_png(pixels).numpy()


@pytest.fixture(scope="module")
def rgb_image(zoo):
    """A golden image recoloured and drawn at 32x32 (each pixel 2x2): PNG bytes, and the input a
    16x16x3 model takes from it (the area mean of each 2x2 block, in [0, 1])."""
    x = read_golden(Layout(zoo, "zoo-image_cnn").golden_dir).inputs["image"][7]
    pixels = np.round(x[..., ::-1] * 255).astype(np.uint8)  # another colour: channels reversed
    big = np.kron(pixels, np.ones((2, 2, 1), dtype=np.uint8))
    return png(big), (pixels / 255).astype(np.float32)


def test_an_uploaded_image_gives_the_servers_answer(
    open_model, zoo, zoo_server, rgb_image, tmp_path
):
    data, expected = rgb_image
    (tmp_path / "digit.png").write_bytes(data)
    page = open_model("zoo-image_cnn")
    before = answers(page)
    page.set_input_files('fieldset[data-input="image"] input[type=file]', tmp_path / "digit.png")
    wait_answer(page, before)  # a new image answers at once: it is the model's only input
    seen = page.evaluate("demo.inputs()")["image"]
    assert seen["shape"] == [16, 16, 3]
    assert np.max(np.abs(np.asarray(seen["values"]).reshape(16, 16, 3) - expected)) <= 1e-6
    want = zoo_predict(zoo_server, zoo, "zoo-image_cnn", {"image": expected.tolist()})
    assert_close(shown(page), want, "uploaded image")


def test_a_pasted_image_is_read_like_an_uploaded_one(open_model, rgb_image):
    data, expected = rgb_image
    page = open_model("zoo-image_cnn")
    before = answers(page)
    page.evaluate(
        """(b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], "pasted.png", { type: "image/png" }));
          document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data }));
        }""",
        base64.b64encode(data).decode(),
    )
    wait_answer(page, before)
    seen = np.asarray(page.evaluate("demo.inputs()")["image"]["values"]).reshape(16, 16, 3)
    assert np.max(np.abs(seen - expected)) <= 1e-6


def test_a_camera_snapshot_gives_the_servers_answer(open_model, zoo, zoo_server):
    page = open_model("zoo-image_cnn", permissions=["camera"])
    box = page.locator('fieldset[data-input="image"]')
    box.locator("button.camera").click()
    page.wait_for_function("document.querySelector('video.camera-view').videoWidth > 0")
    before = answers(page)
    box.locator("button.snap").click()
    wait_answer(page, before)
    seen = page.evaluate("demo.inputs()")["image"]
    image = np.asarray(seen["values"], dtype=np.float32).reshape(16, 16, 3)
    assert image.min() >= 0 and image.max() <= 1 and image.std() > 0  # a real frame, in range
    want = zoo_predict(zoo_server, zoo, "zoo-image_cnn", {"image": image.tolist()})
    assert_close(shown(page), want, "camera snapshot")
    assert box.locator("video.camera-view").is_hidden()  # the camera is released


@pytest.mark.parametrize(
    ("name", "input_name", "typed", "message"),
    [
        ("zoo-tabular", "numeric", "abc", 'numeric[2]: "abc" is not a number'),
        ("zoo-sequence", "tokens", "[1, 2", "tokens: not valid JSON"),
        ("zoo-sequence", "tokens", json.dumps([1.5] * 16), "is not a whole number (int32)"),
        ("zoo-transformer", "tokens", "[1, 2, 3]", "tokens takes 16 values, got 3"),
    ],
)
def test_bad_input_gets_one_clear_line_and_no_answer(open_model, name, input_name, typed, message):
    page = open_model(name)
    before = page.evaluate("demo.outputs()")
    box = page.locator(f'fieldset[data-input="{input_name}"]')
    if box.get_attribute("data-kind") == "numbers":
        box.locator("input.number").nth(2).fill(typed)
    else:
        box.locator("textarea").fill(typed)
    predict(page)
    error = box.locator(".input-error")
    assert error.is_visible() and message in error.text_content()
    assert page.locator(".input-error:visible").count() == 1
    assert page.evaluate("demo.outputs()") == before  # nothing answered for it


def test_a_model_without_tfjs_says_why_and_the_server_answers(open_model, zoo, zoo_server):
    layout = Layout(zoo, SERVER_ONLY)
    (row,) = [a for a in read_manifest(layout.manifest)["artifacts"] if a["target"] == "tfjs"]
    assert not row["published"] and row["reason"]
    page = open_model(SERVER_ONLY)
    notice = page.locator("#no-tfjs")
    assert notice.is_visible()
    assert row["outcome"] in notice.text_content() and row["reason"] in notice.text_content()
    assert page.locator("#load-time").count() == 0 and page.evaluate("demo.state().tfjs") is False
    assert page.text_content("#backend-used") == "model server"
    # its golden samples, answered by the server, give the Keras reference
    golden = read_golden(layout.golden_dir)
    page.locator("#samples .sample").nth(2).click()
    wait_idle(page)
    index = int(page.locator("#samples .sample").nth(2).get_attribute("data-index"))
    assert_close(shown(page), {k: v[index] for k, v in golden.reference.items()}, "server answer")
    # and a typed text, as the server answers it asked directly
    text = "the battery of this phone is great and the screen is superb"
    page.fill('fieldset[data-input="text"] input', text)
    predict(page)
    direct = zoo_predict(zoo_server, zoo, SERVER_ONLY, {"text": [text]})
    assert_close(shown(page), direct, "typed text")
    assert browser.screenshot(page, SERVER_ONLY).stat().st_size > 10_000


def test_the_gallery_lists_every_model_with_its_targets_outcomes(chromium, zoo, zoo_url):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(zoo_url + "gallery.html")
        page.wait_for_function("document.body.dataset.state !== 'loading'")
        assert page.evaluate("document.body.dataset.state") == "ready", page.text_content("#error")
        cards = page.locator("#gallery .model")
        assert sorted(cards.evaluate_all("cs => cs.map(c => c.dataset.model)")) == sorted(ZOO)
        for name in ZOO:
            manifest = read_manifest(Layout(zoo, name).manifest)
            card = page.locator(f'#gallery .model[data-model="{name}"]')
            for a in manifest["artifacts"]:
                outcome = card.locator(f'li[data-target="{a["target"]}"] .outcome')
                assert outcome.text_content() == a["outcome"], (name, a["target"])
            tfjs = next(a for a in manifest["artifacts"] if a["target"] == "tfjs")
            assert card.get_attribute("data-tfjs") == str(tfjs["published"]).lower()
        browser.screenshot(page, "gallery")
        page.locator(f'#gallery .model[data-model="{SERVER_ONLY}"] h2 a').click()
        page.wait_for_function("document.body.dataset.state === 'ready' && demo.idle()")
        assert page.locator("#no-tfjs").is_visible()
    finally:
        context.close()


def test_a_model_name_that_is_not_one_gets_a_clear_message(chromium, zoo_url):
    context = chromium.new_context()
    try:
        for name, message in (("../etc", "is not a model name"), ("nope", "is missing")):
            page = context.new_page()
            page.goto(f"{zoo_url}?model={name}")
            page.wait_for_function("document.body.dataset.state === 'error'")
            assert message in page.get_by_role("alert").text_content()
    finally:
        context.close()


def test_a_single_channel_image_can_be_drawn_and_the_server_agrees(
    chromium, strokes_model, tmp_path
):
    """A grey image model other than the digits' gets a drawing pad: ink on paper becomes bright
    strokes on dark, as the pipeline's image preprocessing makes them."""
    _, layout = strokes_model
    dist = browser.build(layout.root, "strokes", tmp_path / "dist")
    flags = ["--model_name=strokes", f"--model_base_path={layout.serving_base}"]
    context = chromium.new_context(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    try:
        with (
            ServerProcess(flags, log=tmp_path / "server.log") as server,
            browser.static_server(dist, server.rest_url) as url,
        ):
            page = browser.open_demo(context, f"{url}?model=strokes")
            page.on("pageerror", lambda e: errors.append(str(e)))
            assert page.evaluate("demo.page") == "form", page.text_content("#error")
            pad = page.locator("canvas.draw-pad")
            box = pad.bounding_box()
            before = answers(page)
            # a vertical stroke down the middle of the image's fourth column (the pen is ~1 column wide)
            page.mouse.move(box["x"] + box["width"] * 3.5 / 12, box["y"] + box["height"] * 0.1)
            page.mouse.down()
            page.mouse.move(
                box["x"] + box["width"] * 3.5 / 12, box["y"] + box["height"] * 0.9, steps=8
            )
            page.mouse.up()
            wait_answer(page, before)
            seen = page.evaluate("demo.inputs()")["image"]
            image = np.asarray(seen["values"], dtype=np.float32).reshape(12, 12)
            columns = image.mean(axis=0)
            assert (
                columns[3] > 0.6 and columns[6:].max() < 0.05
            )  # bright where drawn, dark elsewhere
            assert int(np.argmax(shown(page)["stroke"])) == 0  # a vertical stroke
            want = server_predict(
                server, "strokes", {"image": image[..., None].tolist()}, ["stroke"]
            )
            assert_close(shown(page), want, "drawn image")
            browser.screenshot(page, "strokes")
    finally:
        context.close()
    assert not errors, errors


@pytest.mark.parametrize("name", ["zoo-tabular", "zoo-image_cnn"])
def test_a_form_page_is_usable_at_phone_width(open_model, name):
    page = open_model(name)
    page.set_viewport_size({"width": 375, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    for control in page.locator("fieldset.control").all():
        b = control.bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= 375
    assert browser.screenshot(page, f"{name}-phone").stat().st_size > 10_000
