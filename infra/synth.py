"""`make synth`: write a deployable SAM/CloudFormation template to infra/out/.

`chalice package` builds the Lambda zip and the API; infra/resources.json
adds the DynamoDB table, the S3 bucket and the function's IAM policy, and
wires their names into the function's environment. No AWS account needed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "infra" / "out"


def main() -> int:
    """Package the app for the stage given as argv[1] (default dev)."""
    stage = sys.argv[1] if len(sys.argv) > 1 else "dev"
    chalice = Path(sys.executable).with_name("chalice")
    cmd = [str(chalice), "package", "--stage", stage, "--pkg-format", "cloudformation",
           "--merge-template", str(ROOT / "infra" / "resources.json"), str(OUT)]
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    subprocess.run(cmd, cwd=ROOT, check=True, env=env)
    template = json.loads((OUT / "sam.json").read_text())
    api = template["Resources"].get("RestAPI", {}).get("Properties", {})
    body = api.get("DefinitionBody", {})
    if "*/*" not in body.get("x-amazon-apigateway-binary-media-types", []):
        raise SystemExit("binary media type */* missing from the API definition")
    print(f"wrote {OUT / 'sam.json'} and {OUT / 'deployment.zip'}; deploy with "
          f"`aws cloudformation package/deploy` or `sam deploy`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
