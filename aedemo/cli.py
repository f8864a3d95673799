"""Command line: ``python -m aedemo {train,list,evaluate,delete,pin,unpin,anomaly,pretrain,
worker,class}``.

Variant-specific flags (``--noise-kind``, ``--l1``, ``--beta``...) are generated from the
registry's configs, so a new variant's hyperparameters appear here without editing this file.

Everything beyond argparse is imported where it is used: ``--help``, a command's misspelling and
the commands that take no model flags parse their arguments without loading PyTorch (about a
second); ``train`` and ``anomaly`` load the registry, and with it torch, to build their flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aedemo.model_record import ModelRecord
    from aedemo.spec import ModelSpec
    from aedemo.store import ModelStore


class UsageError(Exception):
    """Bad arguments found after parsing; reported like argparse's own errors (exit 2)."""


def _flag(name: str) -> str:
    """A config field's flag: its name in a page's link (aedemo.links), with the dashes."""
    from aedemo.links import param_name

    return "--" + param_name(name)


def _variant_params() -> dict[str, Any]:
    """Every variant-specific hyperparameter field by name, across the registry."""
    from aedemo.models import REGISTRY

    fields = {}
    for cls in REGISTRY.values():
        for f in cls.Config.own_params():
            fields.setdefault(f.name, f)
    return fields


def _add_model_args(p: argparse.ArgumentParser) -> None:
    from aedemo import data as datasets
    from aedemo.models import REGISTRY
    from aedemo.train import TrainConfig

    train_fields = {f.name: f for f in TrainConfig.__dataclass_fields__.values()}
    p.add_argument("--variant", required=True, choices=list(REGISTRY), help="which autoencoder")
    p.add_argument("--latent", type=int, help="bottleneck size k (default: the variant's)")
    p.add_argument("--epochs", type=int, help="passes over the training set (default: "
                                              "the variant's, else 5)")
    p.add_argument("--dataset", help=f"{', '.join(datasets.IMAGE_DATASETS)}, an IDX folder, or "
                                     f"for lstm '{datasets.SERIES}' or a CSV file (default: mnist "
                                     f"for images, {datasets.SERIES} for lstm)")
    p.add_argument("--batch-size", type=int,
                   help=f"default: the variant's, else {train_fields['batch_size'].default}")
    p.add_argument("--lr", type=float,
                   help=f"Adam's learning rate (default: the variant's, else "
                        f"{train_fields['lr'].default})")
    p.add_argument("--seed", type=int, default=train_fields["seed"].default)
    for name, f in _variant_params().items():
        meta = f.metadata
        kw: dict[str, Any] = {"help": meta.get("help", "")}
        if meta.get("choices"):
            kw["choices"] = list(meta["choices"])
        else:
            kw["type"] = type(f.default)
        p.add_argument(_flag(name), dest=name, default=None, **kw)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _spec_from_args(args: argparse.Namespace, *, normal: tuple[int, ...] = ()) -> ModelSpec:
    from aedemo import data as datasets
    from aedemo.models import get_variant
    from aedemo.spec import ModelSpec, default_train

    cls = get_variant(args.variant)
    own = {f.name for f in cls.Config.params()}
    hparams: dict[str, Any] = {}
    if args.latent is not None:
        hparams["latent_dim"] = args.latent
    for name in _variant_params():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in own:
            raise UsageError(f"{_flag(name)} does not apply to the {args.variant} variant")
        hparams[name] = value
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
             "seed": args.seed}
    try:
        # ModelSpec.create checks the training settings as it checks the hyperparameters
        train = default_train(args.variant, **{k: v for k, v in given.items() if v is not None})
        spec = ModelSpec.create(args.variant, hparams, dataset=args.dataset, train=train,
                                normal=normal)
    except ValueError as err:       # includes DataError: unknown dataset, bad file
        raise UsageError(str(err)) from None
    notice = datasets.load_images(args.dataset or "mnist").notice if spec.kind == "image" else None
    if notice:
        print(notice, file=sys.stderr)
    return spec


def _bar(enabled: bool):
    """A Callback drawing a tqdm progress bar on stderr, one tick per batch (a function, so
    that the trainer is imported only by the commands that train)."""
    from aedemo.train import Callback, Progress

    class Bar(Callback):
        def __init__(self):
            self.bar = None

        def on_batch(self, p: Progress) -> None:
            if not enabled:
                return
            if self.bar is None:
                from tqdm import tqdm
                self.bar = tqdm(total=p.epochs * p.batches, unit="batch", file=sys.stderr)
            # refresh=False: the bar redraws at most every 0.1 s (tqdm's mininterval) on update;
            # redrawing on every batch cost about 2% of a dense epoch
            self.bar.set_postfix(epoch=p.epoch, loss=f"{p.loss:.4g}", refresh=False)
            self.bar.update(1)

        def close(self) -> None:
            if self.bar is not None:
                self.bar.close()

    return Bar()


