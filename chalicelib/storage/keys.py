"""The only place S3 keys and DynamoDB keys are built.

S3 bucket layout:
    blobs/<alg>/<hex>                  blob bytes, content addressed, one copy per digest
    manifests/<alg>/<hex>              manifest bytes too large to keep inline in DynamoDB
    uploads/<uuid>/data                target of an upload's S3 multipart upload
    uploads/<uuid>/tail-<nonce>        bytes received but not yet a full part (< min part size)
    (uploads/ is expired by a bucket lifecycle rule; committed blobs are copied out)

DynamoDB single table (PK, SK):
    REPO#<name>       META               repository: created, last push, public; GSI2 (catalog) "CATALOG"/<name>;
                                         tag policy (JSON) and its revision (domain/tag_policy.py)
    REPO#<name>       TAG#<tag>          tag: digest, media type, manifest bytes (inline) or S3 key, push time,
                                         expiry (`expires_at`, not the TTL attribute: the lifecycle run deletes)
    REPO#<name>       MANIFEST#<digest>  manifest: media type, bytes or S3 key, push time, subject,
                                         artifactType, annotations; GSI1 (referrers)
                                         "REF#<name>#<subject>"/<digest>
    REPO#<name>       BLOB#<digest>      repo->blob link: size, S3 key
    REPO#<name>       DERIVED#<digest>#<media type>
                                         a conversion made on read: digest of the derived
                                         manifest (itself stored as MANIFEST#), its bytes
    BLOB#<digest>     META               blob: size, S3 key, link count
    UPLOAD#<uuid>     META               upload session: repo, offset, hash state, multipart
                                         id and parts, tail object; TTL attribute `expires`
"""
from __future__ import annotations

SEP = "#"


def repo_pk(name: str) -> str:
    """Partition key of everything a repository owns."""
    return f"REPO#{name}"


REPO_META_SK = "META"
TAG_PREFIX = "TAG#"
MANIFEST_PREFIX = "MANIFEST#"
BLOB_PREFIX = "BLOB#"
CATALOG_PK = "CATALOG"


DERIVED_PREFIX = "DERIVED#"


def derived_sk(source_digest: str, media_type: str) -> str:
    return f"{DERIVED_PREFIX}{source_digest}#{media_type}"


def tag_sk(tag: str) -> str:
    return f"{TAG_PREFIX}{tag}"


def manifest_sk(digest: str) -> str:
    return f"{MANIFEST_PREFIX}{digest}"


def blob_link_sk(digest: str) -> str:
    return f"{BLOB_PREFIX}{digest}"


def quota_pk(namespace: str) -> str:
    """QUOTA#<ns>: META holds the namespace's limits and stored bytes; BLOB#<digest> items
    count its repositories' links to each blob (storage/quota_ports.py)."""
    return f"QUOTA#{namespace}"


def blob_pk(digest: str) -> str:
    return f"BLOB#{digest}"


def upload_pk(upload_id: str) -> str:
    return f"UPLOAD#{upload_id}"


META_SK = "META"


def referrers_pk(name: str, subject: str) -> str:
    """GSI1 partition of the manifests in `name` whose subject is `subject`."""
    return f"REF#{name}#{subject}"


def blob_key(digest: str) -> str:
    """S3 key of a committed blob (`digest` is `alg:hex`)."""
    alg, hexpart = digest.split(":", 1)
    return f"blobs/{alg}/{hexpart}"


def manifest_key(digest: str) -> str:
    """S3 key of manifest bytes too large for a DynamoDB item."""
    alg, hexpart = digest.split(":", 1)
    return f"manifests/{alg}/{hexpart}"


def upload_data_key(upload_id: str) -> str:
    return f"uploads/{upload_id}/data"


def upload_tail_key(upload_id: str, nonce: str) -> str:
    return f"uploads/{upload_id}/tail-{nonce}"


UPLOADS_PREFIX = "uploads/"


# -- accounts (auth) --------------------------------------------------------
# USER#<name>       META               user or robot (<ns>+<name>): argon2id hash, admin,
#                                      robot namespace, revoked
# USER#<name>       GRANT#NS#<ns>      role (read|write|admin) on a namespace
# USER#<name>       GRANT#REPO#<repo>  role on one repository
# NS#<ns>           META               namespace: owner
# NS#<ns>           MEMBER#<account>   roster: the account's role on the namespace (written with the grant)
# NS#<ns>           MEMBER#<account>#<repo>  roster: its role on a repository of the namespace
# NS#<ns>           ROBOT#<ns>+<name>  roster: a robot of the namespace, revoked flag (written with the robot)
# THROTTLE#<key>#<window start>  META  login attempts reserved in that fixed window
#                                      (TTL `expires`); <key> is user:<name> or ip:<address>
# SETUP#first-admin META               written with the first administrator of a deployment
#                                      (`make admin`), so a second one is refused atomically
GRANT_PREFIX = "GRANT#"
FIRST_ADMIN_PK = "SETUP#first-admin"


def user_pk(name: str) -> str:
    return f"USER#{name}"


def grant_sk(kind: str, target: str) -> str:
    """kind is "NS" or "REPO"."""
    return f"{GRANT_PREFIX}{kind}#{target}"


def namespace_pk(ns: str) -> str:
    return f"NS#{ns}"


