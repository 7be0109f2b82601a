"""Deployment settings, read from the environment (make variables) once.

Everything a deployment can choose lives here; the template builder takes a
`DeploySettings` and nothing else from the environment.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRONTS = ("function-url", "http-api", "rest")
# The cheapest front door that serves registry clients at the host root (docs/deploy.md).
DEFAULT_FRONT = "function-url"
ARCHITECTURE = "arm64"  # every runtime wheel exists for it; 20% cheaper per GB-second

_STAGE_RE = re.compile(r"[a-z][a-z0-9-]{0,19}")
_DOMAIN_RE = re.compile(r"(?=.{4,253}\Z)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_CERT_RE = re.compile(r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}")
_ZONE_RE = re.compile(r"Z[A-Z0-9]{1,31}")
_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")


class SettingError(ValueError):
    """A deployment setting has a value the template cannot use."""


@dataclass(frozen=True)
class DeploySettings:
    """What `make synth/deploy` build: one stage, one front door, an optional domain."""

    stage: str = "dev"
    front: str = DEFAULT_FRONT
    domain: str = ""            # custom domain (registry.example.com), optional
    certificate_arn: str = ""   # ACM certificate for it (us-east-1 for CloudFront); else created
    hosted_zone_id: str = ""    # Route 53 zone: DNS validation of a created certificate + alias record
    log_retention_days: int = 30
    region: str = "us-east-1"

    @property
    def stack_name(self) -> str:
        return f"oci-registry-{self.stage}"

    @classmethod
    def from_env(cls, env: "dict[str, str] | None" = None) -> "DeploySettings":
        e = os.environ if env is None else env
        try:
            retention = int(e.get("LOG_RETENTION_DAYS") or 30)
        except ValueError:
            raise SettingError(f"LOG_RETENTION_DAYS={e.get('LOG_RETENTION_DAYS')!r} is not a number") from None
        s = cls(stage=e.get("STAGE") or "dev", front=e.get("FRONT") or DEFAULT_FRONT,
                domain=(e.get("DOMAIN") or "").strip().lower().rstrip("."),
                certificate_arn=(e.get("CERTIFICATE_ARN") or "").strip(),
                hosted_zone_id=(e.get("HOSTED_ZONE_ID") or "").strip(),
                log_retention_days=retention,
                region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1")
        s.validate()
        return s

    def validate(self) -> None:
        """Refuse settings that would give a broken or surprising stack."""
        if not _STAGE_RE.fullmatch(self.stage):
            raise SettingError(f"STAGE={self.stage!r}: lowercase letters, digits and -, at most 20")
        if self.front not in FRONTS:
            raise SettingError(f"FRONT={self.front!r}: one of {', '.join(FRONTS)}")
        if not _REGION_RE.fullmatch(self.region):
            raise SettingError(f"AWS region {self.region!r} is not a region name")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise SettingError(f"LOG_RETENTION_DAYS={self.log_retention_days}: one of "
                               f"{', '.join(map(str, LOG_RETENTION_DAYS))}")
        if self.domain and not _DOMAIN_RE.fullmatch(self.domain):
            raise SettingError(f"DOMAIN={self.domain!r} is not a DNS name")
        if (self.certificate_arn or self.hosted_zone_id) and not self.domain:
            raise SettingError("CERTIFICATE_ARN and HOSTED_ZONE_ID need DOMAIN")
        if self.certificate_arn and not _CERT_RE.fullmatch(self.certificate_arn):
            raise SettingError(f"CERTIFICATE_ARN={self.certificate_arn!r} is not an ACM certificate ARN")
        if self.hosted_zone_id and not _ZONE_RE.fullmatch(self.hosted_zone_id):
            raise SettingError(f"HOSTED_ZONE_ID={self.hosted_zone_id!r} is not a Route 53 zone id")
        if self.domain and not (self.certificate_arn or self.hosted_zone_id):
            raise SettingError("DOMAIN needs CERTIFICATE_ARN (an issued ACM certificate) or "
                               "HOSTED_ZONE_ID (to create and validate one by DNS)")
        if (self.domain and self.front == "function-url" and not self.certificate_arn
                and self.region != "us-east-1"):
            raise SettingError("CloudFront takes certificates from us-east-1 only: deploy in us-east-1 "
                               "or pass CERTIFICATE_ARN of a us-east-1 certificate")
        if self.domain and self.front == "function-url" and ":acm:" in self.certificate_arn \
                and ":acm:us-east-1:" not in self.certificate_arn:
            raise SettingError("CloudFront takes certificates from us-east-1 only")


# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)


def chalice_config() -> dict:
    """The project's .chalice/config.json (memory, timeout and variables per stage)."""
    return json.loads((ROOT / ".chalice" / "config.json").read_text())


def stage_value(key: str, stage: str, default: object = None) -> object:
    """A Chalice setting for `stage`, falling back to the top level as Chalice does."""
    cfg = chalice_config()
    return cfg.get("stages", {}).get(stage, {}).get(key, cfg.get(key, default))
