"""`keras-regkit` command line: the regularization lab.

    keras-regkit lab                       # default recipes on digits
    keras-regkit lab --seeds 5 -v          # more seeds, a line per epoch
    keras-regkit lab --recipes l2,dropout --epochs 20 --out my-report
    keras-regkit lab --dataset tones       # audio: default audio recipes
    keras-regkit lab sweep --param l2 --min 1e-6 --max 1e-1 --trials 6
    keras-regkit lab list                  # built-in recipes
    keras-regkit preview                   # PNG grid of an augmentation
    keras-regkit preview --pipeline randaugment --samples 15
    keras-regkit preview --boxes           # subject box and mask drawn too
"""

import argparse
import contextlib
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "keras-regkit"
# Small enough that the baseline clearly overfits (train accuracy 100%,
# test about 95%); the other 779 training images join the test set.
DIGITS_TRAIN_SIZE = 300
# The same for the synthetic tones (1200 clips): the rest join the test set.
TONES_TRAIN_SIZE = 300
DEFAULT_EPOCHS = 40
# The dtype policies `--precision` takes.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [0, 2**32), got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(
            f"expected a positive number, got {text!r}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        )
    if value > 1_000_000:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer up to 1,000,000, got {text!r}"
        )
    return value


def _common_options(parser, suppress=False):
    """Options shared by `lab` and `lab sweep` (`suppress`: keep lab's)."""

    def default(value):
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--dataset", default=default("digits"),
        help="digits (bundled, default), tones (synthetic audio), "
        "tfds:NAME (images, text or audio, e.g. tfds:imdb_reviews, "
        "tfds:speech_commands), a .npz file with arrays x and y (images, "
        "integer token ids (N, T) for text, or waveforms (N, samples) "
        "with a scalar sample_rate for audio), or a folder with one "
        "sub-folder of images per class",
    )
    parser.add_argument("--epochs", type=_positive_int, default=default(None),
                        help="epochs per recipe (default: 40; sweep: 20)")
    parser.add_argument("--batch-size", type=_positive_int,
                        default=default(32), help="batch size (default: 32)")
    parser.add_argument("--seed", type=_seed, default=default(0),
                        help="random seed; same seed, same result (default 0)")
    parser.add_argument("--out", default=default(None),
                        help="report folder (default: regkit-lab, or "
                        "regkit-lab-sweep for a sweep)")
    parser.add_argument(
        "--jit", action=argparse.BooleanOptionalAction, default=default(False),
        help="compile train steps with XLA (default: off; on CPU it adds "
        "about 7 s of compilation per recipe and does not speed up the "
        "lab's small model; use it to check that recipes compile)",
    )
    parser.add_argument(
        "--precision", default=default("float32"), choices=PRECISIONS,
        help="Keras dtype policy to train under (default: float32); "
        "mixed_float16 scales the loss against underflow, as on a GPU",
    )
    parser.add_argument(
        "--robustness", type=_positive_float, default=default(None),
        metavar="EPS",
        help="also measure robust accuracy: each trained model's test "
        "accuracy under a 10-step L-inf PGD attack of radius EPS (input "
        "units), with the same seeds and intervals (images and features)",
    )
    parser.add_argument(
        "--train-size", type=_positive_int, default=default(None),
        help="keep only this many training examples (default: 300 for "
        "digits and tones, the rest join the test set; all for other data)",
    )
    parser.add_argument(
        "--image-size", type=_positive_int, nargs=2, default=default([32, 32]),
        metavar=("H", "W"), help="size images in a folder are resized to",
    )


