"""Editor responsiveness in a real browser, against `flowdrafter ui` running as its own process.

1. Drag latency: from releasing a dragged box to the browser showing the updated preview frame (the
   editor records both moments with performance.now()). Target <= 300 ms. Baseline, same process and page:
   stepping the frame slider (the same round trip and frame composition, without the edit and autosave).
2. Time to first paint: navigation start to the browser's first contentful paint, and to the layout
   editor showing its frame and boxes.
3. Server memory: resident set of the server process after start, and with 4 sessions (tabs) open, each
   having made an edit.

Needs /usr/bin/chromium. Prints numbers and ratios; never fails on speed.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
TARGET_MS = 300.0
DRAGS = 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(project: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "FLOWDRAFTER_DATA_DIR": str(project.parent / "data")}
    proc = subprocess.Popen([str(ROOT / ".venv/bin/flowdrafter"), "ui", str(project), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    end = time.monotonic() + 180
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not start within 3 minutes")


def open_editor(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#layout-editor .fd-stage img", timeout=60_000)
    return page


def drag_once(page, entity: str, dx: float) -> float:
    box = page.locator(f'#layout-editor .fd-box[data-entity="{entity}"]').bounding_box()
    page.evaluate("window.__fdRenderedAt = 0")
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=4)
    page.mouse.up()
    page.wait_for_function("window.__fdRenderedAt > window.__fdReleasedAt", timeout=30_000)
    return page.evaluate("window.__fdRenderedAt - window.__fdReleasedAt")


def scrub_once(page) -> float:
    """Baseline: step the frame slider with the keyboard and time until that frame is drawn (no edit, no save)."""
    slider = page.locator("#frame-slider input[type=range]")
    page.evaluate("window.__fdRenderedAt = 0; window.__fdKeyAt = 0")
    page.evaluate("document.querySelector('#frame-slider input[type=range]').addEventListener('keydown', () => window.__fdKeyAt = performance.now(), {once: true})")
    slider.press("ArrowRight")
    page.wait_for_function("window.__fdRenderedAt > window.__fdKeyAt && window.__fdKeyAt > 0", timeout=30_000)
    return page.evaluate("window.__fdRenderedAt - window.__fdKeyAt")


def main() -> None:
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing; install Debian's chromium to run this benchmark")
    from playwright.sync_api import sync_playwright

    from flowdrafter.core.examples import copy_example

    with tempfile.TemporaryDirectory() as tmp:
        project = copy_example("kitten-garden", Path(tmp) / "project").root
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(project, port)
        try:
            time.sleep(1.0)
            idle_mb = rss_mb(server.pid)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

                # 2. time to first paint (a fresh page, after one warm-up load)
                open_editor(browser, url).close()
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_selector("#layout-editor .fd-stage img", timeout=60_000)
                editor_ms = (time.perf_counter() - t0) * 1000
                fcp = page.evaluate("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null")

                # 1. drag latency vs scrub baseline (scene 1, 16 frames)
                drag_once(page, "kitten", 30)  # warm-up
                drags = [drag_once(page, "kitten", 40 if i % 2 else -40) for i in range(DRAGS)]
                scrubs = [scrub_once(page) for _ in range(DRAGS)]

                # 3. memory with 4 sessions, each having edited
                pages = [page] + [open_editor(browser, url) for _ in range(3)]
                for pg in pages[1:]:
                    drag_once(pg, "ball", 25)
                time.sleep(1.0)
                four_mb = rss_mb(server.pid)
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    med_drag, med_scrub = statistics.median(drags), statistics.median(scrubs)
    print(f"drag release -> updated frame: median {med_drag:.0f} ms, max {max(drags):.0f} ms over {DRAGS} drags "
          f"(target {TARGET_MS:.0f} ms: ratio {med_drag / TARGET_MS:.2f})")
    print(f"baseline, frame scrub round trip: median {med_scrub:.0f} ms; drag/scrub ratio {med_drag / med_scrub:.2f}")
    print(f"first contentful paint: {fcp:.0f} ms; editor frame and boxes shown: {editor_ms:.0f} ms after navigation" if fcp else
          f"editor frame and boxes shown: {editor_ms:.0f} ms after navigation")  # fmt: skip
    print(f"server memory: {idle_mb:.0f} MB after start, {four_mb:.0f} MB with 4 sessions open "
          f"(+{(four_mb - idle_mb) / 4:.1f} MB per session, ratio {four_mb / idle_mb:.2f})")


if __name__ == "__main__":
    main()
