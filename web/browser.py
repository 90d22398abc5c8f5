"""Building, serving and opening the demo in headless Chromium: shared by tests/e2e and bench-web.

Debian's chromium with Playwright's executable-path option: Playwright cannot download its own
browser builds here (only the package registries are reachable), and the pip package ships
the driver it needs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEB_DIR = ROOT / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in CI, no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # a camera for the pages' camera snapshot: Chromium's synthetic video, granted without asking
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
# where the browser tests save a screenshot of each page they open (gitignored)
SCREENSHOTS = WEB_DIR / "screenshots"


def build(models_dir: Path, name: str, out: Path) -> Path:
    """web/dist-like folder for `name` from `models_dir`, via web/build.mjs (esbuild)."""
    cmd = ["node", str(WEB_DIR / "build.mjs"), "--models-dir", str(models_dir)]
    proc = subprocess.run([*cmd, "--name", name, "--out", str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or f"web build exited {proc.returncode}")
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def static_server(
    root: Path, model_server: str = "http://127.0.0.1:9", timeout: float = 30
) -> Iterator[str]:
    """`python -m web.devserver` on a free port, serving `root`; yields its base URL."""
    port = _free_port()
    cmd = [sys.executable, "-m", "web.devserver", "--root", str(root), "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--model-server", model_server],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"web.devserver exited: {proc.stderr.read().decode()[-500:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"web.devserver not ready on {url} after {timeout:.0f} s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def launch(playwright):
    """Headless Debian chromium through Playwright, with a fresh profile."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"no chromium at {CHROMIUM}: run `make e2e` (it installs it) as root")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_demo(context, url: str, timeout_ms: float = 60_000):
    """A new page on the demo, once it has loaded (or failed to load) its model and answered its
    first sample."""
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    page.wait_for_function(
        "document.body.dataset.state === 'error' || "
        "(document.body.dataset.state !== 'loading' && globalThis.demo?.idle())"
    )
    return page


def screenshot(page, name: str) -> Path:
    """A full-page screenshot in web/screenshots/<name>.png, for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path