def _train_or_reuse(spec: ModelSpec, store: ModelStore, show_bar: bool):
    """The stored model for this spec if there is one, else train it and store it."""
    from aedemo.latent_frames import recorder_for
    from aedemo.spec import train_spec

    found = store.find(spec)
    if found is not None:
        return found.record, True
    bar = _bar(show_bar)
    # its latent map as it forms, kept with the model as a job's is: the Latent space page
    # replays the zoo's models too
    recorder = recorder_for(spec)
    try:
        trained = train_spec(spec, callbacks=(bar,) if recorder is None else (bar, recorder))
    finally:
        bar.close()
    frames = recorder.frames() if recorder is not None else None
    return store.save(spec, trained, frames=frames).record, False


def _summary(record: ModelRecord, reused: bool = False,
             metrics: dict[str, float] | None = None) -> dict[str, Any]:
    """A stored model's record in the CLI's words; ``metrics`` measured now replace the
    record's."""
    spec = record.spec
    return {"id": record.id, "variant": spec.variant, "latent_dim": spec.latent_dim,
            "dataset": spec.dataset, "epochs": spec.train.epochs, "seconds": record.seconds,
            "reused": reused, "test": record.metrics if metrics is None else metrics}


def _print_metrics(result: dict[str, Any]) -> None:
    print(f"model {result['id']}: {result['variant']} k={result['latent_dim']} on "
          f"{result['dataset']}, {result['epochs']} epochs, {result['seconds']} s"
          + (" (already stored)" if result.get("reused") else ""))
    for name, value in result["test"].items():
        print(f"  test {name:<14} {value:.6g}")


def cmd_train(args, store: ModelStore) -> int:
    spec = _spec_from_args(args)
    record, reused = _train_or_reuse(spec, store, show_bar=not args.json)
    result = _summary(record, reused)
    print(json.dumps(result)) if args.json else _print_metrics(result)
    return 0


def cmd_list(args, store: ModelStore) -> int:
    rows = []
    pinned = store.pinned()
    for m in store.list():
        row = {"id": m.id, "ok": m.ok, "problem": m.problem, "pinned": m.id in pinned}
        if m.record:
            row.update(_summary(m.record))
            row["created"] = m.created
        rows.append(row)
    if args.json:
        print(json.dumps(rows))
    elif not rows:
        print(f"no models in {store.dir}")
    for r in rows if not args.json else ():
        if r["ok"]:
            print(f"{r['id']}  {r['variant']:<10} k={r['latent_dim']:<4} {r['dataset']:<10} "
                  f"{r['epochs']:>3} ep  mse={r['test'].get('mse', float('nan')):.5f}  "
                  f"{r['created']}" + ("  pinned" if r["pinned"] else ""))
        else:
            print(f"{r['id']}  UNREADABLE: {r['problem']}")
    return 0


def cmd_evaluate(args, store: ModelStore) -> int:
    from aedemo import data as datasets
    from aedemo.metrics import evaluate

    model, record = store.load(args.id)
    spec = record.spec
    x_test = datasets.load_dataset(spec.dataset, spec.kind).x_test
    result = _summary(record, metrics=evaluate(model, x_test, seed=spec.train.seed))
    print(json.dumps(result)) if args.json else _print_metrics(result)
    return 0


def cmd_delete(args, store: ModelStore) -> int:
    from aedemo import classroom

    if store.get(args.id) is None:
        raise UsageError(f"no stored model {args.id}")
    classroom.delete_model(store, args.id, by=classroom.TEACHER)    # the server's user teaches
    print(f"deleted {args.id}")
    return 0


def cmd_pin(args, store: ModelStore) -> int:
    """Pin a model to the showcase: it comes first, before the zoo's, on every page it fits."""
    from aedemo import classroom

    if store.get(args.id) is None:
        raise UsageError(f"no stored model {args.id}")
    classroom.set_pinned(store, args.id, args.command == "pin")
    print(f"{args.command}ned {args.id}")
    return 0


def parse_digits(text: str) -> tuple[int, ...]:
    """'3' or '0,1' (commas or spaces between) -> (0, 1). Each item is one digit, given once:
    '99' or '10' is no digit, and reading it as 9, or as 1 and 0, would train a detector for
    digits the teacher never asked for."""
    items = text.replace(",", " ").split()
    if not items or not all(len(d) == 1 and d in "0123456789" for d in items) or (
            len(set(items)) != len(items)):
        raise UsageError(f"--normal takes digits 0 to 9, each once, separated by commas, such "
                         f"as 3 or 0,1, not {text!r}")
    return tuple(sorted(int(d) for d in items))


