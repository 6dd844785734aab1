"""Headless Chromium for the browser checks: Debian's chromium and chromedriver, driven by Selenium.

Selenium Manager never downloads anything here: both binaries are the system's (``make install`` runs
``apt-get install chromium chromium-driver`` when missing). When they are not there the test fails and says so —
it is never skipped.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

INSTALL_HINT = ("Debian's chromium and chromium-driver are needed for the browser checks: run `make install` "
                "(as root it runs `apt-get install -y chromium chromium-driver`), or install both packages.")


def system_binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or next((p for p in (f"/usr/bin/{name}", f"/usr/lib/chromium/{name}")
                                            if Path(p).is_file()), None)
        if found:
            return found
    pytest.fail(f"{' or '.join(names)} not found. {INSTALL_HINT}")


@contextmanager
def headless_chromium(*, window: tuple[int, int], logging_prefs: dict[str, str], profile_prefix: str
                      ) -> Iterator[Any]:
    """A Chromium WebDriver with a throw-away profile; ``logging_prefs`` is what it records (console, network)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = system_binary("chromium", "chromium-browser")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={window[0]},{window[1]}", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", logging_prefs)
    with tempfile.TemporaryDirectory(prefix=profile_prefix) as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(executable_path=system_binary("chromedriver")), options=options)
        try:
            yield driver
        finally:
            driver.quit()
