"""The whole KinD training recipe in one command: the three stages, then the shipped weights.

    python -m kind_tf.recipe --data_dir ~/data/LOL --run_dir ~/kind_runs/reference

trains the three stages (`stages.STAGES`) in that order, in this process, as
`train_decom.py`, `train_restoration.py` and `train_adjustment.py` would with the
reference loop's defaults (patch 48, batch 10, lr / 10 every 500 epochs; 2000 / 1000 / 2000
epochs), each stage's checkpoints, samples and TensorBoard logs under `--run_dir`. Each
stage's final weights go to `--out_dir` (float32, no optimizer state) as soon as the stage
ends, with `record.json`: the commit and command of every stage run, epochs, precision, device
and wall time. At the end it measures the `--ratio auto` target on the held-out our485 pairs
(`heldout_slice`), evaluates the weights on those pairs (what runs are compared on) and then
on eval15 (`evaluate.py`'s protocols), and adds all of it to the record. Re-running resumes:
finished stages are skipped, an unfinished one continues from its last checkpoint (the
scripts' own resume).

`--epoch_scale` shortens the whole schedule in proportion (epochs and the lr step alike),
for hosts that cannot run the defaults in one sitting.
"""

import contextlib
import datetime
import gc
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import time

import keras
import tensorflow as tf
from absl import flags, logging

from kind_tf import (checkpoints, cli, evaluation, image_io, kind, lol_pairs, models, outputs,
                     stages, train, train_config, training)
from kind_tf.errors import UserError

FLAGS = flags.FLAGS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The reference loop's lr step (`--decay_every`'s default).
DECAY_EVERY = 500
# The run's settings: a resumed run must use the same ones.
SETTINGS_KEYS = ("epoch_scale", "precision", "seed", "data_dir", *train.DECOM_FLAGS,
                 "exclude_pairs")
OPTION_DEFAULTS = {"illumination_prior_weight": 0.0, "illumination_prior_epochs": 0,
                   "illumination_prior_weight_after": 0.0, "illumination_prior_offset": 0.0,
                   "exclude_pairs": None}
RECORD_NAME = "record.json"
STATE_NAME = "recipe_state.json"
LOG_NAME = "recipe.log"


def define_flags():
    """The recipe's flags (defined when it runs: the scripts share some of the names)."""
    flags.DEFINE_string("data_dir", None, "LOL folder holding our485/ and eval15/.")
    flags.DEFINE_string("run_dir", None, "The run's folder (checkpoints with optimizer state, "
                        "samples, logs, recipe.log); keep it outside the repository. Re-running "
                        "with the same folder resumes.")
    flags.DEFINE_string("out_dir", checkpoints.PRETRAINED_DIR, "Where the final float32 weights "
                        "and record.json go (default: the repository's pretrained/).")
    flags.DEFINE_float("epoch_scale", 1.0, "Multiply every stage's epochs and the lr step (500) "
                       "by this: 0.2 gives 400 / 200 / 400 epochs with lr / 10 every 100.")
    flags.DEFINE_enum("precision", "fp32", sorted(models.PRECISIONS), "Training precision of "
                      "every stage (see train_decom.py --help); the shipped weights are float32.")
    flags.DEFINE_integer("seed", 0, "Seed of every stage.")
    train.define_decom_flags()  # Passed to stage 1.
    flags.DEFINE_string("exclude_pairs", None, "Passed to every stage (see train_decom.py "
                        "--help): pairs to leave out of training.")
    flags.mark_flags_as_required(["data_dir", "run_dir"])


def schedule(epoch_scale):
    """[(`stages.StageSpec`, epochs)] and the lr step of the reference loop scaled by
    `epoch_scale`."""
    if not epoch_scale > 0:
        raise UserError(f"--epoch_scale must be positive, got {epoch_scale}")
    scaled = [(spec, max(1, round(spec.default_epochs * epoch_scale))) for spec in stages.STAGES]
    return scaled, max(1, round(DECAY_EVERY * epoch_scale))


def stage_flags(spec, epochs, decay_every, run_dir, settings):
    """{flag: value}: the training flags of one stage of the run (`kind_tf.train`'s)."""
    values = {
        "data_dir": settings["data_dir"],
        "ckpt_dir": os.path.join(run_dir, "checkpoint"),
        "sample_dir": os.path.join(run_dir, "samples"),
        "tensorboard_dir": os.path.join(run_dir, "logs"),
        "epochs": epochs, "decay_every": decay_every,
        "precision": settings["precision"], "seed": settings["seed"],
    }
    if settings.get("exclude_pairs"):
        values["exclude_pairs"] = settings["exclude_pairs"]
    if spec.name == "decom" and settings.get("illumination_prior_weight"):
        values.update({name: settings[name] for name in train.DECOM_FLAGS})
    return values


def stage_command(spec, values):
    """The command line of the stage's script that trains as `values` (`stage_flags`) do."""
    return [spec.script, *(f"--{name}={value}" for name, value in values.items())]


