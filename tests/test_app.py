"""Tests for kind_tf.app: the enhancement behind the page, bad uploads, and the page itself in
headless Chromium (upload, light level, auto, download), against `KinD.enhance`."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT
from kind_tf import KinD, Ratio, image_io, outputs
from kind_tf.errors import UserError

pytest.importorskip("gradio", reason="the app's requirements: pip install -r requirements-app.txt")
from kind_tf import app  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"  # Debian's packages


@pytest.fixture(scope="module")
def model():
    return KinD.from_checkpoint()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A small dark RGB photo (scikit-image's cat at a fifth of its light), its 16-bit
    grayscale version, and a file named like a PNG that is no image."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    dark = (data.chelsea()[100:196, 150:278] * 0.2).astype(np.uint8)
    Image.fromarray(dark).save(folder / "cat.png")
    gray = Image.fromarray(dark).convert("L")
    Image.fromarray(np.asarray(gray, np.uint16) * 257 + 3).save(folder / "gray16.png")
    (folder / "notes.png").write_bytes(b"not an image")
    return folder


def expected(path, model, ratio, denoise=True):
    """`kind_tf.enhance`'s 8-bit result of photo `path`."""
    final = model.enhance(image_io.load_image(str(path))[None], ratio, denoise)
    return outputs.to_uint8(final.numpy()[0])


def test_enhance_photo_is_kind_tf_enhance_of_the_file(photos, model):
    pixels = image_io.read_rgb(photos / "cat.png")
    for ratio, denoise in ((3.0, True), (1.5, False)):
        result, used = app.enhance_photo(pixels, model, ratio, denoise=denoise)
        assert result.dtype == np.uint8 and used == ratio
        np.testing.assert_array_equal(result, expected(photos / "cat.png", model, ratio, denoise))
    result, used = app.enhance_photo(pixels, model, 5.0, auto=True, target_brightness=0.5)
    image = image_io.load_image(str(photos / "cat.png"))[None]
    assert used == pytest.approx(Ratio("auto", 0.5).resolve(model, image))
    assert used != 5.0
    np.testing.assert_array_equal(result, expected(photos / "cat.png", model, used))


def test_read_photo_converts_as_load_image_and_says_so(photos):
    pixels, note = app.read_photo(str(photos / "cat.png"), 50)
    assert note is None
    np.testing.assert_array_equal(pixels, image_io.read_rgb(photos / "cat.png"))
    pixels, note = app.read_photo(str(photos / "gray16.png"), 50)
    assert note == ("'gray16.png' is a 16-bit grayscale image: enhanced as 8-bit RGB, as "
                    "kind_tf.enhance does")
    np.testing.assert_array_equal(pixels, image_io.read_rgb(photos / "gray16.png"))
    assert pixels.shape == (96, 128, 3) and pixels.dtype == np.uint8


def test_read_photo_refuses_non_images_and_huge_photos_by_their_name(photos):
    with pytest.raises(UserError) as error:
        app.read_photo(str(photos / "notes.png"), 50)
    assert str(error.value).startswith("cannot read image 'notes.png': ")
    assert str(photos) not in str(error.value)  # not the server's temporary folder
    with pytest.raises(UserError, match=r"^'cat.png' has 0.0 megapixels \(128 x 96\); this "
                       r"app takes at most 0.01: use python -m kind_tf.enhance"):
        app.read_photo(str(photos / "cat.png"), 0.01)