def cmd_anomaly(args, store: ModelStore) -> int:
    from aedemo import data as datasets
    from aedemo.lessons import anomaly
    from aedemo.models import get_variant

    normal = parse_digits(args.normal)
    if get_variant(args.variant).kind != "image":
        raise UsageError("anomaly works on image variants; the Sequences page covers lstm")
    spec = _spec_from_args(args, normal=normal)
    record, _ = _train_or_reuse(spec, store, show_bar=not args.json)
    model, _ = store.load(record.id)
    images = datasets.load_images(spec.dataset)
    try:
        result = anomaly.score_test_set(model, images, normal, spec.holdout)
    except ValueError as err:
        raise UsageError(str(err)) from None
    # the Anomaly page's default: set on held-out normal training images, never the test set
    threshold = anomaly.false_alarm_threshold(result.reference.errors)
    report = anomaly.threshold_report(result.scores, result.is_anomaly, threshold)
    out = {"auc": result.auc, "normal": list(normal), "id": record.id, "variant": spec.variant,
           "latent_dim": spec.latent_dim, "dataset": spec.dataset, "epochs": spec.train.epochs,
           "n_test": int(len(result.scores)), "n_anomalous": int(result.is_anomaly.sum()),
           "threshold": threshold, "target_false_alarm_rate": anomaly.FALSE_ALARM_RATE,
           "threshold_set_on": {"images": int(len(result.reference.errors)),
                                "held_out": result.reference.held_out},
           "false_alarm_rate": report.false_alarm_rate, "recall": report.recall,
           "precision": report.precision, "f1": report.f1, "base_rate": result.base_rate,
           "flag_everything_f1": anomaly.flag_everything(result.is_anomaly).f1,
           "auc_per_class": {images.classes[r.label]: r.auc for r in result.per_class},
           "ink_auc_per_class": {images.classes[r.label]: r.ink_auc for r in result.per_class}}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"one-class AUC {out['auc']:.4f}: normal {out['normal']}, {out['n_anomalous']} of "
          f"{out['n_test']} test images anomalous ({spec.describe()})")
    where = ("held-out normal training images" if result.reference.held_out else
             "normal training images, trained on: no held-out images were kept")
    print(f"threshold {threshold:.6g}: at most {anomaly.FALSE_ALARM_RATE:.0%} false alarms, set "
          f"on {len(result.reference.errors)} {where}")
    print(f"  on the test set: false alarms {report.false_alarm_rate:.1%} of the normal images, "
          f"recall {report.recall:.1%}, precision {report.precision:.3f}, F1 {report.f1:.3f}")
    print(f"  base rate {result.base_rate:.1%}: flagging everything scores F1 "
          f"{out['flag_everything_f1']:.3f}")
    print("  AUC per anomalous class (ink alone): " + ", ".join(
        f"{images.classes[r.label]} {r.auc:.3f} ({r.ink_auc:.3f})" for r in result.per_class))
    return 0


def cmd_pretrain(args, store: ModelStore) -> int:
    from aedemo.zoo import zoo_specs

    specs = zoo_specs(args.dataset)
    for i, spec in enumerate(specs, 1):
        record, reused = _train_or_reuse(spec, store, show_bar=not args.json)
        result = _summary(record, reused)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"[{i}/{len(specs)}] ", end="")
            _print_metrics(result)
    return 0


def cmd_worker(args, store: ModelStore) -> int:
    from aedemo.workers import run_worker

    return run_worker(args.parent_pid)


