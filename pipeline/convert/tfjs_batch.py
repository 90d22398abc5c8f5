"""Every TF.js variant of one SavedModel in one converter process (run by envs/tfjs's Python).

    envs/tfjs/.venv/bin/python pipeline/convert/tfjs_batch.py JOBS.json

JOBS.json: {"savedmodel": DIR, "common": [converter flags], "jobs": [{"flags": [...], "out": DIR}]}.
Importing tensorflowjs (and its TensorFlow) is most of a conversion's time, so the variants share
one import. Each job's outcome goes back in {"results": [{"out": DIR, "error": "" or its words}]}
written to the path in argv[2]. Imports nothing of the pipeline: this runs in another environment.
"""

import json
import sys
import traceback


def main(request_path: str, result_path: str) -> int:
    with open(request_path) as f:
        request = json.load(f)
    from tensorflowjs.converters import converter

    results = []
    for job in request["jobs"]:
        try:
            converter.convert(
                [*request["common"], *job["flags"], request["savedmodel"], job["out"]]
            )
            results.append({"out": job["out"], "error": ""})
        except Exception as exc:  # one variant's failure is its own
            lines = [ln for ln in traceback.format_exception_only(exc) if ln.strip()]
            results.append({"out": job["out"], "error": lines[-1].strip()})
    with open(result_path, "w") as f:
        json.dump({"results": results}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
