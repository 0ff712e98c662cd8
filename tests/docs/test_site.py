"""The documentation site: it builds with ``mkdocs build --strict``, every public name has an API page,
no internal link is broken, the quoted numbers match their sources, and it renders in headless Chromium
(search box, an API page, a tutorial, a gallery image, search for ``DropBlock2d``, no console errors).

The site is built once per session into a temporary folder (the same command ``make docs`` runs) and
served from a localhost HTTP server the test starts; Chromium is driven over the DevTools protocol on a
pipe (``--remote-debugging-pipe``), so no driver package is needed.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "docs" / "hooks"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.xdist_group("docs-site")


def _load_hook(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    assert "WARNING" not in res.stderr, res.stderr[-6000:]
    return out


def test_site_builds_with_home_search_index_and_generated_figures(site: Path) -> None:
    assert (site / "index.html").is_file()
    index = json.loads((site / "search" / "search_index.json").read_text())
    assert any("DropBlock2d" in doc["location"] for doc in index["docs"])
    figures = sorted((site / "gallery" / "figures").glob("*.png"))
    assert len(figures) >= 15
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    assert not list((ROOT / "docs").rglob("figures/*.png")), "gallery figures are built, not committed"


def test_every_public_name_has_an_api_page(site: Path) -> None:
    api = _load_hook("api_pages")
    modules = api.public_modules(ROOT)
    home = api.homes(modules)
    assert "dropkit.nn" in modules and "dropkit.functional" in modules
    missing = []
    for mod in modules.values():
        if not (site / "reference" / mod.name / "index.html").is_file():
            missing.append(mod.name)
        for name in mod.names:
            obj = getattr(sys.modules[mod.name], name)
            if type(obj).__name__ == "module":
                continue
            page = site / "reference" / home[(mod.name, name)] / name / "index.html"
            if not page.is_file() or f"{home[(mod.name, name)]}.{name}" not in page.read_text():
                missing.append(f"{mod.name}.{name}")
    assert missing == []
    dropout = (site / "reference" / "dropkit.nn" / "Dropout" / "index.html").read_text()
    assert "probability of <strong>dropping</strong>" in dropout and "broadcast_dims" in dropout
    # the Example section became a highlighted doctest block, and a :func: role a link to the function's page
    assert '<span class="gp">&gt;&gt;&gt; </span>' in dropout
    assert re.search(r'href="[^"]*dropkit\.functional/dropout/[^"]*"', dropout)


_LINK = re.compile(r'\s(?:href|src)="([^"]+)"')
_ID = re.compile(r'\sid="([^"]+)"')


def _target(site: Path, page: Path, url: str) -> tuple[Path | None, str]:
    """The file a relative URL of ``page`` resolves to (None: outside the site), and its fragment."""
    base = "/" + page.relative_to(site).as_posix()
    path, frag = urldefrag(urljoin(base, url))
    path = unquote(urlparse(path).path)
    target = site / path.lstrip("/")
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target, frag


def test_no_broken_internal_links_on_any_page(site: Path) -> None:
    pages = sorted(p for p in site.rglob("*.html") if p.is_file())
    assert len(pages) > 300
    ids: dict[Path, set[str]] = {}
    broken = []
    for page in pages:
        text = page.read_text()
        for url in _LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", url) or url.startswith("//"):
                continue  # http(s):, mailto:, data: — not internal
            target, frag = _target(site, page, url)
            if target is None or not target.is_file():
                broken.append(f"{page.relative_to(site)} -> {url}")
                continue
            if frag and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(_ID.findall(target.read_text()))
                if unquote(frag) not in ids[target]:
                    broken.append(f"{page.relative_to(site)} -> {url} (no id {frag!r})")
    assert broken == [], "\n".join(broken[:40])


def test_quoted_numbers_match_their_sources(tmp_path: Path) -> None:
    numbers = _load_hook("check_numbers")
    assert numbers.check(ROOT) == []
    # a page whose number drifted from its source is reported, naming both
    copy = tmp_path / "repo"
    for claim in numbers.CLAIMS:
        for rel in (claim.source, *claim.pages):
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / rel).is_dir():  # a claim over several result files (docs/speech/seed*/)
                shutil.copytree(ROOT / rel, copy / rel, dirs_exist_ok=True)
            else:
                shutil.copyfile(ROOT / rel, copy / rel)
    page = copy / "docs" / "uncertainty.md"
    page.write_text(page.read_text().replace("0.2007", "0.1907"))
    problems = numbers.check(copy)
    assert len(problems) == 1 and "docs/uncertainty.md" in problems[0] and "metrics.json" in problems[0]


# --- headless Chromium over the DevTools protocol -------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class Chromium:
    """A headless Chromium driven over ``--remote-debugging-pipe`` (fd 3 commands, fd 4 replies)."""

    def __init__(self, executable: str, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()

        def child_fds() -> None:  # runs in the child: its fd 3 reads commands, fd 4 writes replies
            a, b = os.dup(cmd_r), os.dup(res_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-quic",
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(cmd_r, res_w, 3, 4), preexec_fn=child_fds,  # preexec runs before the fd cleanup: keep 3, 4
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(cmd_r)
        os.close(res_w)
        self._next = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=self.session)

    def _read(self) -> None:
        buf = b""
        with os.fdopen(self._res_r, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                buf += chunk
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    msg = json.loads(raw)
                    if "id" in msg:
                        with self._cond:
                            self._replies[msg["id"]] = msg
                            self._cond.notify_all()
                    else:
                        self.events.put(msg)

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        with self._cond:
            if not self._cond.wait_for(lambda: self._next in self._replies, timeout=timeout):
                raise TimeoutError(f"chromium: no reply to {method} in {timeout} s")
            reply = self._replies.pop(self._next)
        if "error" in reply:
            raise RuntimeError(f"chromium: {method} failed: {reply['error']}")
        return reply.get("result", {})

    def drain(self) -> list[dict[str, Any]]:
        out = []
        while not self.events.empty():
            out.append(self.events.get())
        return out

    def open(self, url: str, timeout: float = 60) -> list[dict[str, Any]]:
        """Navigate and wait for the load event; return the events seen meanwhile."""
        self.drain()
        self.send("Page.navigate", session=self.session, url=url)
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(event)
            if event.get("method") == "Page.loadEventFired":
                return seen
        raise TimeoutError(f"chromium: {url} did not load in {timeout} s")

    def eval(self, expression: str, timeout: float = 60) -> Any:
        res = self.send("Runtime.evaluate", session=self.session, timeout=timeout, expression=expression,
                        awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"chromium: {expression[:80]}... threw {res['exceptionDetails']}")
        return res["result"].get("value")

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and failed loads among DevTools events."""
    found = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(f"exception: {p['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            found.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            found.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            found.append(f"failed load: {p.get('errorText')}")
    return found


_PAGE_STATE = """(async () => {
  await Promise.all(Array.from(document.images).map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  return {
    title: document.title,
    h1: (document.querySelector("article h1") || {}).textContent || "",
    search: !!document.querySelector("input.md-search__input"),
    images: Array.from(document.images).map(i => ({src: i.getAttribute("src"), width: i.naturalWidth})),
    code: document.querySelectorAll("article pre code").length,
    signature: !!document.querySelector(".doc-signature, .doc-heading code"),
  };
})()"""

_SEARCH = """(async () => {
  const input = document.querySelector("input.md-search__input");
  input.focus();
  input.value = "DropBlock2d";
  input.dispatchEvent(new Event("focus"));
  input.dispatchEvent(new Event("input", {bubbles: true}));
  input.dispatchEvent(new KeyboardEvent("keyup", {key: "d", bubbles: true}));
  for (let i = 0; i < 200; i++) {
    const items = document.querySelectorAll(".md-search-result__item a, li.md-search-result__item a");
    if (items.length) return Array.from(items).map(a => a.getAttribute("href") + " " + a.textContent.slice(0, 80));
    await new Promise(r => setTimeout(r, 100));
  }
  return [];
})()"""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium for this test")
        pytest.skip("needs chromium (apt-get install chromium)")
    browser = Chromium(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.close()


@pytest.mark.parametrize(
    "path, h1",
    [
        ("", "dropkit"),
        ("reference/dropkit.nn/Dropout/", "dropkit.nn.Dropout"),
        ("tutorials/cnn/", "Tutorial: dropout in CNNs"),
        ("gallery/drop-block/", "DropBlock"),
    ],
)
def test_page_renders_in_headless_chromium(chromium: Chromium, server: str, path: str, h1: str) -> None:
    events = chromium.open(server + path)
    state = chromium.eval(_PAGE_STATE)
    time.sleep(0.5)  # late console messages (the search worker starts after load)
    events += chromium.drain()
    assert _errors(events) == []
    assert state["search"], "no search box"
    assert h1 in state["h1"], state
    assert all(img["width"] > 0 for img in state["images"]), state["images"]
    if path.startswith("reference/"):
        assert state["signature"] and state["code"] >= 1  # the signature and the example
    if path.startswith("gallery/"):
        assert any("figures/drop-block.png" in img["src"] and img["width"] > 100 for img in state["images"]), state["images"]
    if path.startswith("tutorials/"):
        assert state["code"] >= 3


def test_search_finds_dropblock2d(chromium: Chromium, server: str) -> None:
    events = chromium.open(server)
    results = chromium.eval(_SEARCH)
    events += chromium.drain()
    assert _errors(events) == []
    assert any("/reference/dropkit.nn/DropBlock2d/" in r for r in results), results  # its API page
    assert any("/gallery/drop-block/" in r for r in results), results  # and its gallery page


def test_a_public_function_without_a_docstring_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    api = _load_hook("api_pages")
    module = types.ModuleType("fake_dropkit_mod")

    def undocumented() -> None:
        pass

    module.undocumented = undocumented  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_dropkit_mod", module)
    modules = {"fake_dropkit_mod": api.ApiModule("fake_dropkit_mod", ["undocumented"], "")}
    assert api.missing_docstrings(modules, api.homes(modules)) == ["fake_dropkit_mod.undocumented"]
    undocumented.__doc__ = "Now documented."
    assert api.missing_docstrings(modules, api.homes(modules)) == []


def test_docstring_rewrite_for_the_google_parser() -> None:
    ext = _load_hook("griffe_dropkit")
    text = "See :class:`~dropkit.nn.Dropout` and :func:`torch.nn.functional.dropout`.\n\nExample:\n    >>> 1\n    1\n"
    out = ext.rewrite(text)
    assert '<autoref identifier="dropkit.nn.Dropout" optional><code>Dropout</code></autoref>' in out
    assert "<code>torch.nn.functional.dropout()</code>" in out and "autoref identifier=\"torch" not in out
    assert "\nExamples:\n    >>> 1" in out
