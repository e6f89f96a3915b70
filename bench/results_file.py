"""The benchmarks' results files, which the READMEs quote: `bench/results/<bench>.json`.

Each holds one run's results with what produced them: the command, date, commit (and the
tracked files modified since), host (CPU, cores, vector features) and the load average when
it finished (the machine may be shared: timings taken under load compare only within a run).
Running the command again replaces the file.
"""

import datetime
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, "bench", "results")

from kind_tf import recipe


def write(bench, results):
    """Writes `results` (JSON-serializable) of `bench` (the script's name) with the run's
    provenance to `bench/results/<bench>.json`; returns the path."""
    commit, modified = recipe.git_commit()
    record = {
        "bench": bench,
        "command": " ".join(["python", "-m", sys.modules["__main__"].__spec__.name,
                             *sys.argv[1:]]),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": commit,
        "modified": modified,
        "host": recipe.cpu_description(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "results": results,
    }
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{bench}.json")
    with open(path, "w") as file:
        json.dump(record, file, indent=1)
        file.write("\n")
    print(f"results written to {os.path.relpath(path, ROOT)}")
    return path
