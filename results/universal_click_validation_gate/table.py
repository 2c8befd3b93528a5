import json, sys, glob
root = sys.argv[1]
rows = {}
for d in sorted(glob.glob(f"{root}/universal_click_*")):
    s = json.load(open(f"{d}/summary.json"))
    cell = d.split("universal_click_")[-1]
    for m, v in s["own"].items():
        a = v["dsc_at_clicks"]
        rows.setdefault(m, {})[cell] = (a["5"], a["10"])
cells = sorted({c for r in rows.values() for c in r})
print("method".ljust(18), " ".join(c[:18].ljust(18) for c in cells), "mean@5 mean@10")
for m, r in rows.items():
    v = [r[c] for c in cells]
    print(m.ljust(18), " ".join(f"{a:.3f}/{b:.3f}".ljust(18) for a, b in v),
          f"{sum(a for a,_ in v)/len(v):.3f} {sum(b for _,b in v)/len(v):.3f}")
if len(sys.argv) > 2:
    for d in sorted(glob.glob(f"{root}/universal_click_*")):
        s = json.load(open(f"{d}/summary.json"))
        print(d.split("/")[-1], json.dumps({m: {st: [round(x, 2) for x in (v if isinstance(v, list) else v.values())] for st, v in ps.items()} for m, ps in s.get("own_per_structure", {}).items()}))
