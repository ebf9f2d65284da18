#!/usr/bin/env python3
"""`mlxr tokenize --ids --raw` on llama.cpp's vocabulary files equals their test vectors."""
import glob
import os
import subprocess
import sys

mlxr = sys.argv[1]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
data = os.environ.get("MLXR_TEST_DATA") or os.path.join(root, "..", "shared", "data")
vocabs = sorted(glob.glob(os.path.join(data, "llama.cpp-vocab", "*.gguf.inp")))
if not vocabs:
    print(f"*** SKIPPED: no llama.cpp-vocab vectors under {data} (set MLXR_TEST_DATA) ***")
    sys.exit(77)
SEP = "\n__ggml_vocab_test__\n"
failures = 0
for inp in vocabs:
    gguf = inp[:-len(".inp")]
    texts = open(inp, encoding="utf-8").read().split(SEP)[:-1]
    expected = [line.split() for line in open(gguf + ".out", encoding="utf-8").read().split("\n")[:len(texts)]]
    # Every third case keeps the run short; the full vectors run in mlxr_test_tokenizer.
    for text, want in list(zip(texts, expected))[::3]:
        got = subprocess.run([mlxr, "tokenize", "-m", gguf, "--ids", "--raw", "-f", "-"], input=text.encode(),
                             check=True, capture_output=True).stdout.decode().split()
        if got != want:
            failures += 1
            print(f"FAIL {os.path.basename(gguf)} {text[:40]!r}: {got[:12]} != {want[:12]}")
    print(f"checked {os.path.basename(gguf)}")
sys.exit(1 if failures else 0)
