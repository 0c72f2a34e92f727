"""Command line: ``python -m zoo {demo, list, info, predict, export, verify, download, publish, cache}``.

    python -m zoo demo                        # the bundled real spectra through every trained model
    python -m zoo list
    python -m zoo info NAME
    python -m zoo predict NAME spectra/*.fits --backend onnx --out table.csv
    python -m zoo export NAME                  # write the derived model.keras and the SavedModel
    python -m zoo verify NAME                  # checksums + ONNX test_data_set_0 on ONNX Runtime
    python -m zoo download NAME... | --all     # fetch published models into the cache, sha256-verified
    python -m zoo publish NAME... | --all [--out dist]   # write release archives, record them in the cards
    python -m zoo cache                        # where models are found: clone, cache, hub
"""
from __future__ import annotations

import argparse
import csv
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _where(name):
    """``exported`` (a clone), ``cached``, ``published`` (downloadable) or ``untrained``."""
    from zoo.hub import local_dir, release_info
    from zoo.predictor import exported_dir
    d = local_dir(name)
    if d:
        return "exported" if os.path.abspath(d) == os.path.abspath(exported_dir(name)) else "cached"
    return "published" if release_info(name) else "untrained"


def _cmd_list(args):
    import zoo
    from zoo.registry import get_entry
    for name in zoo.list_models():
        print(f"{name:24s} {_where(name):10s} {get_entry(name).description}")
    return 0


def _cmd_info(args):
    import zoo
    print(zoo.get_card(args.name).to_markdown())
    return 0


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _plain(row):
    import numpy as np
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


