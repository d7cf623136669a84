"""`make screenshots`: the images of docs/img/ taken from the current published files.

    .venv/bin/python -m orchestration.lib.reporting.screenshots [--out docs/img]

Renders, in headless Chromium with the network closed (every request goes to a dead local
proxy), the summary of the published snapshot (as a terminal would show it), the health report
(data/published/report.html) and the Data Docs page of the source with the most failed checks.
Run `make run` first: the images show whatever the published files hold.
"""

from __future__ import annotations

import argparse
import html
import shutil
import subprocess
import tempfile
from pathlib import Path

from orchestration.lib.engines.warehouse import connect
from orchestration.lib.publish.tables import SNAPSHOT_NAME, published_dir
from orchestration.lib.reporting.summary import Places, summary_text
from orchestration.lib.settings import PROJECT_ROOT, Settings

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
]  # fmt: skip


def _chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise SystemExit("chromium is not installed (make test-deps installs it as root)")
    return binary


def shoot(page: Path, out: Path, width: int, height: int) -> Path:
    with tempfile.TemporaryDirectory(prefix="healthscore-shot-") as profile:
        subprocess.run(
            [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--screenshot={out}", page.resolve().as_uri()],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
    return out


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(PROJECT_ROOT)
    except ValueError:
        return path


def terminal_page(text: str, out: Path) -> Path:
    """Plain text as a terminal shows it: monospace, light on dark."""
    out.write_text(
        "<!doctype html><meta charset='utf-8'><body style='margin:0;background:#1e1e1e'>"
        "<pre style='margin:0;padding:14px 18px;color:#e6e6e6;font:13px/1.4 \"DejaVu Sans Mono\",monospace'>"
        f"{html.escape(text)}</pre></body>",
        encoding="utf-8",
    )
    return out


def _failing_source(docs: Path) -> Path | None:
    pages = sorted((docs / "validations").glob("*.html"))
    if not pages:
        return None
    return max(pages, key=lambda p: (p.read_text(encoding="utf-8").count("&#10008;"), p.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(PROJECT_ROOT / "docs" / "img"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    published = published_dir(Settings.from_env())
    snapshot = published / SNAPSHOT_NAME
    if not snapshot.exists():
        raise SystemExit(f"no published snapshot at {snapshot}: run `make run` first")
    places = Places(
        source=_relative(snapshot),
        snapshot=_relative(snapshot),
        report=_relative(published / "report.html"),
        data_docs=_relative(published / "data_docs" / "index.html"),
        command=".venv/bin/healthscore",
    )
    with connect(snapshot, read_only=True) as con:
        text = summary_text(con, places)
    with tempfile.TemporaryDirectory(prefix="healthscore-shot-") as tmp:
        page = terminal_page(text, Path(tmp) / "summary.html")
        height = 30 + 19 * (text.count("\n") + 1)
        print(shoot(page, out / "summary.png", 1000, height))
    print(shoot(published / "report.html", out / "report.png", 1200, 2400))
    docs_page = _failing_source(published / "data_docs")
    if docs_page is not None:
        print(shoot(docs_page, out / "data-docs.png", 1300, 1500))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
