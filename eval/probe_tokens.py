"""Do the codec's tokens hold the notes? A linear probe from tokens to the chord sounding at a frame.

For the items of a token cache whose controls are exact (the composer's rendered pieces, ``source`` "composer"), every
5th frame with a chord gives one example: the bag of the LM codebooks' tokens over the 9 frames around it (one-hot,
``n_q × codebook_size`` features) → the 12 pitch classes of its chord (multi-hot). One logistic regression per pitch
class is fitted on the train split and scored on the valid split (ROC AUC; 0.5 = the tokens say nothing about that
pitch class). The same probe on the beat group (is a beat within 2 frames?) shows what the tokens do carry.

    python -m audiogen.eval.probe_tokens TOKENS_DIR [--source composer] [--items 200]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

HEADING = "## Codec tokens: what they hold (linear probe)"


def examples(cache, split: str, source: str, n_items: int, n_q: int, target: str):
    """Sparse features ``[N, n_q * card]`` and targets (``[N, 12]`` chord pitch classes, or ``[N, 1]`` beat)."""
    from scipy import sparse

    from audiogen.controls import layout

    idx = [i for i in cache.split(split) if cache[i].record.get("source") == source][:n_items]
    feats, ys = [], []
    for i in idx:
        codes = np.asarray(cache.codes(i))[:n_q]
        ctl = cache.controls(i)
        if ctl is None:
            continue
        ctl = np.asarray(ctl, np.float32)
        for f in range(10, codes.shape[1] - 10, 5):
            if target == "chords":
                if ctl[f, layout.CHORD_ON] < 0.5 or ctl[f, layout.CHORD].sum() == 0:
                    continue
                ys.append(ctl[f, layout.CHORD] > 0.5)
            else:
                ys.append([ctl[f - 2 : f + 3, layout.BEAT].max() > 0.85])
            feats.append(np.concatenate([k * cache.card + codes[k, f - 4 : f + 5] for k in range(n_q)]))
    if not feats:
        raise ValueError(f"no {split} examples of source {source!r} with controls in {cache.dir}")
    cols = np.concatenate(feats)
    rows = np.repeat(np.arange(len(feats)), len(feats[0]))
    x = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(feats), n_q * cache.card))
    return x, np.asarray(ys)


def probe(cache_dir: str, source: str = "composer", items: int = 200, n_q: int = 4) -> dict:
    """ROC AUC per target of the token probe (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from audiogen.data.token_cache import TokenCache

    cache = TokenCache(cache_dir)
    out = {}
    for target in ("chords", "beat"):
        xtr, ytr = examples(cache, "train", source, items, n_q, target)
        xte, yte = examples(cache, "valid", source, max(items // 3, 1), n_q, target)
        aucs = []
        for j in range(ytr.shape[1]):
            if len(set(ytr[:, j])) < 2 or len(set(yte[:, j])) < 2:
                continue
            model = LogisticRegression(C=0.5, max_iter=300).fit(xtr, ytr[:, j])
            aucs.append(float(roc_auc_score(yte[:, j], model.predict_proba(xte)[:, 1])))
        out[target] = {"auc": [round(a, 3) for a in aucs], "mean_auc": round(float(np.mean(aucs)), 3),
                       "train": int(xtr.shape[0]), "valid": int(xte.shape[0])}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m audiogen.eval.probe_tokens", description=__doc__.split("\n")[0])
    ap.add_argument("cache", help="token cache folder with controls")
    ap.add_argument("--source", default="composer", help="record source whose controls are exact (default composer)")
    ap.add_argument("--items", type=int, default=200, help="train items (valid: a third of it)")
    ap.add_argument("--n-q", type=int, default=4, help="codebooks probed (default 4, the LM's)")
    ap.add_argument("--benchmarks", default="BENCHMARKS.md", help="file whose section is rewritten ('' = none)")
    args = ap.parse_args(argv)
    result = probe(args.cache, args.source, args.items, args.n_q)
    print(json.dumps(result, indent=1))
    if args.benchmarks:
        from audiogen.eval.report import command_line, machine, replace_section, table, today

        rows = [[t, f"{r['mean_auc']:.3f}", f"{min(r['auc']):.3f}–{max(r['auc']):.3f}", f"{r['train']} / {r['valid']}"]
                for t, r in result.items()]  # fmt: skip
        replace_section(args.benchmarks, HEADING, [
            f"Command: `{command_line('python -m audiogen.eval.probe_tokens', argv)}`  ",
            f"Machine: {machine()}; date {today()}. A linear probe (logistic regression) from the bag of the first "
            f"{args.n_q} codebooks' tokens over 9 frames to what the exact plan controls of the rendered composer "
            "pieces say about the middle frame; ROC AUC on the valid split (0.5 = the tokens carry nothing of it).",
            "",
            *table(["target", "mean AUC", "range over targets", "examples train / valid"], rows),
        ])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