def _cmd_predict(args):
    import zoo
    model = zoo.load_model(args.name, backend=args.backend)
    kw = {"return_uncertainty": True} if args.uncertainty else {}
    results = model.iter_predict_files(args.files, progress=len(args.files) > 1 and not args.no_progress, **kw)
    rows, n_failed = [], 0
    fh = writer = None
    try:
        for path, row, why in results:
            if row is None:
                n_failed += 1
                print(f"skipped {path}: {why}", file=sys.stderr)
                continue
            row = _plain(row)
            rows.append(row)
            if args.out:  # written and flushed row by row: an interrupted batch keeps what it computed
                if writer is None:
                    fh = open(args.out, "w", newline="")
                    writer = csv.DictWriter(fh, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
                fh.flush()
    finally:
        if fh is not None:
            fh.close()
    if rows and args.out:
        print(f"wrote {len(rows)} rows to {args.out}")
    elif rows:
        cols = list(rows[0])
        width = {c: max(len(c), *(len(_fmt(r[c])) if c != "file" else len(os.path.basename(r[c]))
                                  for r in rows)) for c in cols}
        print("  ".join(c.ljust(width[c]) for c in cols))
        for r in rows:
            print("  ".join((os.path.basename(r[c]) if c == "file" else _fmt(r[c])).ljust(width[c])
                            for c in cols))
    print(f"{len(rows)} predicted, {n_failed} skipped", file=sys.stderr)
    return 0 if rows or not n_failed else 1


def _cmd_demo(args):
    """Run every trained model that has a demo (registered by its family) on bundled real spectra."""
    import zoo
    from zoo.hub import local_dir, release_info
    from zoo.registry import demos
    remote = []
    for name, show in sorted(demos().items()):
        if not local_dir(name):
            if release_info(name):
                remote.append(name)
            continue
        show(zoo.load_model(name, backend=args.backend))
    if remote:
        print(f"not downloaded yet: {', '.join(remote)} (python -m zoo download --all)", file=sys.stderr)
    return 0


def _cmd_export(args):
    """Write the derived artifacts kept out of git: the SavedModel and, where the card says it is
    derived from model.onnx, model.keras."""
    import keras
    from zoo.card import ModelCard
    from zoo.export import derived_keras_model, export_saved_model
    from zoo import layers  # noqa: F401
    from zoo.predictor import Predictor, exported_dir
    d = exported_dir(args.name)
    Predictor(d, backend="onnx")  # verifies the checksums on the way
    card = ModelCard.from_json(os.path.join(d, "card.json"))
    if "derived_from" in card.artifacts.get("model.keras", {}):
        model = derived_keras_model(card, d)
        model.save(os.path.join(d, "model.keras"))
        print(f"wrote {os.path.join(d, 'model.keras')} (derived from model.onnx)")
    else:
        model = keras.saving.load_model(os.path.join(d, "model.keras"), safe_mode=True, compile=False)
    path = export_saved_model(model, d, card.input.n_pixels)
    print(f"wrote {path}")
    return 0


def _cmd_verify(args):
    import numpy as np
    from zoo.export import read_test_data
    from zoo.hub import locate
    from zoo.predictor import Predictor
    from zoo.registry import get_entry
    get_entry(args.name)
    d = locate(args.name)
    p = Predictor(d, backend="onnx")
    flux, expected = read_test_data(d)
    got = p._forward(flux)
    worst = max(float(np.max(np.abs(got[k] - v))) for k, v in expected.items())
    print(f"{args.name}: checksums ok; ONNX Runtime vs stored outputs: max |diff| = {worst:.2e}")
    return 0 if worst < 1e-4 else 1


def _names(args, pick):
    import zoo
    from zoo.registry import get_entry
    if args.all:
        return [n for n in zoo.list_models() if pick(n)]
    if not args.names:
        raise SystemExit("give model names or --all")
    for n in args.names:
        get_entry(n)
    return args.names


def _cmd_download(args):
    from zoo.errors import ZooError
    from zoo.hub import fetch, hub_url, release_info
    names = _names(args, lambda n: release_info(n) is not None)
    failed = 0
    for name in names:
        try:
            d = fetch(name, progress=None if not args.no_progress else False, force=args.force)
        except ZooError as exc:
            failed += 1
            print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        print(f"{name}: {d}")
    print(f"{len(names) - failed} of {len(names)} models in the cache (hub {hub_url()})", file=sys.stderr)
    return 1 if failed else 0


def _cmd_publish(args):
    from zoo.hub import hub_url, publish
    from zoo.predictor import exported_dir
    names = _names(args, lambda n: os.path.exists(os.path.join(exported_dir(n), "card.json")))
    for name in names:
        rel, path = publish(name, out=args.out)
        print(f"{name}: {path}  {rel['size']} bytes  sha256 {rel['sha256']}")
    print(f"upload the files in {args.out}/ to {hub_url()}/ (names never repeat: a new model gets a new name)",
          file=sys.stderr)
    return 0


def _cmd_cache(args):
    import zoo
    from zoo.hub import cache_dir, hub_url, local_dir, offline
    from zoo.predictor import exported_dir
    print(f"exported: {exported_dir()}  ($ZOO_EXPORTED)")
    print(f"cache:    {cache_dir()}  ($ZOO_CACHE)")
    print(f"hub:      {hub_url()}  ($ZOO_HUB_URL){'  [offline: $ZOO_OFFLINE]' if offline() else ''}")
    for name in zoo.list_models():
        print(f"  {name:24s} {_where(name):10s} {local_dir(name) or ''}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m zoo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="registered models and whether they are trained")
    p = sub.add_parser("info", help="print a model's card")
    p.add_argument("name")
    p = sub.add_parser("predict", help="predict labels for spectrum files")
    p.add_argument("name")
    p.add_argument("files", nargs="+", help="spectrum files (.rbn, apStar FITS, ...)")
    p.add_argument("--backend", default="keras", choices=["keras", "onnx", "savedmodel"])
    p.add_argument("--out", help="write a CSV table here instead of printing")
    p.add_argument("--uncertainty", action="store_true", help="regressors: add <label>_std columns")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = sub.add_parser("demo", help="classify the bundled real spectra with the trained models")
    p.add_argument("--backend", default="onnx", choices=["keras", "onnx", "savedmodel"])
    p = sub.add_parser("export", help="write the derived artifacts kept out of git (SavedModel; model.keras where derived from ONNX)")
    p.add_argument("name")
    p = sub.add_parser("verify", help="check checksums and the ONNX test data of an exported model")
    p.add_argument("name")
    p = sub.add_parser("download", help="fetch published models into the cache (sha256-verified)")
    p.add_argument("names", nargs="*")
    p.add_argument("--all", action="store_true", help="every published model")
    p.add_argument("--force", action="store_true", help="download again even when cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = sub.add_parser("publish", help="write release archives of exported models and record them in the cards")
    p.add_argument("names", nargs="*")
    p.add_argument("--all", action="store_true", help="every exported model")
    p.add_argument("--out", default="dist", help="folder for the archives (default: dist/)")
    sub.add_parser("cache", help="where models are found: clone, cache, hub")
    args = parser.parse_args(argv)
    from zoo.errors import ZooError
    try:
        return {"list": _cmd_list, "info": _cmd_info, "demo": _cmd_demo, "predict": _cmd_predict,
                "export": _cmd_export, "verify": _cmd_verify, "download": _cmd_download,
                "publish": _cmd_publish, "cache": _cmd_cache}[args.cmd](args)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
