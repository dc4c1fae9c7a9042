"""Pilot: gold N sentences (the run's seeded subset) + the rest of the train split labelled by a teacher."""
import json, subprocess, sys
from modeling_xlner.training.data import load_data
from modeling_xlner.training.trainer import take_train_samples

train_file, size, seed, teacher, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = [json.loads(line) for line in open(train_file, encoding="utf-8")]
gold_texts = set(take_train_samples(load_data(train_file), size, seed)["text"])
gold = [r for r in rows if r["text"] in gold_texts]
rest = [r for r in rows if r["text"] not in gold_texts]
print(len(gold), "gold", len(rest), "to label", file=sys.stderr)
inp = "\n".join(json.dumps({"text": r["text"]}, ensure_ascii=False) for r in rest) + "\n"
open(out + ".in", "w", encoding="utf-8").write(inp)
done = subprocess.run(["xlner", "predict", "--model", teacher, "--input", out + ".in", "--threads", "1", "--no-progress"], capture_output=True, text=True, check=True)
preds = [json.loads(line) for line in done.stdout.splitlines()]
assert len(preds) == len(rest)
with open(out, "w", encoding="utf-8") as f:
    for r in gold:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
    for r, p in zip(rest, preds):
        ents = [{"name": e["text"], "span": [e["start"], e["end"]], "type": e["type"]} for e in p["entities"]]
        f.write(json.dumps({"curid": r.get("curid"), "text": r["text"], "entities": ents}, ensure_ascii=False) + "\n")
