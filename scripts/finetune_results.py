"""Print the docs/finetune.md tables from the committed results: the cross-validation files in
docs/results/*.json (written by `python -m training.<model> --train-table T --cv K`) and the
cards of the models trained or refit on real spectra (exported/*/card.json with a base_model).

    python scripts/finetune_results.py > /tmp/results.md
"""
import glob
import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ci(x, key):
    lo, hi = x[f"{key}_ci95"]
    return f"{x[key]:.2f} [{lo:.2f}, {hi:.2f}]"


def main():
    print("| model | table | held-out spectra | pretrained unchanged | fine-tuned | from scratch | PCA baseline | run |")
    print("|---|---|---|---|---|---|---|---|")
    for f in sorted(glob.glob(os.path.join(REPO, "docs", "results", "*.json"))):
        r = json.load(open(f))
        for row in r["results"]:
            for head in row["pretrained"]:
                cells = [ci(row[m][head], "accuracy" if "accuracy" in row[m][head] else "scatter") if m in row else "-"
                         for m in ("pretrained", "finetuned", "scratch", "baseline")]
                print(f"| {r['model']} ({head}) | {os.path.basename(r['table'])}, {r['n_spectra']} spectra, "
                      f"train size {row['train_size']} | {row['n_held_out']} ({r['folds']} folds) | "
                      + " | ".join(cells) + f" | {r['wall_time_minutes']:.0f} min |")
    print()
    print("| model | base | what | validation: base unchanged | validation: trained | simulated test: base | "
          "simulated test: trained | epochs (best) |")
    print("|---|---|---|---|---|---|---|---|")
    for f in sorted(glob.glob(os.path.join(REPO, "exported", "*", "card.json"))):
        c = json.load(open(f))
        rec = c.get("recipe") or {}
        if not rec.get("base_model"):
            continue
        ev = (c.get("metrics") or {}).get("finetune_evaluation")
        if ev:
            v, s = ev["val"], ev.get("simulated_test", {})
            head = next(iter(v["trained"]))
            fit = c["metrics"]["fit"]
            cell = lambda d: ci(d[head], "accuracy") if d and head in d else "-"  # noqa: E731
            print(f"| {c['name']} | {rec['base_model']} | {rec['start_from']} on {c['data']['train_table']} "
                  f"({fit['train_spectra']} real + {fit['simulated_spectra']} simulated) | {cell(v['pretrained_unchanged'])} | "
                  f"{cell(v['trained'])} | {cell(s.get('pretrained_unchanged'))} | {cell(s.get('trained'))} | "
                  f"{fit['epochs_run']} ({fit['best_epoch']}) |")
        elif "refit" in (c.get("trust") or {}):
            r = c["trust"]["refit"]
            n = r["held_out_spectra"]
            lo, hi = r["false_flag_ci95"]
            blo, bhi = r["base_false_flag_ci95"]
            print(f"| {c['name']} | {rec['base_model']} | domain score refit on {r['table']} | held-out false flags "
                  f"{r['base_false_flag_rate_held_out'] * n:.0f}/{n} ({r['base_false_flag_rate_held_out']:.2f} "
                  f"[{blo:.2f}, {bhi:.2f}]) | {r['false_flag_rate_held_out'] * n:.0f}/{n} "
                  f"({r['false_flag_rate_held_out']:.2f} [{lo:.2f}, {hi:.2f}]) | - | - | - |")


if __name__ == "__main__":
    main()
