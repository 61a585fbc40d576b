"""Drives Debian's headless Chromium through WebDriver (selenium) for the
`nw0 dashboard` browser tests (tests/tests/dashboard.rs), which decide what to
check: this script only does what each line on stdin says and answers with one
JSON line on stdout.

Commands (JSON objects, one a line):
  {"cmd": "open", "url": U}                       load the page
  {"cmd": "rows"}                                 every name row: name, status, ip, shown text
  {"cmd": "wait_row", "name": N, "status": S, "timeout": T}
                                                  until the row of N has status S ("absent": no row)
  {"cmd": "click_name", "name": N}                click the name (opens its panel)
  {"cmd": "click", "id": I}                       click the element with id I
  {"cmd": "type", "id": I, "text": X}             replace the text of input/textarea I
  {"cmd": "wait_text", "id": I, "contains": X, "timeout": T}
                                                  until I's text contains X
  {"cmd": "eval", "js": J}                        the value of `return J`
  {"cmd": "screenshot", "path": P}                a PNG of the page
  {"cmd": "quit"}
Answers: {"ok": true, ...} or {"ok": false, "error": ..., "rows"/"text": what was there}.

Runs inside the test's network namespace (chromedriver and Chromium too):
nothing here reaches any network but that namespace's.
"""

import json
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROWS_JS = """
return [...document.querySelectorAll('.row')].map(r => ({
  name: r.getAttribute('data-name'),
  status: r.getAttribute('data-status'),
  ip: r.closest('.machine').getAttribute('data-ip'),
  text: r.querySelector('.name').textContent,
  state: r.querySelector('.state').textContent,
  heard: r.querySelector('.heard').textContent,
}));
"""


def start():
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("NW0_CHROMIUM", "/usr/bin/chromium")
    profile = tempfile.mkdtemp(prefix="nw0-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--window-size=1600,1000",
        "--user-data-dir=" + profile,
    ):
        options.add_argument(flag)
    service = Service(executable_path=os.environ.get("NW0_CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def until(timeout, check):
    """Polls `check` (this is the test's side: the page itself never polls)."""
    end = time.monotonic() + timeout
    start = time.monotonic()
    while True:
        got = check()
        if got:
            return round((time.monotonic() - start) * 1000)
        if time.monotonic() >= end:
            return None
        time.sleep(0.05)


def handle(driver, c):
    cmd = c["cmd"]
    if cmd == "open":
        driver.get(c["url"])
        return {"ok": True, "title": driver.title}
    if cmd == "rows":
        return {"ok": True, "rows": driver.execute_script(ROWS_JS)}
    if cmd == "wait_row":
        def check():
            rows = [r for r in driver.execute_script(ROWS_JS) if r["name"] == c["name"]]
            if c["status"] == "absent":
                return not rows
            return rows and rows[0]["status"] == c["status"]
        ms = until(c.get("timeout", 10), check)
        if ms is None:
            return {"ok": False, "error": "timed out", "rows": driver.execute_script(ROWS_JS)}
        return {"ok": True, "ms": ms}
    if cmd == "click_name":
        for row in driver.find_elements(By.CSS_SELECTOR, ".row"):
            if row.get_attribute("data-name") == c["name"]:
                row.find_element(By.CSS_SELECTOR, ".name").click()
                return {"ok": True}
        return {"ok": False, "error": "no such row", "rows": driver.execute_script(ROWS_JS)}
    if cmd == "click":
        driver.find_element(By.ID, c["id"]).click()
        return {"ok": True}
    if cmd == "type":
        e = driver.find_element(By.ID, c["id"])
        e.clear()
        e.send_keys(c["text"])
        return {"ok": True}
    if cmd == "wait_text":
        text = lambda: driver.find_element(By.ID, c["id"]).get_attribute("textContent")
        ms = until(c.get("timeout", 10), lambda: c["contains"] in text())
        if ms is None:
            return {"ok": False, "error": "timed out", "text": text()}
        return {"ok": True, "ms": ms, "text": text()}
    if cmd == "eval":
        return {"ok": True, "value": driver.execute_script("return " + c["js"])}
    if cmd == "screenshot":
        return {"ok": driver.save_screenshot(c["path"])}
    return {"ok": False, "error": "unknown command " + cmd}


def main():
    driver = start()
    print(json.dumps({"ok": True, "ready": driver.capabilities.get("browserVersion")}), flush=True)
    try:
        for line in sys.stdin:
            c = json.loads(line)
            if c["cmd"] == "quit":
                break
            try:
                answer = handle(driver, c)
            except Exception as e:  # the test shows it and fails
                answer = {"ok": False, "error": type(e).__name__ + ": " + str(e)}
            print(json.dumps(answer), flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
