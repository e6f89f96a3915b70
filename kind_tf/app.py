"""A local web app: upload a photo, see it beside its enhanced version, set the light level,
download the result.

Usage: python -m kind_tf.app [--ckpt pretrained/] [--port 7860] [--ratio 5.0|auto]
       [--precision fp32|bf16] [--max_megapixels 50]

Needs `pip install -r requirements-app.txt` (Gradio). The page is served on 127.0.0.1 only:
photos stay on this machine. Each photo is enhanced as `kind_tf.enhance` does it (the same
conversion of grayscale, RGBA and 16-bit files, the same tiling, the same 8-bit result).
"""

import html
import logging
import os
import shutil
import sys
import tempfile
import time

import gradio as gr
from absl import flags

from kind_tf import cli, image_io, kind, net_flags, outputs
from kind_tf.errors import UserError

FLAGS = flags.FLAGS

HOST = "127.0.0.1"
# As kind_tf.enhance --tile: larger photos run through the nets in tiles, bounding memory.
TILE = 1024
# The slider's range: the original suggests light levels 0-5 and uses 5.0.
RATIO_MAX = 5.0
# Both images are shown fitted into this height (px), side by side; fullscreen shows more.
IMAGE_HEIGHT = 420
# Gradio keeps a copy of every image it shows; copies older than an hour go, checked hourly,
# so that a long session of slider moves on large photos does not fill the disk.
CACHE_LIFETIME_S = 3600

MODE_NAMES = {
    "1": "black and white", "L": "grayscale", "LA": "grayscale with alpha", "P": "palette",
    "RGBA": "RGBA", "CMYK": "CMYK", "YCbCr": "YCbCr", "I": "32-bit grayscale",
    "F": "floating-point grayscale",
}


def define_flags():
    net_flags.define()
    net_flags.define_ratio("5.0")
    flags.adopt_module_key_flags(net_flags)
    flags.adopt_module_key_flags(cli)
    flags.DEFINE_integer("port", 7860, "Port of the page, http://127.0.0.1:PORT.")
    flags.DEFINE_float(
        "max_megapixels", 50, "Larger uploads are refused. Tiled enhancement needs about "
        "0.3 GiB of memory per megapixel (a 50 MP photo about 14 GiB)."
    )


def read_photo(path, max_megapixels):
    """(uint8 RGB pixels, a note or None) of uploaded file `path`, as `image_io.load_image`
    converts files; the note says what was converted. Raises `UserError` for a file that is
    no image Pillow reads or has more than `max_megapixels`; messages name the file by its
    name, not by the server's temporary folder."""
    name = os.path.basename(path)
    try:
        height, width, mode = image_io.image_header(path)
        if height * width > max_megapixels * 1e6:
            raise UserError(f"'{path}' has {height * width / 1e6:.1f} megapixels ({width} x "
                            f"{height}); this app takes at most {max_megapixels:g}: use "
                            "python -m kind_tf.enhance for larger photos")
        pixels = image_io.read_rgb(path)
    except UserError as error:
        raise UserError(str(error).replace(path, name)) from None
    note = None
    if mode != "RGB":
        kind = "16-bit grayscale" if mode.startswith("I;16") else MODE_NAMES.get(mode, mode)
        note = f"'{name}' is a {kind} image: enhanced as 8-bit RGB, as kind_tf.enhance does"
    return pixels, note


def enhance_photo(pixels, model, ratio, auto=False, denoise=True,
                  target_brightness=kind.AUTO_TARGET_BRIGHTNESS):
    """(the enhanced uint8 (H, W, 3) image, the ratio used) of uint8 RGB `pixels`.

    `kind_tf.enhance` on a file with these pixels: normalized as `image_io.load_image`, light
    level `ratio` or, with `auto`, ratio "auto" at `target_brightness`, tiled beyond `TILE`
    px, the original post-processing with `denoise`, truncated to 8 bits.
    """
    image = image_io.normalize_pixels(pixels)[None]
    rule = kind.Ratio("auto" if auto else ratio, target_brightness)
    ratio = rule.resolve(model, image)
    result = model.enhance(image, ratio, denoise, tile=TILE)
    return outputs.to_uint8(result.numpy()[0]), ratio