def build_parser():
    from keras_regkit import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="keras_regkit: regularization for Keras 3.",
    )
    parser.add_argument("--version", action="version",
                        version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    lab = commands.add_parser(
        "lab",
        help="train a model under several regularization recipes and report",
        description="Trains the lab's small CNN under each recipe and writes "
        "a report of what each did to overfitting.",
    )
    _common_options(lab)
    lab.add_argument(
        "--recipes", default=None,
        help="comma-separated built-in recipe names, or a .json/.yaml file of "
        "recipes (default: baseline,dropout,augmentation,combined; for text: "
        "baseline,embedding_dropout,token_dropout,rdrop,label_smoothing; "
        "for audio: baseline,dropout,spec_augment,waveform_augmentation)",
    )
    lab.add_argument(
        "--seeds", type=_positive_int, default=3,
        help="train every recipe with this many seeds (--seed, --seed+1, "
        "...) and compare each with the baseline over the same seeds "
        "(default 3)",
    )
    lab.add_argument("-v", "--verbose", action="store_true",
                     help="print a line per epoch, not only per run")
    lab_commands = lab.add_subparsers(dest="lab_command")
    sweep = lab_commands.add_parser(
        "sweep", help="tune one regularization strength with KerasTuner",
        description="Grid search of one strength with KerasTuner; reports "
        "the best value and a plot of validation accuracy against it.",
    )
    _common_options(sweep, suppress=True)
    sweep.add_argument("--param", default="l2",
                       help="strength to tune: l2, l1 or dropout (default l2)")
    sweep.add_argument("--min", type=float, default=None,
                       help="smallest value (default 1e-6; dropout 0.0)")
    sweep.add_argument("--max", type=float, default=None,
                       help="largest value (default 1e-1; dropout 0.7)")
    sweep.add_argument("--trials", type=int, default=6,
                       help="number of values tried (default 6)")
    sweep.add_argument("--recipe", default="baseline",
                       help="base recipe the strength is added to "
                       "(default baseline)")
    recipe_list = lab_commands.add_parser(
        "list", help="list the built-in recipes")
    recipe_list.add_argument("--markdown", action="store_true",
                             help="as a Markdown table (as in the README)")
    preview = commands.add_parser(
        "preview", help="write a PNG grid of an image under an augmentation",
        description="Applies an augmentation pipeline (training mode) to a "
        "bundled photo or your image and writes the original and the "
        "samples as a PNG grid.",
    )
    preview.add_argument(
        "--pipeline", default=None,
        help="a built-in recipe name (its augment layers), or a .json/.yaml "
        "file with a list of layer configs (default: flip, rotation, zoom, "
        "translation, brightness, erasing)",
    )
    preview.add_argument("--image", default="china",
                         help="china or flower (bundled photos) or an image "
                         "file (default: china)")
    preview.add_argument("--size", type=_positive_int, nargs=2,
                         default=[160, 240], metavar=("H", "W"),
                         help="size the image is resized to (default 160 240)")
    preview.add_argument("--samples", type=_positive_int, default=11,
                         help="augmented samples shown (default 11)")
    preview.add_argument("--columns", type=_positive_int, default=4,
                         help="grid columns (default 4)")
    preview.add_argument("--value-range", type=float, nargs=2, default=None,
                         metavar=("LOW", "HIGH"),
                         help="pixel range the pipeline expects (default: 0 "
                         "1 for lab recipes, which train on [0, 1] data; "
                         "else 0 255)")
    preview.add_argument("--boxes", action="store_true",
                         help="also move the bundled photo's subject box and "
                         "mask through the pipeline and draw them")
    preview.add_argument("--seed", type=_seed, default=0)
    preview.add_argument("--out", default="regkit-preview.png",
                         help="PNG path (default regkit-preview.png)")
    return parser


def run_preview(args):
    from keras_regkit.lab import recipes as recipes_lib
    from keras_regkit.lab.errors import LabError
    from keras_regkit.lab.preview import load_image
    from keras_regkit.lab.preview import load_pipeline
    from keras_regkit.lab.preview import write_preview

    value_range = args.value_range
    if value_range is None:
        from_recipe = args.pipeline in recipes_lib.builtin_names()
        value_range = (0.0, 1.0) if from_recipe else (0.0, 255.0)
    if not value_range[0] < value_range[1]:
        raise LabError(f"--value-range {value_range} needs LOW < HIGH.")
    subject = None
    if args.boxes:
        from keras_regkit.lab.preview import SUBJECTS

        if args.image not in SUBJECTS:
            raise LabError(
                f"--boxes needs a bundled image ({', '.join(SUBJECTS)}), "
                f"whose subject's box is known; received --image "
                f"{args.image!r}.")
        subject = SUBJECTS[args.image]
    layers = load_pipeline(args.pipeline)
    image = load_image(args.image, tuple(args.size))
    write_preview(args.out, image, layers, samples=args.samples,
                  seed=args.seed, columns=args.columns,
                  value_range=tuple(value_range), subject=subject)
    print(f"Preview of {len(layers)} layer(s) on {args.image!r}: "
          f"{os.path.abspath(args.out)}")
    return 0


def _data(args):
    from keras_regkit.lab.data import load_dataset

    train_size = args.train_size
    if train_size is None:
        train_size = {"digits": DIGITS_TRAIN_SIZE,
                      "tones": TONES_TRAIN_SIZE}.get(args.dataset)
    return load_dataset(
        args.dataset, seed=args.seed, train_size=train_size,
        image_size=tuple(args.image_size),
    )


def _meta(args, data, epochs):
    import keras

    return {
        "data": data.describe(),
        "dataset": args.dataset,
        "epochs": epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "seeds": _seed_list(args),
        "jit": args.jit,
        "precision": args.precision,
        "robustness": getattr(args, "robustness", None),
        "backend": keras.backend.backend(),
    }


def _seed_list(args):
    count = getattr(args, "seeds", 1)
    return [args.seed + i for i in range(count)]


def _console():
    from rich.console import Console

    return Console(highlight=False)


class _ProgressLines:
    """Progress on a terminal: live bars. Elsewhere (CI, `| tee`, a
    notebook): a plain line per finished run, and per epoch with -v."""

    def __init__(self, console, recipes, seeds, epochs, verbose):
        self.console = console
        self.verbose = verbose
        self.bars = None
        if console.is_terminal:
            from rich.progress import BarColumn
            from rich.progress import MofNCompleteColumn
            from rich.progress import Progress
            from rich.progress import TextColumn
            from rich.progress import TimeElapsedColumn

            self.bars = Progress(
                TextColumn("{task.description}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                transient=True,
            )
            self.overall = self.bars.add_task(
                "runs", total=len(recipes) * len(seeds))
            self.task = self.bars.add_task("", total=epochs)

    def __enter__(self):
        if self.bars is not None:
            self.bars.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bars is not None:
            self.bars.__exit__(*exc)

    def epoch(self, name, seed, epoch, logs):
        acc = logs.get("val_accuracy", float("nan"))
        text = f"  {name} seed {seed}: epoch {epoch} (val acc {acc:.3f})"
        if self.bars is not None:
            self.bars.update(self.task, completed=epoch, description=text)
        if self.verbose:
            self.console.print(
                f"{text[2:]}, loss {logs.get('loss', float('nan')):.4f}, "
                f"val loss {logs.get('val_loss', float('nan')):.4f}")

    def run_done(self, result):
        line = (f"{result.name} seed {result.seed}: test acc "
                f"{result.test_accuracy:.3f}, loss gap "
                f"{result.loss_gap:.3f}, {result.epochs_run} epochs, "
                f"{result.wall_time:.1f} s")
        if self.bars is not None:
            self.bars.advance(self.overall)
            self.bars.update(self.task, completed=0)
            if self.verbose:
                self.console.print(line)
        else:
            self.console.print(line)


def run_lab(args):
    from keras_regkit.lab import recipes as recipes_lib
    from keras_regkit.lab.errors import LabError
    from keras_regkit.lab.report import rich_tables
    from keras_regkit.lab.report import sentences
    from keras_regkit.lab.report import write_report
    from keras_regkit.lab.report_folder import ReportFolder
    from keras_regkit.lab.runner import run_recipe_seeds

    seeds = _seed_list(args)
    if seeds[-1] >= 2**32:
        raise LabError(f"--seed {args.seed} + --seeds {args.seeds} goes past "
                       "2**32 - 1; use a smaller --seed.")
    recipes = recipes_lib.load(args.recipes) if args.recipes else None
    data = _data(args)
    if recipes is None:  # the defaults for this kind of data
        recipes = recipes_lib.load(",".join(recipes_lib.defaults_for(data)))
    recipes_lib.check_data_kind(recipes, data)
    if args.robustness is not None and data.is_text:
        raise LabError("--robustness attacks inputs in a ball around them, "
                       "which token ids do not have; use it with image or "
                       "feature data.")
    epochs = args.epochs or DEFAULT_EPOCHS
    out = args.out or "regkit-lab"
    console = _console()
    console.print(
        f"[bold]keras-regkit lab[/bold]: {data.describe()}; "
        f"{len(recipes)} recipe(s) x {len(seeds)} seed(s), up to {epochs} "
        "epochs each")
    results, failure, interrupted = [], None, None
    with ReportFolder(out) as report:
        with _ProgressLines(console, recipes, seeds, epochs,
                            args.verbose) as progress:
            for recipe in recipes:
                name = recipe["name"]
                try:
                    results.extend(run_recipe_seeds(
                        recipe, data, seeds, epochs=epochs,
                        batch_size=args.batch_size, jit_compile=args.jit,
                        on_epoch=lambda seed, epoch, logs, name=name:
                            progress.epoch(name, seed, epoch, logs),
                        on_run=progress.run_done,
                        robustness=args.robustness,
                    ))
                except KeyboardInterrupt as error:  # Ctrl-C or SIGTERM
                    if not results:
                        raise
                    interrupted = error
                    break
                except Exception as error:  # noqa: BLE001 (kept, reported)
                    if not results:
                        raise
                    failure = (name, error)
                    break
        finished = sorted({r.name for r in results},
                          key=[r["name"] for r in recipes].index)
        meta = _meta(args, data, epochs)
        try:
            grouped = write_report(
                report.path, results,
                [r for r in recipes if r["name"] in finished], meta)
        except OSError as error:
            raise LabError(_unwritten(error, report, len(finished))) from None
    kept = (f"the report of the {len(finished)} recipe(s) that finished is "
            f"in {os.path.abspath(out)}.")
    if interrupted is not None:
        interrupted.message = f"interrupted; {kept}"
        raise interrupted
    if failure is not None:
        name, error = failure
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise LabError(
            f"recipe {name!r} failed ({type(error).__name__}: {first}); "
            f"{kept}"
        )
    for table in rich_tables(grouped, title=f"Regularization lab: "
                             f"{data.name}"):
        console.print(table)
    for text in sentences(grouped):
        console.print(text)
    console.print(f"Report: {os.path.join(os.path.abspath(out), 'report.md')}")
    return 0


def _unwritten(error, report, finished):
    """The one line for a report that could not be written (a full disk):
    what failed, and where the results are if they could be kept."""
    what = error.strerror or str(error)
    if error.filename:
        what += f" writing {error.filename}"
    summary = os.path.join(report.path, "summary.json")
    if os.path.exists(summary):
        report.keep()
        return (f"cannot write the report ({what}); the results of the "
                f"{finished} recipe(s) that finished are kept in {summary}.")
    return f"cannot write the report ({what}); no result could be kept."


def run_sweep_command(args):
    from keras_regkit.lab import recipes as recipes_lib
    from keras_regkit.lab.report_folder import ReportFolder
    from keras_regkit.lab.sweep import check_range
    from keras_regkit.lab.sweep import edge_warning
    from keras_regkit.lab.sweep import run_sweep
    from keras_regkit.lab.sweep import write_sweep_report

    low = args.min if args.min is not None else (
        0.0 if args.param == "dropout" else 1e-6)
    high = args.max if args.max is not None else (
        0.7 if args.param == "dropout" else 1e-1)
    check_range(args.param, low, high, args.trials)
    base = recipes_lib.builtin(args.recipe)
    data = _data(args)
    recipes_lib.check_data_kind([base], data)
    epochs = args.epochs or 20
    out = args.out or "regkit-lab-sweep"
    console = _console()
    console.print(
        f"[bold]keras-regkit lab sweep[/bold]: {args.param} in "
        f"[{low:g}, {high:g}], {args.trials} trials; {data.describe()}"
    )
    with ReportFolder(out) as report:
        with console.status("KerasTuner grid search running..."):
            result = run_sweep(
                base, data, args.param, low, high, args.trials, report.path,
                epochs=epochs, batch_size=args.batch_size, seed=args.seed,
                jit_compile=args.jit,
            )
        write_sweep_report(result, report.path, _meta(args, data, epochs))
    from rich.table import Table

    table = Table(title=f"Sweep of {args.param} ({result.objective})")
    table.add_column(args.param, justify="right")
    table.add_column(result.objective, justify="right")
    for value, score in zip(result.values, result.scores, strict=True):
        mark = " *" if value == result.best_value else ""
        table.add_row(f"{value:.4g}{mark}", f"{score:.4f}")
    console.print(table)
    warning = edge_warning(result)
    if warning:
        console.print(warning)
    console.print(
        f"Best {args.param}: {result.best_value:.4g} "
        f"({result.objective} {result.best_score:.4f}). Report: "
        f"{os.path.join(os.path.abspath(out), 'sweep.md')}"
    )
    return 0


def list_recipes(markdown=False):
    from keras_regkit.lab import recipes as recipes_lib

    descriptions = recipes_lib.builtin_descriptions()
    if markdown:
        print("| recipe | data | default | what it does |")
        print("|---|---|---|---|")
    for name, (description, kind) in descriptions.items():
        default = ", ".join(
            label for label, names in (
                ("images", recipes_lib.DEFAULT_RECIPES),
                ("text", recipes_lib.TEXT_RECIPES),
                ("audio", recipes_lib.AUDIO_RECIPES)) if name in names)
        kind = recipes_lib.describe_kinds(kind)
        if markdown:
            print(f"| `{name}` | {kind} | {default} | {description} |")
        else:
            shown = f" (default: {default})" if default else ""
            print(f"{name} [{kind}]{shown}: {description}")
    return 0


@contextlib.contextmanager
def _quiet_native_stderr():
    """Hides what TensorFlow's C++ runtime prints while it loads.

    TensorFlow logs a few lines through absl before `TF_CPP_MIN_LOG_LEVEL`
    applies; they are noise for a command-line user. Python errors are
    unaffected: they are raised, and printed after stderr is restored.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (e.g. some notebook front ends)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _raise_on_sigterm():
    """SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main
    thread, so it keeps finished work as Ctrl-C does; returns the handler
    it replaced."""
    import signal
    import threading

    from keras_regkit.lab.errors import Terminated

    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, terminate)


def _restore_sigterm(previous):
    import signal

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def main(argv=None):
    """Entry point of the `keras-regkit` console script."""
    from keras_regkit.lab.errors import LabError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "lab" and args.lab_command == "list":
        return list_recipes(args.markdown)  # no Keras needed: instant
    with _quiet_native_stderr():
        import keras  # noqa: F401  (loads the backend quietly)
    # Recipes with layers XLA cannot compile (Keras's RandomRotation, ...)
    # run without it (`--xla`); Keras's warning would repeat every seed.
    warnings.filterwarnings(
        "ignore", message="Model doesn't support `jit_compile=True`"
    )
    previous = _raise_on_sigterm()
    policy = keras.mixed_precision.dtype_policy()
    if args.command == "lab":
        keras.mixed_precision.set_dtype_policy(args.precision)
    try:
        if args.command == "preview":
            return run_preview(args)
        if args.command == "lab":
            if args.lab_command == "sweep":
                return run_sweep_command(args)
            return run_lab(args)
    except LabError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM
        message = getattr(interrupt, "message",
                          "interrupted; no report was written.")
        print(f"{PROG}: {message}", file=sys.stderr)
        return getattr(interrupt, "status", 130)
    finally:
        _restore_sigterm(previous)
        keras.mixed_precision.set_dtype_policy(policy)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