def cmd_class(args, store: ModelStore) -> int:
    """The class's shared state (aedemo.class_board): in numbers, cleared for the next lesson,
    or written to a folder (the drawings as PNG, the lesson's models as CSV, the class chart)."""
    from aedemo import taskqueue
    from aedemo.class_board import ClassBoard
    from aedemo.classroom import Roster

    if args.model and not args.export:
        raise UsageError("--model names the chart's model: it goes with --export DIR")
    board = ClassBoard(taskqueue.connect(store.root, taskqueue.redis_url()), Roster(store.root))
    out: dict[str, Any] = {}
    try:
        if args.export:         # before a --clear: the lesson is written, then cleared
            out["exported"] = _export_class(board, store, args.export, args.model)
        if args.clear:
            out["cleared"] = board.clear()
        summary = board.summary(store)
    except taskqueue.QueueUnavailable as err:
        # the command line is the teacher's: where the queue is, too
        print(f"error: {err.in_full()}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**summary.to_json(), **out}))
        return 0
    if "exported" in out:
        done = out["exported"]
        print(f"wrote {done['drawings']} drawing(s), {done['models']} model(s) in models.csv"
              + (f" and {done['chart']}" if done["chart"] else "") + f" to {args.export}")
        if done["no_chart"]:
            print(f"no chart: {done['no_chart']}")
    if "cleared" in out:
        print(f"cleared the class: {out['cleared']} drawing(s) removed; stored models stay")
    print(f"{summary.students} student(s), {summary.drawings} shared drawing(s) "
          f"({summary.hidden} hidden), {summary.models} model(s) trained this lesson")
    if summary.invitation:
        print(f"invitation: {summary.invitation.words} "
              f"({summary.invitation.page}?{summary.invitation.query_string})")
    return 0


def _export_class(board, store: ModelStore, folder: str, model_id: str | None
                  ) -> dict[str, Any]:
    """Write the class's files (aedemo.lessons.class_export, which the teacher's Class page
    zips) to ``folder``. What was written, and why there is no chart when there is none."""
    from pathlib import Path

    from aedemo.lessons.class_export import class_export

    try:
        export = class_export(board, store, model_id)     # a bad --model: nothing written
    except ValueError as err:
        raise UsageError(str(err)) from None
    if export.notice:        # offline: the map's test digits come from a stand-in, said once
        print(export.notice, file=sys.stderr)
    root = Path(folder)
    try:
        for name, content in export.files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
    except OSError as err:
        raise UsageError(f"cannot write the class to {folder}: {err.strerror or err}") from None
    return {"drawings": export.drawings, "models": export.models, "chart": export.chart,
            "no_chart": export.no_chart}


MODEL_COMMANDS = ("train", "anomaly")      # the commands whose flags come from the registry


def build_parser(model_flags: bool = True) -> argparse.ArgumentParser:
    """The whole command line; with ``model_flags=False``, train and anomaly take none of their
    flags, which is all that parsing any other command (or the top-level --help) needs, and it
    builds without importing torch."""
    parser = argparse.ArgumentParser(prog="python -m aedemo", description="Autoencoder demo")
    sub = parser.add_subparsers(dest="command", required=True)
    add_model_args = _add_model_args if model_flags else (lambda p: None)
    p = sub.add_parser("train", help="train a model and store it")
    add_model_args(p)
    p = sub.add_parser("list", help="list stored models")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("evaluate", help="test metrics of a stored model")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("delete", help="delete a stored model")
    p.add_argument("id")
    p = sub.add_parser("pin", help="show a stored model first, before the zoo's, on every page "
                                   "it fits (the teacher's showcase)")
    p.add_argument("id")
    p = sub.add_parser("unpin", help="take a model off the showcase")
    p.add_argument("id")
    p = sub.add_parser("anomaly", help="one-class anomaly detection AUC (Ruff et al. 2018)")
    p.add_argument("--normal", required=True, help="the normal digit(s) 0 to 9, e.g. 3 or 0,1")
    add_model_args(p)
    p = sub.add_parser("worker", help="take training jobs from the app's queue and train them "
                                      "(AEDEMO_HOME, or AEDEMO_REDIS_URL for a shared queue)")
    p.add_argument("--parent-pid", type=int, default=None,
                   help="stop when this process (the app server that started it) ends")
    p = sub.add_parser("pretrain", help="train the default model zoo the app starts with")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("class", help="the class's shared drawings and this lesson's models "
                                     "(AEDEMO_HOME, or AEDEMO_REDIS_URL for a shared class)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--export", metavar="DIR", help="write the drawings (PNG), the models' "
                                                   "table (CSV) and the class chart (HTML)")
    p.add_argument("--model", metavar="ID", help="the model whose latent map the chart uses "
                                                 "(default: a pinned, else the newest, "
                                                 "image model with k = 2)")
    p.add_argument("--clear", action="store_true", help="clear the drawings and the class's "
                                                        "view of models for the next lesson "
                                                        "(stored models stay)")
    return parser


COMMANDS = {"train": cmd_train, "list": cmd_list, "evaluate": cmd_evaluate,
            "delete": cmd_delete, "pin": cmd_pin, "unpin": cmd_pin, "anomaly": cmd_anomaly,
            "pretrain": cmd_pretrain, "worker": cmd_worker, "class": cmd_class}


def _command_word(argv: list[str]) -> str | None:
    """The subcommand argv names: its first word that is not an option (the top level has no
    option that takes a value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(model_flags=_command_word(argv) in MODEL_COMMANDS)
    args = parser.parse_args(argv)          # exits 2 with a message on bad arguments
    from aedemo import data as datasets
    from aedemo.store import ModelStore, StoreError
    from aedemo.train import TrainingDiverged

    store = ModelStore()
    try:
        return COMMANDS[args.command](args, store)
    except UsageError as err:
        parser.error(str(err))              # exits 2
    except (TrainingDiverged, StoreError, datasets.DataError) as err:
        # the command line is the teacher's: the store's folder and the OS's words too
        print(f"error: {err.in_full() if isinstance(err, StoreError) else err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing was stored", file=sys.stderr)
        return 130
    return 0
