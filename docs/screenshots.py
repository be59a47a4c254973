"""Screenshots for the README: the HTML report and a study's note in optuna-dashboard, taken with
headless Chromium the way tests/test_browser.py takes them (that test asserts on what they show).

    python docs/screenshots.py --storage sqlite:///runs.db --experiment readme

writes docs/report.png (the top of the report: the finding, warnings, table, first charts) and
docs/dashboard.png (the note on the experiment's first study in optuna-dashboard). It refreshes
the experiment's notes first (``lorasweep report --to-dashboard``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import PLOTS_JS, chromium, find_chromium, free_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--report-height", type=int, default=2000, help="pixels of the report page to keep")
    args = parser.parse_args()
    binary = find_chromium()
    if binary is None:
        sys.exit("Chromium is not installed (apt-get install -y chromium)")
    lorasweep = [sys.executable, "-m", "lorasweep"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        html = tmp / "report.html"
        base = ["report", "--storage", args.storage, "--experiment", args.experiment]
        subprocess.run([*lorasweep, *base, "--out", str(html), "--to-dashboard"], check=True)
        with chromium(binary, tmp, height=args.report_height) as page:
            page.goto(html.as_uri())
            page.wait_for(f"(() => {{ const p = {PLOTS_JS}; return p.length && p.every(x => x.marks) }})()")
            page.screenshot(args.out / "report.png", height=args.report_height)
            assert not page.console_errors(), page.console_errors()

        from optuna.storages import RDBStorage

        names = [s.study_name for s in RDBStorage(args.storage).get_all_studies()]
        name = next(n for n in names if n.startswith(f"{args.experiment}/"))
        study_id = RDBStorage(args.storage).get_study_id_from_name(name)
        port = free_port()
        server = subprocess.Popen([*lorasweep, "dashboard", "--storage", args.storage, "--port", str(port)])
        try:
            for _ in range(200):
                try:
                    api = f"http://127.0.0.1:{port}/api/studies"
                    urllib.request.urlopen(
                        urllib.request.Request(api, headers={"Accept-Encoding": "gzip"}), timeout=2
                    ).close()
                    break
                except OSError:
                    time.sleep(0.3)
            with chromium(binary, tmp, height=1300) as page:
                page.goto(f"http://127.0.0.1:{port}/dashboard/studies/{study_id}/note")
                page.wait_for("document.body.innerText.includes('lorasweep ·')")
                time.sleep(1)
                page.screenshot(args.out / "dashboard.png", height=1300)
                assert not page.console_errors(), page.console_errors()
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"wrote {args.out / 'report.png'} and {args.out / 'dashboard.png'}")


if __name__ == "__main__":
    main()
