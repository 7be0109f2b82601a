"""`make synth [STAGE=dev] [FRONT=function-url|http-api|rest|all] [DOMAIN=...]`.

Writes infra/out/<stage>/<front>.json (a SAM template) and the Lambda package
infra/out/<stage>/deployment.zip beside it, then checks the template with
cfn-lint. Needs no AWS account or credentials.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from . import template
from .settings import ARCHITECTURE, FRONTS, ROOT, DeploySettings, SettingError

OUT = ROOT / "infra" / "out"
# ELF e_machine of the architecture the function runs on.
_ELF_MACHINE = {"arm64": 183, "x86_64": 62}


def package(stage: str, out: Path = OUT) -> dict[str, Any]:
    """Run `chalice package` for `stage`; returns its sam.json (the zip stays beside it)."""
    target = out / stage / "chalice"
    shutil.rmtree(target, ignore_errors=True)
    chalice = Path(sys.executable).with_name("chalice")
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    subprocess.run([str(chalice), "package", "--stage", stage, "--pkg-format", "cloudformation", str(target)],
                   cwd=ROOT, check=True, env=env, stdout=subprocess.DEVNULL)
    check_architecture(target / "deployment.zip", ARCHITECTURE)
    return json.loads((target / "sam.json").read_text())


def check_architecture(zip_path: Path, arch: str) -> None:
    """Every native library in the package must be built for the function's architecture."""
    wrong = []
    with zipfile.ZipFile(zip_path) as z:
        for name in z.namelist():
            if ".so" not in name.rsplit("/", 1)[-1]:
                continue
            head = z.open(name).read(20)
            if head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") != _ELF_MACHINE[arch]:
                wrong.append(name)
    if wrong:
        raise SystemExit(f"{zip_path}: not built for {arch}: {', '.join(wrong[:5])}")


def write(sam: dict[str, Any], s: DeploySettings, out: Path = OUT) -> Path:
    """Build and write the template of `s`; the zip is copied next to it."""
    t = template.build(sam, s)
    stage_dir = out / s.stage
    stage_dir.mkdir(parents=True, exist_ok=True)
    zip_src = stage_dir / "chalice" / "deployment.zip"
    if zip_src.exists():
        shutil.copyfile(zip_src, stage_dir / "deployment.zip")
    path = stage_dir / f"{s.front}.json"
    path.write_text(json.dumps(t, indent=1, sort_keys=False) + "\n")
    return path


def lint(paths: list[Path]) -> int:
    """cfn-lint every template (it validates the SAM resources against SAM's schemas)."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    return subprocess.run([str(cfn_lint), *map(str, paths)]).returncode


def main() -> int:
    env = dict(os.environ)
    fronts = list(FRONTS) if env.get("FRONT") == "all" else [env.get("FRONT") or ""]
    try:
        settings = [DeploySettings.from_env({**env, "FRONT": f}) for f in fronts]
    except SettingError as err:
        print(f"synth: {err}", file=sys.stderr)
        return 2
    sam = package(settings[0].stage)
    paths = [write(sam, s) for s in settings]
    rc = lint(paths)
    for p in paths:
        print(f"wrote {p.relative_to(ROOT)}" + ("" if rc else " (cfn-lint clean)"))
    print(f"Lambda package: {(OUT / settings[0].stage / 'deployment.zip').relative_to(ROOT)} ({ARCHITECTURE})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
