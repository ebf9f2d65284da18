#!/usr/bin/env python3
"""`mlxr run --json` end to end on stories260K: greedy ids and text equal llama2.c's."""
import json
import os
import subprocess
import sys

mlxr = sys.argv[1]
source_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
data = os.environ.get("MLXR_TEST_DATA") or os.path.join(source_dir, "..", "shared", "data")
refs = os.path.join(data, "stories260K", "reference_greedy.jsonl")
if not os.path.exists(refs):
    print(f"*** SKIPPED: {refs} not found (set MLXR_TEST_DATA) ***")
    sys.exit(77)

failures = 0
for line in open(refs, encoding="utf-8"):
    row = json.loads(line)
    n = len(row["generated_tokens"])
    cmd = [mlxr, "run", "-m", os.path.join(data, "stories260K", "stories260K.bin"), "--temp", "0",
           "-n", str(n), "--ignore-eos", "--json", "-t", "1"]
    if row["prompt"]:
        cmd += ["-p", row["prompt"]]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    # run.c echoes the prompt and drops the first piece's leading space after BOS.
    expected_text = row["output"][len(row["prompt"]):] if row["prompt"] else row["output"]
    ok = (out["prompt_tokens"] == row["prompt_tokens"] and out["generated_tokens"] == row["generated_tokens"])
    text_ok = out["text"].lstrip(" ") == expected_text.lstrip(" ")
    print(f"{'ok  ' if ok and text_ok else 'FAIL'} prompt={row['prompt']!r} tokens={ok} text={text_ok}")
    if not (ok and text_ok):
        failures += 1
        print("  expected:", expected_text[:120].encode("unicode_escape").decode())
        print("  got:     ", out["text"][:120].encode("unicode_escape").decode())
sys.exit(1 if failures else 0)
