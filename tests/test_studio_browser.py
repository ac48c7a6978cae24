"""The studio driven in a real headless Chromium (Debian's chromium + chromium-driver, via Selenium), as a
designer would use it: draw a page, pin, vary, interpolate, download, mistype. Screenshots of every step
land in the test's tmp dir (`screens/`)."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan.generate import generate, parse
from gan.run import train
from gan.studio.server import serve
from tests.conftest import require, smoke

pytestmark = pytest.mark.slow  # subprocess or long training runs: not in the fast tier

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture
def browser(tmp_path):
    require(CHROMIUM, "Debian chromium (apt-get install chromium chromium-driver)")
    require(CHROMEDRIVER, "Debian chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(tmp_path / "downloads"), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def studio_url(tmp_path):
    out = tmp_path / "run"
    train(smoke("model=cdcgan", "data.num_classes=3", "trick=ema", output_dir=out))
    ckpt = out / "checkpoints" / "last.ckpt"
    server = serve({"ckpt_path": str(ckpt), "port": 0, "host": "127.0.0.1", "use_ema": True})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", ckpt
    server.shutdown()
    server.server_close()


def downloaded(folder: Path, name: str, timeout: float = 20) -> Path:
    path, end = folder / name, time.time() + timeout
    while not path.is_file() and time.time() < end:
        time.sleep(0.1)
    assert path.is_file(), (
        f"{name} was not downloaded; {folder} has {sorted(p.name for p in folder.glob('*'))}"
    )
    return path


def test_designer_walkthrough(browser, studio_url, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    url, ckpt = studio_url
    screens = tmp_path / "screens"
    screens.mkdir()
    # the page replaces its cards on every draw: an element found just before that goes stale, so retry
    wait = WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException])

    def all_(css):
        return browser.find_elements(By.CSS_SELECTOR, css)

    def shot(name):
        browser.save_screenshot(str(screens / f"{name}.png"))

    browser.get(url)
    wait.until(lambda d: len(all_("#page .design")) == 16)
    assert "Page of 16 drawn in" in browser.find_element(By.ID, "status").text
    shot("1_page")

    Select(browser.find_element(By.ID, "class")).select_by_visible_text("class_2 (2)")
    seed = browser.find_element(By.ID, "seed")
    seed.clear()
    seed.send_keys("42")
    browser.find_element(By.ID, "draw").click()

    def captions(css):  # read in one call inside the page: no element can go stale in between
        return browser.execute_script(
            f"return [...document.querySelectorAll('{css}')].map(f => f.textContent)"
        )

    wait.until(lambda d: all("seed 42" in c and "class_2" in c for c in captions("#page .design")))
    shot("2_class_page")

    all_("#page .design")[0].click()
    all_("#page .design")[5].click()
    wait.until(lambda d: len(all_("#pinned .design")) == 2)
    assert browser.find_element(By.ID, "pin-count").text == "2"
    shot("3_pinned")

    browser.execute_script(
        "const s = document.getElementById('strength'); s.value = '0.6'; s.dispatchEvent(new Event('input'));"
    )
    assert browser.find_element(By.ID, "strength-value").text == "0.60"
    all_("#pinned .design")[0].find_element(By.CLASS_NAME, "vary").click()
    wait.until(lambda d: len(all_("#variations .design")) == 8)
    shot("4_variations")

    steps = browser.find_element(By.ID, "steps")
    steps.clear()
    steps.send_keys("6")
    browser.find_element(By.ID, "interpolate").click()
    wait.until(lambda d: len(all_("#interpolation .design")) == 6)
    ends = browser.execute_script(
        "const f = document.querySelectorAll('#interpolation .design');"
        "return [f[0].design.z, f[f.length - 1].design.z, pins[0].z, pins[1].z];"
    )
    assert np.allclose(ends[0], ends[2], atol=1e-5) and np.allclose(ends[1], ends[3], atol=1e-5)
    shot("5_interpolation")

    all_("#pinned .design")[0].find_element(By.CLASS_NAME, "png").click()
    png = downloaded(tmp_path / "downloads", "pin_1.png")
    assert Image.open(png).size == (32, 32)
    [again] = generate(parse([f"ckpt_path={ckpt}", f"latents={png}", f"out_dir={tmp_path / 'generated'}"]))
    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(again)))

    browser.find_element(By.ID, "zip").click()
    assert downloaded(tmp_path / "downloads", "designs.zip").stat().st_size > 1000

    seed.clear()
    seed.send_keys("12abc")
    browser.find_element(By.ID, "draw").click()
    error = browser.find_element(By.ID, "error")
    wait.until(lambda d: error.is_displayed())
    assert error.text == "seed must be a whole number from 0 to 4294967295, not '12abc'"
    assert len(all_("#page .design")) == 16  # the page stays as it was
    shot("6_bad_seed")
    assert len(list(screens.glob("*.png"))) == 6
