#!/usr/bin/env python3
"""Compare the `bench --profile` tables of two result folders, operation by operation.

    python3 bench/profile-diff.py OLD_DIR NEW_DIR [--top N]

Each folder holds the JSON of `bench --json --profile` as written by bench/gpu-all.sh (d4j-train.json with
training.profile_one_step, d4j-sample.json with sampling.profile_one_model_eval). For the training step and for the
model evaluation, prints the operations whose GPU time changed most (ms and calls, old -> new), the operations that
appear in only one of the two, and the totals, so that a run shows at once which kernel a change sped up or slowed
down (session 12's register-held GroupNorm: 3.80 -> 6.08 ms per evaluation). Timings of different cards are not
comparable; the script says so when the folders' machine.txt name different GPUs.
"""
import argparse
import json
import os
import sys


def load(folder, name, *keys):
    path = os.path.join(folder, name)
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError):
        return None
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return {row["op"]: row for row in d} if isinstance(d, list) else None


def gpu_name(folder):
    try:
        lines = open(os.path.join(folder, "machine.txt")).read().splitlines()
    except OSError:
        return None
    for i, line in enumerate(lines[:-1]):
        if line.startswith("name, driver_version"):
            return lines[i + 1].split(",")[0].strip()
    return None


def table(title, old, new, top):
    print(f"### {title}")
    if old is None or new is None:
        print(f"(no profile in {'the old' if old is None else 'the new'} folder)\n")
        return
    total_old = sum(r["ms"] for r in old.values())
    total_new = sum(r["ms"] for r in new.values())
    print(f"total {total_old:.3f} -> {total_new:.3f} ms ({total_new - total_old:+.3f})\n")
    rows = []
    for op in set(old) | set(new):
        o, n = old.get(op), new.get(op)
        rows.append((op, o["ms"] if o else 0.0, n["ms"] if n else 0.0, o["calls"] if o else 0, n["calls"] if n else 0))
    rows.sort(key=lambda r: -abs(r[2] - r[1]))
    print("| operation | old ms (calls) | new ms (calls) | change ms |")
    print("|---|---|---|---|")
    for op, om, nm, oc, nc in rows[:top]:
        old_cell = f"{om:.3f} ({oc})" if oc else "—"
        new_cell = f"{nm:.3f} ({nc})" if nc else "—"
        print(f"| {op} | {old_cell} | {new_cell} | {nm - om:+.3f} |")
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--top", type=int, default=15, help="rows per table (default 15)")
    a = p.parse_args()
    for folder in (a.old, a.new):
        if not os.path.isdir(folder):
            sys.exit(f"profile-diff: {folder} is not a folder")
    g_old, g_new = gpu_name(a.old), gpu_name(a.new)
    print(f"## Profile changes: {a.old} ({g_old or 'GPU not recorded'}) -> {a.new} ({g_new or 'GPU not recorded'})\n")
    if g_old and g_new and g_old != g_new:
        print(f"Different GPUs ({g_old} vs {g_new}): the changes mix the cards' speeds with the code's.\n")
    table("training step", load(a.old, "d4j-train.json", "training", "profile_one_step"),
          load(a.new, "d4j-train.json", "training", "profile_one_step"), a.top)
    table("model evaluation", load(a.old, "d4j-sample.json", "sampling", "profile_one_model_eval"),
          load(a.new, "d4j-sample.json", "sampling", "profile_one_model_eval"), a.top)


if __name__ == "__main__":
    main()
