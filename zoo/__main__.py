"""Command line: ``python -m zoo {demo, list, info, predict, export, reexport, verify, download, publish, cache}``.

    python -m zoo demo                        # the bundled real spectra through every trained model
    python -m zoo list
    python -m zoo info NAME
    python -m zoo predict NAME spectra/*.fits --backend onnx   # a table on stdout
    python -m zoo predict NAME 'archive/**/*.fits' --out DIR [--engine local|dask] [--format parquet|csv]
                                               # archive scale: Parquet shards, resumable (docs/scale.md)
    python -m zoo export NAME                  # write the derived model.keras and the SavedModel
    python -m zoo reexport NAME... | --all [--dry-run]   # model.onnx again from its weights, if faster
    python -m zoo verify NAME                  # checksums + ONNX test_data_set_0 on ONNX Runtime
    python -m zoo download NAME... | --all     # fetch published models into the cache, sha256-verified
    python -m zoo publish NAME... | --all [--out dist]   # write release archives, record them in zoo/data/hub/
    python -m zoo cache                        # where models are found: clone, cache, hub
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: exit status of a usage or state error (an unknown model, a bad flag value, a checksum that does not
#: match: a ZooError); argparse exits with the same 2 on a flag it cannot parse
EXIT_USAGE = 2
#: exit status of ``predict --out`` interrupted by Ctrl-C (128 + SIGINT, the shell's convention)
EXIT_INTERRUPTED = 130


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
    print(f"{'model':24s} {'where':10s} {'family':13s} {'paper':30s} description")
    for name in zoo.list_models():
        e = get_entry(name)
        print(f"{name:24s} {_where(name):10s} {e.family.rsplit('.', 1)[-1]:13s} {_paper(e):30s} {e.description}")
    for name in _own_models():
        card = zoo.get_card(name)
        print(f"{name:24s} {'exported':10s} {card.recipe.get('start_from', 'trained')} from {card.recipe['base_model']} "
              f"on {card.data.get('train_table', 'a table')} (a model of your own)")
    return 0


def _paper(entry) -> str:
    """'Surname (year)' (or 'Surname et al. (year)') of the entry's preset card's citation."""
    import re
    cite = (entry.preset_dict().get("paper") or {}).get("citation", "")
    m = re.match(r"(.+?)\s*\((\d{4})\)", cite)
    if not m:
        return cite[:30] or "?"
    authors, year = m.group(1), m.group(2)
    first = re.split(r",| et al| and ", authors)[0].strip()
    more = " et al." if ("," in authors or "et al" in authors or " and " in authors) else ""
    return f"{first.split()[-1]}{more} ({year})"


def _own_models() -> list[str]:
    """Models in exported/ ($ZOO_EXPORTED) that are not registered names: fine-tuned or retrained
    under a name of their own (their card's recipe names the base model)."""
    import json
    import zoo
    from zoo.predictor import exported_dir
    root, known, out = exported_dir(), set(zoo.list_models()), []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        f = os.path.join(root, name, "card.json")
        if name not in known and os.path.isfile(f):
            with open(f, encoding="utf-8") as fh:
                if (json.load(fh).get("recipe") or {}).get("base_model"):
                    out.append(name)
    return out


def _cmd_info(args):
    import zoo
    print(zoo.get_card(args.name).to_markdown())
    return 0


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _plain(row):
    import numpy as np
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


def _predict_kw(args, card) -> dict:
    """``predict`` keyword arguments from the CLI flags: ``--instrument``, and ``--uncertainty`` /
    ``--no-uncertainty`` (default: the card's, on for a regressor with calibrated uncertainties)."""
    kw = {}
    if args.instrument:
        steps = card.input.instrument_steps or {}
        if args.instrument not in steps:
            from zoo.errors import ZooError
            raise ZooError(f"{card.name} has no instrument step {args.instrument!r}; its input contract "
                           f"knows {sorted(steps) or 'none'} (files carry their own instrument)")
        kw["instrument"] = args.instrument
    if args.uncertainty is not None:
        if args.uncertainty and any(o.kind == "class" for o in card.outputs):
            from zoo.errors import ZooError
            raise ZooError(f"{card.name} is a classifier: its uncertainty is the class probability "
                           "(<head>_probability), always given; --uncertainty is for regressors")
        kw["return_uncertainty"] = bool(args.uncertainty)
    return kw


def _header(col, units):
    return f"{col} [{units[col]}]" if col in units else col


def _cmd_predict(args):
    if args.out:
        return _cmd_predict_archive(args)
    for opt in ("engine", "scheduler", "workers", "shard_size", "max_shards", "onnx_threads", "readers"):
        if getattr(args, opt) not in (None, "local"):
            print(f"error: --{opt.replace('_', '-')} is for the batch pipeline: give --out DIR", file=sys.stderr)
            return EXIT_USAGE
    import zoo
    from zoo.batch import column_units
    model = zoo.load_model(args.name, backend=args.backend)
    kw = _predict_kw(args, model.card)
    if args.trust != "full":
        kw["trust"] = args.trust
    units = column_units(model.card)
    results = model.iter_predict_files(args.files, progress=len(args.files) > 1 and not args.no_progress, **kw)
    rows, n_failed = [], 0
    for path, row, why in results:
        if row is None:
            n_failed += 1
            print(f"skipped {path}: {why}", file=sys.stderr)
            continue
        rows.append(_plain(row))
    if rows:
        cols = list(rows[0])
        width = {c: max(len(_header(c, units)), *(len(_fmt(r[c])) if c != "file" else len(os.path.basename(r[c]))
                                                  for r in rows)) for c in cols}
        print("  ".join(_header(c, units).ljust(width[c]) for c in cols))
        for r in rows:
            print("  ".join((os.path.basename(r[c]) if c == "file" else _fmt(r[c])).ljust(width[c])
                            for c in cols))
    print(f"{len(rows)} predicted, {n_failed} skipped", file=sys.stderr)
    if args.trust != "full" and model.trust_method(args.trust):
        print(f"out_of_domain: {model.trust_method(args.trust)} (--trust {args.trust})", file=sys.stderr)
    return 1 if n_failed else 0


def _cmd_predict_archive(args):
    """``--out DIR``: the streaming, resumable batch pipeline of :mod:`zoo.batch`."""
    from zoo.batch import SHARD_SIZE, predict_archive
    import zoo
    if os.path.splitext(args.out)[1].lower() in (".csv", ".parquet", ".tsv") and not os.path.isdir(args.out):
        print(f"error: --out is a directory (Parquet shards, or CSV ones with --format csv), "
              f"not a table file: {args.out}", file=sys.stderr)
        return EXIT_USAGE
    try:
        res = predict_archive(args.name, args.files, args.out, engine=args.engine, fmt=args.format,
                              backend=args.backend, batch_size=args.batch_size,
                              shard_size=args.shard_size or SHARD_SIZE, readers=args.readers,
                              scheduler=args.scheduler, workers=args.workers, max_shards=args.max_shards,
                              onnx_threads=args.onnx_threads, trust=args.trust,
                              progress=not args.no_progress,
                              predict_kw=_predict_kw(args, zoo.get_card(args.name)))
    except KeyboardInterrupt:
        print(f"interrupted: the shards written so far are kept in {args.out}; run the same command "
              "again to go on", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"{res.n_files} files in {res.n_shards} shards: {res.shards_skipped} were done before, "
          f"{res.shards_written} written now ({res.rows} rows, {res.seconds:.1f} s) in {res.out}",
          file=sys.stderr)
    if args.trust != "full" and res.trust_method:
        print(f"out_of_domain: {res.trust_method} (--trust {args.trust}; each shard's metadata: zoo.trust_method)",
              file=sys.stderr)
    for shard, why in res.failed_shards:
        print(f"shard {shard} failed (it is redone on the next run): {why}", file=sys.stderr)
    if not res.complete:
        left = res.n_shards - res.shards_skipped - res.shards_written
        print(f"{left} shards left: run the same command again to go on", file=sys.stderr)
    if res.failed:
        print(f"{res.failed} files failed: see {os.path.join(res.out, 'errors.jsonl')}", file=sys.stderr)
    return 1 if res.failed or res.failed_shards else 0


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
    shows = demos()
    for name in _own_models():          # models trained or refit on real spectra: their base's demo
        base = zoo.get_card(name).recipe["base_model"]
        if base in shows:
            shows[base](zoo.load_model(name, backend=args.backend))
    if remote:
        print(f"not downloaded yet: {', '.join(remote)} (python -m zoo download --all)", file=sys.stderr)
    return 0


def _cmd_export(args):
    """Write the derived artifacts kept out of git: the SavedModel and, where the card says it is
    derived from model.onnx, model.keras."""
    import keras
    from zoo.card import ModelCard
    from zoo.derive import derived_keras_model
    from zoo.export import export_saved_model
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
    from zoo.artifacts import read_test_data
    from zoo.hub import locate
    from zoo.predictor import Predictor
    from zoo.registry import get_entry
    from zoo import model_dir
    d = model_dir(args.name)
    if d is None:
        get_entry(args.name)
        d = locate(args.name)
    p = Predictor(d, backend="onnx")
    flux, expected = read_test_data(d)
    got = p.forward(flux)
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


def _cmd_reexport(args):
    """Convert exported models to ONNX again from their committed weights (:mod:`zoo.reexport`)."""
    import json

    from zoo.errors import ZooError
    from zoo.predictor import exported_dir
    from zoo.reexport import reexport
    names = _names(args, lambda n: os.path.exists(os.path.join(exported_dir(n), "card.json")))
    failed = []
    for name in names:
        try:
            print(json.dumps(reexport(name, dry_run=args.dry_run, min_speedup=args.min_speedup,
                                      publish=not args.no_publish)))
        except (ZooError, RuntimeError) as exc:
            failed.append(name)
            print(f"{name}: not re-exported: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_publish(args):
    from zoo.errors import ZooError
    from zoo.hub import hub_url, publish, publish_all
    from zoo.predictor import exported_dir
    failed = []
    if args.all:   # the whole release index, regenerated from the exports: all or nothing
        try:
            done = publish_all(out=args.out)
        except ZooError as exc:
            print(f"error: {exc}; the release index was left as it was", file=sys.stderr)
            return 1
    else:          # model by model: one that fails does not stop the others
        names = _names(args, lambda n: os.path.exists(os.path.join(exported_dir(n), "card.json")))
        done = {}
        for name in names:
            try:
                done[name] = publish(name, out=args.out)
            except ZooError as exc:
                failed.append(name)
                print(f"{name}: not published: {type(exc).__name__}: {exc}", file=sys.stderr)
    for name, (rel, path) in done.items():
        print(f"{name}: {path}  {rel['size']} bytes  sha256 {rel['sha256']}")
    print(f"upload the files in {args.out}/ to {hub_url()}/ (names never repeat: a new model gets a new name)",
          file=sys.stderr)
    return 1 if failed else 0


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
    p = sub.add_parser("predict", help="predict labels for spectrum files (a table, or an archive with --out DIR)")
    p.add_argument("name")
    p.add_argument("files", nargs="+", help="spectrum files (.rbn, apStar FITS, ...); with --out also "
                   "directories and quoted globs ('archive/**/*.fits')")
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "keras", "savedmodel"],
                   help="auto (default): ONNX Runtime, no TensorFlow needed; keras and savedmodel need "
                   "the [keras] extra")
    p.add_argument("--instrument", default=None,
                   help="the spectra's instrument for the model's instrument steps (python -m zoo info NAME: "
                   "input.instrument_steps), overriding the files' own, e.g. flux_calibrated for "
                   "AutoClassMK on flux-calibrated (not rectified) spectra")
    p.add_argument("--out", metavar="DIR", help="the batch pipeline: Parquet (or CSV) shards, an error log "
                   "and a manifest in DIR; resumes an interrupted run (docs/scale.md)")
    p.add_argument("--engine", default="local", choices=["local", "dask"],
                   help="with --out: this process, or dask.distributed workers (the [scale] extra)")
    p.add_argument("--format", default="parquet", choices=["parquet", "csv"], help="with --out: shard format")
    p.add_argument("--batch-size", type=int, default=256, help="with --out: spectra per model call")
    p.add_argument("--shard-size", type=int, default=None, help="with --out: files per shard (default 1000)")
    p.add_argument("--readers", type=int, default=None,
                   help="with --out: reader threads (default: CPUs, local; 2 per Dask worker)")
    p.add_argument("--scheduler", default=None, help="--engine dask: a scheduler address (tcp://host:8786) or "
                   "scheduler file (.json); default a LocalCluster")
    p.add_argument("--workers", type=int, default=None,
                   help="with --out: worker processes. Local engine: they read and prepare the files and score "
                   "the trust while this process runs the network (default min(2, CPUs); 0: threads of this "
                   "process). --engine dask: LocalCluster workers (default 2)")
    p.add_argument("--trust", default="full", choices=["full", "fast"],
                   help="out_of_domain from the card's trust method (full, default) or its registered cheaper "
                   "variant (fast; RAC-Net: the knn part without the template fits, flagging a subset of what "
                   "full flags); recorded in the manifest and each shard's metadata (docs/scale.md)")
    p.add_argument("--onnx-threads", type=int, default=None,
                   help="with --out: ONNX Runtime threads per model session (default one per core; "
                   "1 with one Dask worker per core)")
    p.add_argument("--max-shards", type=int, default=None,
                   help="with --out: stop after writing this many shards (the next run goes on)")
    p.add_argument("--uncertainty", action=argparse.BooleanOptionalAction, default=None,
                   help="regressors: <label>_std columns from noise realizations (default: on where the "
                   "card calibrates them); --no-uncertainty skips the realizations (faster, labels unchanged)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = sub.add_parser("demo", help="classify the bundled real spectra with the trained models")
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "keras", "savedmodel"])
    p = sub.add_parser("export", help="write the derived artifacts kept out of git (SavedModel; model.keras where derived from ONNX)")
    p.add_argument("name")
    p = sub.add_parser("verify", help="check checksums and the ONNX test data of an exported model")
    p.add_argument("name")
    p = sub.add_parser("download", help="fetch published models into the cache (sha256-verified)")
    p.add_argument("names", nargs="*")
    p.add_argument("--all", action="store_true", help="every published model")
    p.add_argument("--force", action="store_true", help="download again even when cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = sub.add_parser("reexport", help="convert exported models to ONNX again from their committed weights; "
                       "replace model.onnx only when faster (the card records the command)")
    p.add_argument("names", nargs="*")
    p.add_argument("--all", action="store_true", help="every exported model")
    p.add_argument("--dry-run", action="store_true", help="measure and report, write nothing")
    p.add_argument("--min-speedup", type=float, default=1.1,
                   help="replace only when ONNX Runtime runs the new file this many times as fast (default 1.1)")
    p.add_argument("--no-publish", action="store_true", help="do not publish the release again")
    p = sub.add_parser("publish", help="write release archives of exported models and record them in the release index zoo/data/hub/")
    p.add_argument("names", nargs="*")
    p.add_argument("--all", action="store_true", help="every exported model")
    p.add_argument("--out", default="dist", help="folder for the archives (default: dist/)")
    sub.add_parser("cache", help="where models are found: clone, cache, hub")
    p = sub.add_parser("refit-domain", help="refit a model's out-of-domain score on your unlabelled spectra "
                       "(a new model NEW; the network is unchanged)")
    p.add_argument("name")
    p.add_argument("--table", required=True, help="CSV / Parquet / FITS table: file (and group) columns")
    p.add_argument("--name", dest="new_name", required=True, help="the new model's name (exported/NEW)")
    p.add_argument("--holdout", type=float, default=0.3, help="share of the groups held out to measure "
                   "the false-flag rate (default 0.3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export-dir", default=None, help="where to write NEW (default exported/NEW)")
    args = parser.parse_args(argv)
    from zoo.errors import ZooError
    try:
        return _run(args)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader of stdout went away (`python -m zoo cache | head`): stop quietly, as `cat` does
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141


def _run(args):
    return {"list": _cmd_list, "info": _cmd_info, "demo": _cmd_demo, "predict": _cmd_predict,
            "export": _cmd_export, "verify": _cmd_verify, "download": _cmd_download,
            "publish": _cmd_publish, "reexport": _cmd_reexport, "cache": _cmd_cache, "refit-domain": _cmd_refit_domain}[args.cmd](args)


def _cmd_refit_domain(args):
    from zoo.domain import refit_domain
    refit_domain(args.name, args.table, args.new_name, holdout=args.holdout, seed=args.seed,
                 export_dir=args.export_dir, command="python -m zoo " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