def trained_epoch(folder):
    """The epoch of the latest checkpoint in `folder` (the loop numbers them by epoch), or 0."""
    latest = os.path.isdir(folder) and tf.train.latest_checkpoint(folder)
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def git_commit():
    """(commit, tracked files modified since it) of the repository the recipe runs from;
    ("unknown", None) outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, check=True,
                                capture_output=True, text=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown", None
    return commit, [line[3:] for line in status.stdout.splitlines()]


def cpu_description():
    """CPU model, cores and the vector features that decide TensorFlow's CPU kernels."""
    model, flags_line = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name") and not flags_line:
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags_line = line
                    break
    except OSError:
        pass
    features = [name for name in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
                if f" {name}" in flags_line]
    return f"{model}, {os.cpu_count()} cores" + (f", {' '.join(features)}" if features else "")


def host_description():
    """The CPU (`cpu_description`), or the GPU: where a stage ran."""
    device = cli.configure_device()
    cpu = cpu_description()
    return cpu if device == "CPU" else f"{device}; host {cpu}"


class Log:
    """Prints to the terminal and appends to `<run_dir>/recipe.log`."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1)

    def __call__(self, line=""):
        print(line, flush=True)
        self.file.write(line + "\n")


class _Tee(io.TextIOBase):
    """A stream writing to `stream` and to the log file `file` alike."""

    def __init__(self, stream, file):
        super().__init__()
        self.stream, self.file = stream, file

    def write(self, text):
        self.stream.write(text)
        self.file.write(text)
        return len(text)

    def flush(self):
        self.stream.flush()
        self.file.flush()

    def isatty(self):
        # Progress as a line per epoch, which the log file can hold.
        return False


def run_stage(spec, values, log):
    """Trains one stage in this process as its script would with the flags `values`, its
    output also going to the log; returns the wall seconds."""
    log(f"$ {' '.join(stage_command(spec, values))}")
    start = time.monotonic()
    try:
        with contextlib.redirect_stdout(_Tee(sys.stdout, log.file)), \
                contextlib.redirect_stderr(_Tee(sys.stderr, log.file)):
            training.run(spec.build, train_config.make_config(spec.original, **values))
    except UserError as error:
        raise UserError(f"{spec.script} failed: {error}; see {log.file.name}. Re-run the "
                        "recipe to resume") from None
    finally:
        # The next stage starts from a clean slate: nothing of this one's graphs and
        # datasets stays in memory.
        keras.backend.clear_session()
        gc.collect()
    return time.monotonic() - start


def export_weights(spec, ckpt_root, out_dir):
    """Copies the stage's trained weights (float32, no optimizer state) to `out_dir`.

    Written to a temporary folder first and swapped in, so `out_dir` never holds half a net.
    """
    net = spec.net_class()
    checkpoints.load_net(net, ckpt_root)
    folder = checkpoints.net_folder(out_dir, net)
    temporary = f"{folder}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    checkpoints.save_weights(net, temporary, max_to_keep=1)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(temporary, folder)
    return folder


def load_state(run_dir, settings):
    """The run's state (settings, per stage the runs so far); refuses other settings."""
    path = os.path.join(run_dir, STATE_NAME)
    if not os.path.exists(path):
        return {"settings": settings, "stages": {}}
    with open(path) as file:
        state = json.load(file)
    # A run started before the options existed ran without them.
    state["settings"] = {**OPTION_DEFAULTS, **state["settings"]}
    if state["settings"] != settings:
        differ = [key for key in SETTINGS_KEYS if state["settings"].get(key) != settings[key]]
        raise UserError(
            f"--run_dir '{run_dir}' was started with other settings ("
            + ", ".join(f"--{key} {state['settings'].get(key)}" for key in differ)
            + "): pass the same ones to resume, or another --run_dir"
        )
    return state


def stage_record(spec, epochs, decay_every, runs):
    """The record of one finished stage: what trained it, where and how long."""
    return {
        "net": spec.net_class().name, "script": spec.script, "epochs": epochs,
        "schedule": f"reference loop: patch 48, batch 10, lr 1e-4 x 0.1 every {decay_every} "
                    "epochs",
        "runs": runs, "wall_seconds": round(sum(run["wall_seconds"] for run in runs), 1),
    }


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments {' '.join(argv[1:])}: see --help")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # As the training scripts: no TF chatter.
    run_dir, out_dir = os.path.abspath(FLAGS.run_dir), os.path.abspath(FLAGS.out_dir)
    if run_dir == out_dir or run_dir.startswith(out_dir + os.sep):
        raise UserError(f"--run_dir '{run_dir}' must not be inside --out_dir '{out_dir}'")
    for split in ("our485", "eval15"):
        if not os.path.isdir(os.path.join(FLAGS.data_dir, split)):
            raise UserError(f"--data_dir '{FLAGS.data_dir}' has no {split}/ folder: see "
                            "LOLdataset/README.md")
    settings = {"epoch_scale": FLAGS.epoch_scale, "precision": FLAGS.precision,
                "seed": FLAGS.seed, "data_dir": os.path.abspath(FLAGS.data_dir),
                **{name: FLAGS[name].value for name in train.DECOM_FLAGS},
                "exclude_pairs": FLAGS.exclude_pairs and os.path.abspath(FLAGS.exclude_pairs)}
    run(settings, run_dir, out_dir, "python -m kind_tf.recipe " + " ".join(sys.argv[1:]))