def build_app(model, work_dir, ratio=kind.Ratio(), max_megapixels=50):
    """The Gradio page around `read_photo` and `enhance_photo` with `model` (a `kind.KinD`);
    files it shows go to `work_dir` (one folder per browser session, holding only its latest
    photo and result). `ratio` (a `kind.Ratio`) sets the controls' start and the target
    brightness of "auto"."""

    def session_dir(request, part):
        folder = os.path.join(work_dir, request.session_hash, part)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        return folder

    def cleared():
        """Empty upload, photo and results (after a clear, or a refused file)."""
        return (None, None, None, None,
                gr.DownloadButton(value=None, label="Download", interactive=False), "")

    def load(path, request: gr.Request):
        try:
            pixels, note = read_photo(path, max_megapixels)
        except UserError as error:
            # One line on the console too, as kind_tf.enhance reports a skipped photo.
            print(f"refused: {error}", file=sys.stderr)
            raise gr.Error(html.escape(str(error), quote=False), print_exception=False) from None
        if note:
            gr.Warning(html.escape(note, quote=False))
        # Shown as the nets see it (converted to 8-bit RGB); PNG keeps it exact.
        shown = os.path.join(session_dir(request, "photo"), "photo.png")
        outputs.write_png(shown, pixels, outputs.PNG_FAST_COMPRESS_LEVEL)
        return (os.path.basename(path), pixels), shown

    def enhance(photo, light_level, auto, denoise, request: gr.Request):
        if photo is None:
            return gr.skip(), gr.skip(), gr.skip()
        name, pixels = photo
        start = time.perf_counter()
        result, used = enhance_photo(pixels, model, light_level, auto, denoise,
                                     ratio.target_brightness)
        path = outputs.kindle_path(name, session_dir(request, "result"))
        outputs.write_png(path, result, outputs.PNG_FAST_COMPRESS_LEVEL)
        status = (f"light level {used:.2f}{' (auto)' if auto else ''}, "
                  f"{result.shape[1]} x {result.shape[0]} px, "
                  f"{time.perf_counter() - start:.1f} s")
        return path, gr.DownloadButton(value=path, label=f"Download {os.path.basename(path)}",
                                       interactive=True), status

    auto_start = ratio.rule == "auto"
    with gr.Blocks(title="KinD low-light enhancer", analytics_enabled=False,
                   delete_cache=(CACHE_LIFETIME_S, CACHE_LIFETIME_S)) as demo:
        gr.Markdown("## KinD low-light enhancer\nUpload a dark photo; move the light level "
                    "and the result follows.")
        photo = gr.State()
        with gr.Row():
            upload = gr.File(label="Photo", file_types=["image"], type="filepath",
                             elem_id="upload", scale=2)
            with gr.Column(scale=3):
                level = gr.Slider(0, max(RATIO_MAX, 0 if auto_start else ratio.rule),
                                  RATIO_MAX if auto_start else ratio.rule, step=0.05,
                                  label="Light level (the illumination ratio; the original "
                                  "uses 5.0)", interactive=not auto_start, elem_id="level")
                with gr.Row():
                    auto = gr.Checkbox(auto_start, label="auto (from the photo's illumination)",
                                       elem_id="auto")
                    denoise = gr.Checkbox(True, label="denoise (the original post-processing)",
                                          elem_id="denoise")
        with gr.Row():
            # No share button: the page is for this machine only.
            low = gr.Image(label="Low", interactive=False, buttons=["download", "fullscreen"],
                           height=IMAGE_HEIGHT, elem_id="low")
            enhanced = gr.Image(label="Enhanced", interactive=False, height=IMAGE_HEIGHT,
                                buttons=["download", "fullscreen"], elem_id="enhanced")
        with gr.Row():
            download = gr.DownloadButton("Download", interactive=False, elem_id="download")
            status = gr.Markdown(elem_id="status")

        results = [enhanced, download, status]
        controls = [photo, level, auto, denoise]
        # One enhancement at a time across all sessions and controls (memory); a burst of
        # changes runs the newest only.
        options = dict(concurrency_id="enhance", concurrency_limit=1,
                       trigger_mode="always_last")
        everything = [upload, photo, low, *results]
        loaded = upload.upload(load, upload, [photo, low])
        loaded.success(enhance, controls, results, **options)
        loaded.failure(cleared, None, everything)
        upload.clear(cleared, None, everything)
        level.release(enhance, controls, results, **options)
        denoise.input(enhance, controls, results, **options)
        auto.input(lambda on: gr.Slider(interactive=not on), auto, level).then(
            enhance, controls, results, **options)
    return demo


def main(argv):
    del argv
    ratio = net_flags.parse_ratio(FLAGS.ratio, FLAGS.target_brightness)
    print(f"device: {cli.configure_device()}")
    model = net_flags.load_model()
    # absl shows INFO logs; Gradio's HTTP requests to its own page are not news.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="kind_app_") as work_dir:
        demo = build_app(model, work_dir, ratio, FLAGS.max_megapixels)
        try:
            demo.launch(server_name=HOST, server_port=FLAGS.port)
        except OSError as error:  # the port is taken
            raise UserError(f"--port {FLAGS.port}: {error}") from None


if __name__ == "__main__":
    define_flags()
    cli.run(main)
