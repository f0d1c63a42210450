#!/usr/bin/env python3
"""compare_logits.py - two raw float32 logit files of `r1 eval-whisper`
([n_tokens][n_vocab]) compared: their relative rms difference must be below
a bound, and with --same-argmax every position must pick the same token.
Prints the figures on stderr. Standard library only.

    compare_logits.py REFERENCE OTHER MAX_RELATIVE_RMS [--same-argmax] [--n-vocab N]
"""
import array
import sys


def main(argv):
    same_argmax = "--same-argmax" in argv
    n_vocab = int(argv[argv.index("--n-vocab") + 1]) if "--n-vocab" in argv else 51865
    ref_path, other_path, bound = argv[1], argv[2], float(argv[3])
    a, b = array.array("f"), array.array("f")
    a.frombytes(open(ref_path, "rb").read())
    b.frombytes(open(other_path, "rb").read())
    if len(a) != len(b) or len(a) == 0 or len(a) % n_vocab:
        print(f"{other_path}: {len(b)} values, the reference {len(a)} (rows of {n_vocab})", file=sys.stderr)
        return 1
    rel = (sum((x - y) ** 2 for x, y in zip(a, b)) / sum(x * x for x in a)) ** 0.5
    rows = len(a) // n_vocab
    same = 0
    for r in range(rows):
        row_a, row_b = a[r * n_vocab:(r + 1) * n_vocab], b[r * n_vocab:(r + 1) * n_vocab]
        same += max(range(n_vocab), key=row_a.__getitem__) == max(range(n_vocab), key=row_b.__getitem__)
    name = other_path.rsplit("/", 1)[-1]
    print(f"  {name}: relative rms difference {rel:.4f}, same argmax at {same}/{rows} positions", file=sys.stderr)
    return 0 if rel < bound and (not same_argmax or same == rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