def run(settings, run_dir, out_dir, command):
    """Runs (or resumes) the recipe with `settings` (the run's `SETTINGS_KEYS`) in `run_dir`,
    shipping to `out_dir`; `command` is recorded as the command that ran it."""
    planned, decay_every = schedule(settings["epoch_scale"])
    outputs.make_output_dir(run_dir, "--run_dir")
    outputs.make_output_dir(out_dir, "--out_dir")
    state = load_state(run_dir, settings)
    log = Log(os.path.join(run_dir, LOG_NAME))
    host = host_description()
    ckpt_root = os.path.join(run_dir, "checkpoint")
    log(f"recipe {datetime.datetime.now().isoformat(timespec='seconds')}: "
        + ", ".join(f"{spec.script} {epochs} epochs" for spec, epochs in planned)
        + f", lr / 10 every {decay_every}, {settings['precision']}, on {host}")

    record = {"command": command, "settings": settings, "stages": []}
    for spec, epochs in planned:
        net_name = spec.net_class().name
        runs = state["stages"].setdefault(net_name, [])
        done = trained_epoch(os.path.join(ckpt_root, spec.folder))
        if done < epochs:
            values = stage_flags(spec, epochs, decay_every, run_dir, settings)
            commit, modified = git_commit()
            started = datetime.datetime.now().isoformat(timespec="seconds")
            seconds = run_stage(spec, values, log)
            runs.append({"started": started, "from_epoch": done, "to_epoch": epochs,
                         "wall_seconds": round(seconds, 1), "commit": commit, "modified": modified,
                         "device": host, "command": " ".join(stage_command(spec, values))})
            outputs.write_json(os.path.join(run_dir, STATE_NAME), state)
        else:
            log(f"{spec.script}: trained to epoch {done}, skipped")
        folder = export_weights(spec, ckpt_root, out_dir)
        record["stages"].append(stage_record(spec, epochs, decay_every, runs))
        outputs.write_json(os.path.join(out_dir, RECORD_NAME), record)
        log(f"{net_name}: float32 weights in {folder}")

    model = kind.KinD.from_checkpoint(out_dir)
    train_set = lol_pairs.list_pairs(os.path.join(settings["data_dir"], "our485"))
    heldout = heldout_slice(len(train_set))
    # (record key, split folder, pairs): the held-out pairs go first when there are any.
    target, evaluations = kind.AUTO_TARGET_BRIGHTNESS, [("eval15", "eval15", slice(None))]
    if heldout is None:
        log(f"no held-out pairs: every our485 pair is trained on; --ratio auto target {target}")
    else:
        target = heldout_target_brightness(train_set[heldout], model)
        record["auto_target_brightness"] = target
        log(f"--ratio auto target: {target:.4f}, the mean illumination of the held-out ground "
            f"truths (our485 [{evaluation.selection_text(heldout)}])")
        evaluations.insert(0, ("heldout", "our485", heldout))
    for key, split, selection in evaluations:
        log(f"evaluating the weights on {split}[{evaluation.selection_text(selection)}]")
        report = evaluation.evaluate(
            model, os.path.join(settings["data_dir"], split), os.path.join(run_dir, split),
            kind.Ratio("gt", target), selection,
            details={"ckpt": "pretrained/", "precision": "fp32"}, verbose=2,
        )
        record[key] = {
            "mean": report["mean"],
            **{name: variant["mean"] for name, variant in report["variants"].items()},
            "images": report["images"], "protocol": report["protocol"]}
        outputs.write_json(os.path.join(out_dir, RECORD_NAME), record)
        log(evaluation.format_table(report))
    log(f"record: {os.path.join(out_dir, RECORD_NAME)}")


def heldout_slice(count):
    """The slice of a training set of `count` pairs that neither the restoration nor the
    adjustment net trains on (`lol_pairs.split` with their defaults; the DecomNet, as the
    original's, trains on all): LOL's our485 [466:485]. The recipe's results are compared and
    chosen on these, never on eval15. None when every pair is trained on."""
    pairs = range(count)
    trained = max(len(lol_pairs.split(pairs, None, spec.num_samples, spec.train_pairs)[0])
                  for spec in stages.STAGES if spec.train_pairs is not None)
    return slice(trained, None) if trained < count else None


def heldout_target_brightness(pairs, model):
    """The --ratio auto target of a KinD's DecomNet: the mean decomposed illumination
    (`kind.mean_illumination`) of the ground truths of held-out `pairs`, i.e. how bright a
    well-lit photo comes out of this DecomNet."""
    return float(sum(kind.mean_illumination(model, image_io.load_image(high)[None])
                     for _, high in pairs) / len(pairs))


if __name__ == "__main__":
    define_flags()
    cli.run(main)