MEMBER_PREFIX = "MEMBER#"
ROBOT_PREFIX = "ROBOT#"


def member_sk(account: str, repository: str | None = None) -> str:
    """The roster item of a grant: namespace-wide, or on one repository of the namespace."""
    return f"{MEMBER_PREFIX}{account}" + (f"#{repository}" if repository else "")


def robot_sk(robot: str) -> str:
    return f"{ROBOT_PREFIX}{robot}"


def throttle_pk(key: str, window_start: int) -> str:
    """One item per key and fixed window: a new window is a new item, so no reset write."""
    return f"THROTTLE#{key}#{window_start}"


# -- Docker V1 pull protocol (read-only, synthesised from V2 images) ----------
# V1IMG#<v1 id>     REPO#<name>        layer digest, size, v1 JSON, ancestry (ids, self first)
def v1_image_pk(image_id: str) -> str:
    return f"V1IMG#{image_id}"


# -- Helm chart repository view (domain/helm.py, storage/helm_dynamo.py) --------
# One partition per namespace (the first component of a repository name), so
# index.yaml is one Query of HELM#<ns> with SK prefix CHART#:
# HELM#<ns>         CHART#<name>-<version>          index entry: the chart version served as
#                                                  charts/<name>-<version>.tgz (one per file
#                                                  name, so a download is one GetItem), from
#                                                  manifest <ns>/<name>:<version>: repo,
#                                                  Chart.yaml as JSON, manifest digest, chart
#                                                  and provenance layer digests and sizes,
#                                                  created (ns)
# HELM#<ns>         DIGEST#<repo>#<digest>          which entry the manifest <digest> of <repo>
#                                                  indexed (name, version): deletes find it by
#                                                  one GetItem
# Items of an older layout (CHART#<name>-<version>#<repo>) are skipped when listing.
HELM_ENTRY_PREFIX = "CHART#"


def helm_pk(namespace: str) -> str:
    return f"HELM#{namespace}"


def helm_entry_file_sk(stem: str) -> str:
    """The entry whose download file is `<stem>.tgz` (stem = name-version)."""
    return f"{HELM_ENTRY_PREFIX}{stem}"


def helm_entry_sk(name: str, version: str) -> str:
    return helm_entry_file_sk(f"{name}-{version}")


def helm_digest_sk(repo: str, digest: str) -> str:
    return f"DIGEST#{repo}#{digest}"


# -- direct-to-S3 uploads (domain/direct.py, docs/direct-upload.md) -------------
# S3: the client's presigned PUT or multipart upload lands at upload_data_key(<uuid>)
# (under uploads/, so the lifecycle rule cleans up anything abandoned); only a
# proven blob is copied to blob_key(<digest>). A multipart plan made with the digest
# goes to blob_key(<digest>) itself (session field direct_key), completed there only
# if no object is (If-None-Match: *) and linked once proven (domain/direct_close.py).
# BLOB#<digest>     VERIFYING#<repo>   a direct upload of <digest> into <repo> is being
#                                      verified: upload id; TTL attribute `expires`
#                                      (outside REPO# so tag listings never see it)
def verifying_sk(repo: str) -> str:
    return f"VERIFYING#{repo}"


# -- tag lifecycle (domain/tag_policy.py, domain/retention.py, docs/lifecycle.md) -----
# TAGEXPIRY         <expires at, 10 digits>#<repo>#<tag>   expiry index: repo, tag; written with the
#                                      tag (or its expiry), read by the lifecycle run up to now, so a
#                                      run costs what expired, not the registry; stale entries (tag
#                                      re-pushed or expiry changed) are dropped when met
# TAGPOLICY         <repo>               the repository has a tag policy (retention runs visit it)
EXPIRY_PK = "TAGEXPIRY"
POLICY_INDEX_PK = "TAGPOLICY"


def expiry_sk(expires_at: int, repo: str, tag: str) -> str:
    """Sorts by time (fixed width), then repository and tag (neither may contain '#')."""
    return f"{int(expires_at):010d}#{repo}#{tag}"


def expiry_sk_upto(now: int) -> str:
    """Every entry due at `now` sorts below this."""
    return f"{int(now) + 1:010d}"
# -- metering and events (domain/metering.py, domain/events.py, docs/metering.md) --------
# USAGE#<yyyy-mm-dd>  NS#<ns>          a namespace's counters for one UTC day (requests, pulls,
#                                      pushes, bytes_served, bytes_uploaded), atomic ADDs: a
#                                      billing export of a day is one Query, a namespace's
#                                      range one BatchGetItem per 100 days
# NS#<ns>           WEBHOOK#<id>       a webhook of the namespace: URL, HMAC secret, event types
# NS#<ns>           WEBHOOKS           how many webhooks the namespace has (capped atomically)
WEBHOOK_PREFIX = "WEBHOOK#"
WEBHOOK_COUNT_SK = "WEBHOOKS"
USAGE_NS_PREFIX = "NS#"


def usage_pk(day: str) -> str:
    return f"USAGE#{day}"


def usage_sk(namespace: str) -> str:
    return f"{USAGE_NS_PREFIX}{namespace}"


def webhook_sk(webhook_id: str) -> str:
    return f"{WEBHOOK_PREFIX}{webhook_id}"