def free_port():
    with socket.socket() as probe:
        probe.bind((app.HOST, 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python -m kind_tf.app` on a free port, as a user starts it; its URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("app") / "app.log"
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "kind_tf.app", f"--port={port}"],
                                   cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{app.HOST}:{port}/"
    deadline = time.monotonic() + 300
    try:
        while True:
            assert process.poll() is None, f"the app exited: {log_path.read_text()}"
            assert time.monotonic() < deadline, f"the app did not start: {log_path.read_text()}"
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                time.sleep(1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture()
def browser(tmp_path):
    """Headless Chromium that saves downloads to `tmp_path / "downloads"`."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("apt-get install chromium chromium-driver (.ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium_profile_")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option("prefs", {
        "download.default_directory": str(tmp_path / "downloads"),
        "download.prompt_for_download": False,
    })
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """The app's page in `driver`: its controls by the app's elem_ids."""

    def __init__(self, driver, url):
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        driver.get(url)
        self.wait = WebDriverWait(driver, 120, poll_frequency=0.2)
        self.wait.until(lambda _: self.find("#upload input[type=file]"))

    def find(self, selector):
        found = self.driver.find_elements("css selector", selector)
        return found[0] if found else None

    def text(self, element_id):
        return self.find(f"#{element_id}").text

    def result_src(self):
        image = self.find("#enhanced img")
        return image.get_attribute("src") if image else None

    def upload(self, path):
        self.find("#upload input[type=file]").send_keys(str(path))

    def clear_upload(self):
        self.find("#upload button[aria-label=Clear]").click()
        self.wait.until(lambda _: self.find("#upload input[type=file]"))

    def toast(self, words):
        """Waits for a message box holding `words`; its text."""
        def shown(_):
            return next((toast.text for toast in self.driver.find_elements(
                "css selector", "[data-testid=toast-body]") if words in toast.text), None)
        return self.wait.until(shown)

    def new_result(self, old_src):
        """Waits for an enhanced image other than `old_src`; its 8-bit pixels."""
        src = self.wait.until(lambda _: (src := self.result_src()) and src != old_src and src)
        with urllib.request.urlopen(src, timeout=30) as response:
            return src, read_png(response)


def read_png(file):
    with Image.open(file) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def assert_close(result, reference):
    assert result.shape == reference.shape
    assert np.abs(result.astype(int) - reference.astype(int)).max() <= 1


@pytest.mark.slow
def test_page_enhances_uploads_at_the_light_level_and_downloads(server, browser, photos, model,
                                                                 tmp_path):
    page = Page(browser, server)

    # Not an image: a message in the page, the upload box empty again, the server alive.
    page.upload(photos / "notes.png")
    assert "cannot read image 'notes.png'" in page.toast("notes.png")
    assert "Traceback" not in browser.page_source
    page.wait.until(lambda _: page.find("#upload input[type=file]"))

    # 16-bit grayscale: converted as kind_tf.enhance converts files, and said so.
    page.upload(photos / "gray16.png")
    assert "16-bit grayscale" in page.toast("gray16.png")
    src, result = page.new_result(None)
    assert_close(result, expected(photos / "gray16.png", model, 5.0))
    assert page.text("status").startswith("light level 5.00, 128 x 96 px")

    # An RGB photo, then the light level moved to 3.0 (typed into the slider's box).
    page.clear_upload()
    page.upload(photos / "cat.png")
    src, result = page.new_result(src)
    assert_close(result, expected(photos / "cat.png", model, 5.0))
    from selenium.webdriver.common.keys import Keys

    box = page.find("#level input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("3", Keys.TAB)  # the slider's release: leaving the box
    src, result = page.new_result(src)
    assert_close(result, expected(photos / "cat.png", model, 3.0))
    assert page.text("status").startswith("light level 3.00,")
    browser.save_screenshot(str(tmp_path / "app.png"))

    # The download is the result shown, as <name>_kindle.png.
    page.find("#download").click()
    download = tmp_path / "downloads" / "cat_kindle.png"
    page.wait.until(lambda _: download.exists())
    assert_close(read_png(download), result)

    # auto: the light level from the photo, as --ratio auto.
    page.find("#auto input").click()
    src, result = page.new_result(src)
    image = image_io.load_image(str(photos / "cat.png"))[None]
    ratio = Ratio("auto").resolve(model, image)
    assert_close(result, expected(photos / "cat.png", model, ratio))
    assert page.text("status").startswith(f"light level {ratio:.2f} (auto),")
    assert page.find("#level input[type=range]").get_attribute("disabled") is not None
