"""The studio driven in a real headless Chromium (Debian's chromium + chromium-driver, via Selenium), as a
designer would use it: draw a page, pin, vary, interpolate, download, mistype; steer along named principal
directions; trade variety for quality; start from a photo; ask for a pin's nearest training images. Then
issue 38: the designer's words and the first visit's "how to use", pins and settings kept across a reload
until cleared, a 32-step strip scrolling in its own box, the 4x PNG and pin-named zip, and the warning for
a photo far from anything the model makes. Screenshots of every step land in the test's tmp dir
(`screens/`), or in GAN_STUDIO_SCREENS.

The same walk-through runs on any checkpoint: `GAN_STUDIO_CKPT=<run>/checkpoints/last.ckpt
GAN_STUDIO_SCREENS=screens/ uv run pytest tests/test_studio_browser.py` (the photo is a shared shoe).
"""

import io
import json
import os
import shutil
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan.generate import generate, parse
from gan.studio.server import serve
from tests.conftest import require

pytestmark = pytest.mark.slow  # subprocess or long training runs: not in the fast tier

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
PHOTO = "train_31.jpg"  # a shoe from the shared folder (held out of the shoe checkpoint in docs/studio.md)


@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM, "Debian chromium (apt-get install chromium chromium-driver)")
    require(CHROMEDRIVER, "Debian chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def studio_url(request, tmp_path_factory):
    """One server for the module, on a copy of the checkpoint (its directions cache and names its own)."""
    given = os.environ.get("GAN_STUDIO_CKPT")
    if given:
        ckpt = Path(given)
    else:
        ckpt = shutil.copy(
            request.getfixturevalue("studio_ckpt"), tmp_path_factory.mktemp("browser") / "x.ckpt"
        )
    server = serve({"ckpt_path": str(ckpt), "port": 0, "search_steps": 60 if given else 10})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.url, Path(ckpt)
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def folder_url(folder_ckpt):
    """A server on conftest's shoe checkpoint, whose run cached its self-supervised encoder."""
    server = serve({"ckpt_path": str(folder_ckpt), "port": 0})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.url
    server.shutdown()
    server.server_close()


class Page:
    """The page in the browser, with the few moves the walk-throughs need."""

    def __init__(self, browser, url: str, tmp_path: Path, first_visit: bool = False):
        """The page opened afresh: nothing kept from another test, the "how to use" seen unless
        `first_visit`."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        self.browser, self.downloads = browser, tmp_path / "downloads"
        self.screens = Path(os.environ.get("GAN_STUDIO_SCREENS") or tmp_path / "screens")
        self.screens.mkdir(parents=True, exist_ok=True)
        browser.execute_cdp_cmd(
            "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(self.downloads)}
        )
        # the page replaces its cards on every draw: an element found just before that goes stale, so retry
        self.wait = WebDriverWait(browser, 120, ignored_exceptions=[StaleElementReferenceException])
        browser.get(url.split("?")[0] + "api/none")  # the studio's origin, without its page's script running
        self.js(
            "localStorage.clear(); if (!arguments[0]) localStorage.setItem('gan-studio-help-seen', '1')",
            first_visit,
        )
        browser.get(url)
        self.wait.until(lambda d: len(self.all("#page .design")) == 16)

    def all(self, css):
        from selenium.webdriver.common.by import By

        return self.browser.find_elements(By.CSS_SELECTOR, css)

    def one(self, css):
        from selenium.webdriver.common.by import By

        return self.browser.find_element(By.CSS_SELECTOR, css)

    def js(self, script, *args):
        return self.browser.execute_script(script, *args)

    def texts(self, css):  # read in one call inside the page: no element can go stale in between
        return self.js(f"return [...document.querySelectorAll('{css}')].map(f => f.textContent)")

    def slide(self, css, value):
        self.js(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1];"
            "s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));",
            css,
            str(value),
        )

    def draw(self, seed: int) -> None:
        field = self.one("#seed")
        field.clear()
        field.send_keys(str(seed))
        self.one("#draw").click()
        self.wait.until(lambda d: all(f"seed {seed}" in c for c in self.texts("#page .design")))

    def interpolate(self, steps: int) -> None:
        field = self.one("#steps")
        field.clear()
        field.send_keys(str(steps))
        self.one("#interpolate").click()
        self.wait.until(lambda d: len(self.all("#interpolation .design")) == steps)

    def shot(self, name, at: str | None = None):
        """A screenshot of the window, scrolled to show `at` (a CSS selector) when given."""
        self.js(
            "arguments[0] ? document.querySelector(arguments[0]).scrollIntoView() : window.scrollTo(0, 0)", at
        )
        self.browser.save_screenshot(str(self.screens / f"{name}.png"))

    def downloaded(self, name: str, timeout: float = 30) -> Path:
        path, end = self.downloads / name, time.time() + timeout
        while not path.is_file() and time.time() < end:
            time.sleep(0.1)
        found = sorted(p.name for p in self.downloads.glob("*")) if self.downloads.is_dir() else []
        assert path.is_file(), f"{name} was not downloaded; {self.downloads} has {found}"
        return path


def image_of(src: str) -> np.ndarray:
    import base64

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


def test_designer_walkthrough(browser, studio_url, tmp_path):  # ~15 s
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, ckpt = studio_url
    page = Page(browser, url, tmp_path)
    assert "Page of 16 drawn in" in page.one("#status").text
    page.shot("1_page")

    if page.js("return info.condition") == "label":
        Select(page.one("#class")).select_by_index(len(page.all("#class option")) - 1)
    page.draw(42)
    page.shot("2_class_page")

    page.all("#page .design")[0].click()
    page.all("#page .design")[5].click()
    page.wait.until(lambda d: len(page.all("#pinned .design")) == 2)
    assert page.one("#pin-count").text == "2"
    page.shot("3_pinned")

    page.slide("#strength", 0.6)
    assert page.one("#strength-value").text == "0.60"
    page.all("#pinned .design")[0].find_element(By.CLASS_NAME, "vary").click()
    page.wait.until(lambda d: len(page.all("#variations .design")) == 8)
    page.shot("4_variations", "#variations")

    page.interpolate(6)
    ends = page.js(
        "const f = document.querySelectorAll('#interpolation .design');"
        "return [f[0].design.z, f[f.length - 1].design.z, pins[0].z, pins[1].z];"
    )
    assert np.allclose(ends[0], ends[2], atol=1e-5) and np.allclose(ends[1], ends[3], atol=1e-5)
    page.shot("5_interpolation", "#interpolation")

    page.all("#pinned .design")[0].find_element(By.CLASS_NAME, "png").click()
    png = page.downloaded("pin_1.png")
    [again] = generate(parse([f"ckpt_path={ckpt}", f"latents={png}", f"out_dir={tmp_path / 'generated'}"]))
    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(again)))

    page.one("#zip").click()
    assert page.downloaded("designs.zip").stat().st_size > 1000

    seed = page.one("#seed")
    seed.clear()
    seed.send_keys("12abc")
    page.one("#draw").click()
    error = page.one("#error")
    page.wait.until(lambda d: error.is_displayed())
    assert error.text == "seed must be a whole number from 0 to 4294967295, not '12abc'"
    assert len(page.all("#page .design")) == 16  # the page stays as it was
    page.shot("6_bad_seed")


def test_steer_name_export_and_redraw(browser, studio_url, tmp_path):  # ~15 s (directions computed here)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, ckpt = studio_url
    page = Page(browser, url, tmp_path)
    page.wait.until(lambda d: "style directions" in page.one("#dir-status").text)
    page.all("#page .design")[3].click()
    page.wait.until(lambda d: len(page.all("#pinned .design")) == 1)
    page.one("#pinned .steer").click()
    page.wait.until(
        lambda d: len(page.all("#directions .direction")) == 8 and len(page.all(".dir-strip img")) == 40
    )
    page.wait.until(lambda d: "Steered in" in page.one("#status").text)
    strip = page.js(
        "return [...document.querySelectorAll('.direction')[0].querySelectorAll('img')].map(i => i.src)"
    )
    assert len({s for s in strip}) == 5  # five different previews, -2 sigma .. +2 sigma
    page.shot("steer_1_directions", "#steer-panel")

    name = page.all(".dir-name")[0]
    name.send_keys("heel height", Keys.TAB)  # the name is saved when the field loses focus
    page.wait.until(lambda d: "is now “heel height”" in page.one("#status").text)
    page.slide('.direction[data-index="0"] .dir-slider', 1.5)
    page.wait.until(lambda d: "heel height +1.5" in page.one("#steer-caption").text)
    page.all('.direction[data-index="2"] .dir-strip img')[0].click()  # a preview sets its slider: -2 sigma
    page.wait.until(lambda d: "direction 3 -2" in page.one("#steer-caption").text)
    page.shot("steer_2_named_and_moved", "#steer-panel")

    page.one("#steer-pin").click()
    page.wait.until(lambda d: len(page.all("#pinned .design")) == 2)
    assert "heel height +1.5, direction 3 -2" in page.texts("#pinned .design figcaption")[1]
    page.shot("steer_3_pinned")
    page.one("#zip").click()
    with zipfile.ZipFile(page.downloaded("designs.zip")) as archive:
        archive.extractall(tmp_path / "set")
    latents = json.loads((tmp_path / "set" / "latents.json").read_text())
    steered = latents["designs"][1]
    assert steered["steps"] == [
        {"direction": 0, "sigma": 1.5, "name": "heel height"},
        {"direction": 2, "sigma": -2.0, "name": ""},
    ]
    assert [(d["index"], d["name"]) for d in latents["directions"]] == [(0, "heel height"), (2, "")]
    written = generate(
        parse(
            [f"ckpt_path={ckpt}", f"latents={tmp_path / 'set' / 'latents.json'}", f"out_dir={tmp_path / 'g'}"]
        )
    )
    for path in written:  # the steered design too, pixel for pixel
        assert np.array_equal(
            np.asarray(Image.open(path)), np.asarray(Image.open(tmp_path / "set" / path.name))
        )
    assert not np.array_equal(*(np.asarray(Image.open(p)) for p in written))
    page.all("#pinned .design")[1].find_element(By.CLASS_NAME, "png").click()
    assert np.array_equal(
        np.asarray(Image.open(page.downloaded("pin_1_steered.png"))),
        np.asarray(Image.open(tmp_path / "set" / "pin_1_steered.png")),
    )


def test_truncation_trades_variety_for_typical_designs(browser, studio_url, tmp_path):  # ~10 s
    url, ckpt = studio_url
    page = Page(browser, url, tmp_path)
    spread = {}
    for psi in ("0.5", "1.0"):
        page.slide("#psi", psi)
        assert page.one("#psi-value").text == f"{float(psi):.2f}"
        page.wait.until(
            lambda d, psi=psi: (
                page.js("return [...document.querySelectorAll('#page .design')].map(f => f.design.psi)")
                == [float(psi)] * 16
            )
        )
        page.wait.until(lambda d: "drawn in" in page.one("#status").text)
        page.shot(f"truncation_{psi}")
        images = [
            image_of(s) for s in page.js("return [...document.querySelectorAll('#page img')].map(i => i.src)")
        ]
        spread[psi] = np.std(np.stack(images).astype(float), axis=0).mean()
    assert all("variety" not in c for c in page.texts("#page .design"))  # variety 1 is not shown
    assert spread["0.5"] < spread["1.0"]
    page.slide("#psi", "0.5")
    page.wait.until(lambda d: all("variety 0.5" in c for c in page.texts("#page .design")))
    generate(
        parse(
            [
                f"ckpt_path={ckpt}",
                "seed=0",
                "num_images=16",
                "psi=0.5",
                "individual=true",
                f"out_dir={tmp_path}",
            ]
        )
    )
    first = page.js("return document.querySelector('#page img').src")
    assert np.array_equal(image_of(first), np.asarray(Image.open(tmp_path / "images" / "00000.png")))


def test_start_from_a_photo_then_vary_it(browser, studio_url, shoes, tmp_path):  # ~15 s
    from selenium.webdriver.common.by import By

    url, _ = studio_url
    page = Page(browser, url, tmp_path)
    page.one("#photo").send_keys(str(shoes / PHOTO))
    page.wait.until(lambda d: page.one("#photo-progress").is_displayed())
    page.wait.until(lambda d: "Pinned as “photo 1”" in page.one("#photo-status").text)
    assert page.one("#photo-target").get_attribute("src").startswith("data:image/png")
    assert page.js("return document.querySelector('#pinned .pin-name').value") == "photo 1"
    page.shot("photo_1_found")
    page.all("#pinned .design")[0].find_element(By.CLASS_NAME, "vary").click()
    page.wait.until(lambda d: len(page.all("#variations .design")) == 8)
    page.shot("photo_2_varied", "#variations")
    page.all("#pinned .design")[0].find_element(By.CLASS_NAME, "steer").click()
    page.wait.until(lambda d: len(page.all(".dir-strip img")) == 40)
    page.shot("photo_3_steered", "#steer-panel")

    (tmp_path / "notes.jpg").write_text("not a photo at all")
    Image.new("RGB", (300, 100), "white").save(tmp_path / "banner.png")
    for file, sentence in (
        ("notes.jpg", "not an image the studio can read"),
        ("banner.png", "300x100, 3.0:1"),
    ):
        page.one("#photo").send_keys(str(tmp_path / file))
        page.wait.until(
            lambda d, s=sentence: s in page.one("#error").text and s in page.one("#photo-status").text
        )
    page.shot("photo_4_bad_upload")
    assert len(page.all("#pinned .design")) == 1  # nothing pinned from a bad file


def test_nearest_training_images_of_a_pin(browser, folder_url, studio_url, tmp_path):  # ~10 s
    page = Page(browser, folder_url, tmp_path)
    page.all("#page .design")[2].click()
    page.wait.until(lambda d: len(page.all("#pinned .design")) == 1)
    page.one("#pinned .nearest").click()
    page.wait.until(lambda d: len(page.all("#nearest .neighbour")) == 6)
    captions = page.texts("#nearest .neighbour figcaption")
    assert [c.split(" · ")[0] for c in captions] == [f"#{k}" for k in range(1, 7)]
    distances = [float(c.split("distance ")[1]) for c in captions]
    assert distances == sorted(distances) and distances[0] > 0
    titles = page.js("return [...document.querySelectorAll('#nearest .neighbour')].map(f => f.title)")
    assert all(t.startswith("training image ") and t.endswith(".jpg") for t in titles)  # the shoe's file
    assert page.js("return document.querySelector('#nearest .query img').src") == page.js(
        "return pins[0].src"
    )
    status, details = page.one("#nearest-status").text, page.one("#nearest-status").get_attribute("title")
    assert status.startswith("pin 1: ") and "selfsup" not in status
    assert "new real photos (the 37 held-out images, never trained on) are typically" in status
    assert "self-supervised encoder selfsup-" in details and "training photos indexed in" in details
    page.shot("nearest_1_shoes", "#nearest")

    page = Page(browser, studio_url[0], tmp_path)  # synthetic data, FID off: no encoder was ever cached
    page.all("#page .design")[0].click()
    page.wait.until(lambda d: len(page.all("#pinned .design")) == 1)
    page.one("#pinned .nearest").click()
    page.wait.until(lambda d: "No self-supervised encoder is cached" in page.one("#nearest-status").text)
    assert (
        "the run had FID off" in page.one("#error").text and "build_encoder=true" in page.one("#error").text
    )
    assert page.all("#nearest .neighbour") == []
    page.shot("nearest_2_no_encoder", "#nearest-status")


def visible_text(page) -> str:
    return page.js("return document.body.innerText")


def test_first_visit_words_and_the_how_to_use(browser, studio_url, tmp_path):  # ~5 s
    page = Page(browser, studio_url[0], tmp_path, first_visit=True)
    assert page.one("#help").is_displayed() and "How to use the studio" in page.one("#help").text
    page.shot("words_1_first_visit")
    text = visible_text(page)
    for words in ("Variety", "Style directions", "Similar training photos", "Start from a photo"):
        assert words in text, words
    for jargon in ("ψ", "σ", "GANSpace", "gaussian", "latent", "selfsup", "principal"):
        assert jargon not in text, jargon  # in the tooltips only
    tips = " ".join(page.js("return [...document.querySelectorAll('[title]')].map(e => e.title)"))
    for term in ("truncation ψ", "0 draws that one average design", "principal directions", "GANSpace"):
        assert term in tips, term
    assert "nearest training images" in tips and "gaussian prior, 100-d latent" in tips
    page.slide("#psi", 0)
    page.wait.until(lambda d: "every tile is the model's one average design" in page.one("#psi-note").text)
    page.one("#help-close").click()
    assert not page.one("#help").is_displayed()
    browser.refresh()
    page.wait.until(lambda d: len(page.all("#page .design")) == 16)
    assert not page.one("#help").is_displayed()  # once is enough; "How to use" brings it back
    assert page.one("#psi-value").text == "0.00"  # the page's settings are kept too
    page.one("#help-open").click()
    assert page.one("#help").is_displayed()


def test_pins_survive_a_reload_until_cleared_and_a_long_strip_scrolls_alone(browser, studio_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, ckpt = studio_url
    page = Page(browser, url, tmp_path)  # ~15 s
    for i in (1, 4, 6):
        page.all("#page .design")[i].click()
    page.wait.until(lambda d: len(page.all("#pinned .design")) == 3)
    page.all("#page .design")[6].click()  # a pinned design, clicked again, is unpinned: no border left
    page.wait.until(lambda d: len(page.all("#pinned .design")) == 2)
    assert page.js(
        "return [...document.querySelectorAll('#page .design')].map(f => f.classList.contains('pinned'))"
    ) == [i in (1, 4) for i in range(16)]
    page.one("#pinned .pin-name").send_keys(Keys.CONTROL, "a")  # clear() would fire a change first
    page.one("#pinned .pin-name").send_keys("red boot", Keys.TAB)
    page.wait.until(lambda d: page.js("return pins[0].name") == "red boot")
    page.draw(7)
    page.interpolate(32)
    layout = page.js(
        "const box = (id) => document.getElementById(id).getBoundingClientRect();"
        "const strip = document.getElementById('interpolation');"
        "return {page: document.documentElement.scrollWidth, window: innerWidth, drop: box('drop').right,"
        " pinned: box('pinned').right, strip: strip.scrollWidth, shown: strip.clientWidth};"
    )
    assert layout["page"] <= layout["window"] and max(layout["drop"], layout["pinned"]) <= layout["window"]
    assert layout["strip"] > 3 * layout["shown"]  # 32 designs in their own scrolling box
    page.shot("reload_1_interpolation_32", "#interpolation")
    before = page.js("return pins.map(p => [p.name, p.src])")

    browser.get(url.split("?")[0])  # a reload, without the token: the cookie carries it
    page.wait.until(
        lambda d: len(page.all("#pinned .design")) == 2 and "drawn in" in page.one("#status").text
    )
    assert page.js("return pins.map(p => [p.name, p.src])") == before
    assert (
        page.one("#seed").get_attribute("value") == "7" and page.one("#steps").get_attribute("value") == "32"
    )
    page.wait.until(lambda d: "style directions ready" in page.one("#dir-status").text)  # not "found in 5 s"
    page.shot("reload_2_kept")
    page.all("#pinned .design")[0].find_element(By.CLASS_NAME, "png4").click()
    big = Image.open(page.downloaded("red_boot_4x.png"))
    [again] = generate(parse([f"ckpt_path={ckpt}", f"latents={big.filename}", f"out_dir={tmp_path / 'g'}"]))
    small = Image.open(again)
    assert big.size == (4 * small.width, 4 * small.height)
    lanczos = small.resize(big.size, Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(big), np.asarray(lanczos))
    page.one("#zip").click()
    with zipfile.ZipFile(page.downloaded("designs.zip")) as archive:
        assert sorted(archive.namelist()) == ["latents.json", "pin_2.png", "red_boot.png"]

    page.one("#clear").click()
    browser.switch_to.alert.accept()
    page.wait.until(lambda d: len(page.all("#pinned .design")) == 0)
    browser.refresh()
    page.wait.until(lambda d: "drawn in" in page.one("#status").text)
    assert page.all("#pinned .design") == [] and page.one("#pin-count").text == "0"


def test_a_photo_unlike_the_models_designs_is_pinned_with_a_warning(browser, studio_url, faces, tmp_path):
    url, _ = studio_url
    page = Page(browser, url, tmp_path)  # ~20 s: two searches, and the model's own designs searched once
    page.all("#page .design")[2].click()
    page.wait.until(lambda d: len(page.all("#pinned .design")) == 1)
    page.one("#pinned .png").click()
    page.one("#photo").send_keys(str(page.downloaded("pin_1.png")))  # a design the model made itself
    page.wait.until(lambda d: "Pinned as “photo 1”" in page.one("#photo-status").text)
    assert (
        "match (distance" in page.one("#photo-status").text and not page.one("#photo-warning").is_displayed()
    )
    face = sorted(faces.glob("*.jpg"))[0]
    page.one("#photo").send_keys(str(face))
    page.wait.until(lambda d: "Pinned as “photo 2”" in page.one("#photo-status").text)
    warning = page.one("#photo-warning")
    assert warning.is_displayed() and warning.text.startswith("Far from anything this model makes")
    assert page.js("return pins.map(p => Boolean(p.far))") == [False, False, True]
    assert "far" in page.all("#pinned .design")[2].get_attribute("class")
    page.shot("photo_5_far_warning", "#drop")
