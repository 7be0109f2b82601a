"""Upload sessions (chunked and direct-to-S3) on the DynamoDB table (part of
DynamoMetadataStore): every save is conditional on the offset the caller read."""
from __future__ import annotations

import json
import time
from typing import Optional

from pynamodb.exceptions import DoesNotExist

from . import keys
from .dynamo_models import UploadItem, VerifyingItem, conditional
from .ports import UploadSession


class UploadTables:
    """The upload-session half of DynamoMetadataStore."""

    def create_upload(self, session: UploadSession) -> None:
        """Store a new session (its id is fresh, so this never overwrites). A failed
        condition can only be this very write, retried by the SDK after a timeout
        whose first attempt had landed: that is success, not an error."""
        conditional(lambda: self._upload_item(session).save(condition=UploadItem.pk.does_not_exist()))

    def get_upload(self, upload_id: str) -> Optional[UploadSession]:
        """One consistent read of a session; expired ones count as missing."""
        try:
            it = UploadItem.get(keys.upload_pk(upload_id), keys.META_SK, consistent_read=True)
        except DoesNotExist:
            return None
        if it.expires and it.expires < time.time():
            return None
        return UploadSession(
            upload_id=upload_id, repo=it.repo, offset=int(it.offset or 0),
            hash_state=it.hash_state or b"", mpu_id=it.mpu_id,
            parts=json.loads(it.parts) if it.parts else [], tail_key=it.tail_key,
            tail_size=int(it.tail_size or 0), expires=int(it.expires or 0),
            tail_inline=it.tail_inline,
            direct=it.direct, direct_size=int(it.direct_size or 0), direct_digest=it.direct_digest,
            part_size=int(it.part_size or 0), direct_state=it.direct_state,
            verify_state=it.verify_state or b"", copy_mpu_id=it.copy_mpu_id,
            copy_parts=json.loads(it.copy_parts) if it.copy_parts else [],
            direct_key=it.direct_key, direct_etag=it.direct_etag,
        )

    def save_upload(self, session: UploadSession, expected_offset: int) -> bool:
        """Write the session only if nobody advanced it since `expected_offset`."""
        return conditional(lambda: self._upload_item(session).save(
            condition=UploadItem.pk.exists() & (UploadItem.offset == expected_offset)))

    def delete_upload(self, upload_id: str) -> None:
        """Forget a session."""
        UploadItem(keys.upload_pk(upload_id), keys.META_SK).delete()

    @staticmethod
    def _upload_item(s: UploadSession) -> UploadItem:
        return UploadItem(
            keys.upload_pk(s.upload_id), keys.META_SK, repo=s.repo, offset=s.offset,
            hash_state=s.hash_state or None, mpu_id=s.mpu_id,
            parts=json.dumps(s.parts) if s.parts else None, tail_key=s.tail_key,
            tail_size=s.tail_size, expires=s.expires, tail_inline=s.tail_inline or None,
            direct=s.direct, direct_size=s.direct_size or None, direct_digest=s.direct_digest,
            part_size=s.part_size or None, direct_state=s.direct_state,
            verify_state=s.verify_state or None, copy_mpu_id=s.copy_mpu_id,
            copy_parts=json.dumps(s.copy_parts) if s.copy_parts else None,
            direct_key=s.direct_key, direct_etag=s.direct_etag,
        )

    # -- direct uploads -----------------------------------------------------
    def start_direct(self, session: UploadSession) -> bool:
        """Turn a fresh session into a direct one; False if it was planned or fed already."""
        return conditional(lambda: self._upload_item(session).save(
            condition=UploadItem.pk.exists() & UploadItem.direct.does_not_exist()
            & (UploadItem.offset == 0)))

    def mark_verifying(self, repo: str, digest: str, upload_id: str, expires: int) -> None:
        """Note that a direct upload of `digest` into `repo` is being verified."""
        VerifyingItem(keys.blob_pk(digest), keys.verifying_sk(repo), upload_id=upload_id,
                      expires=expires).save()

    def clear_verifying(self, repo: str, digest: str) -> None:
        VerifyingItem(keys.blob_pk(digest), keys.verifying_sk(repo)).delete()

    def verifying(self, repo: str, digests: list[str]) -> list[str]:
        """Which of `digests` a direct upload into `repo` is verifying (one BatchGetItem per 100)."""
        now = time.time()
        found = {it.pk[len("BLOB#"):] for it in VerifyingItem.batch_get(
            [(keys.blob_pk(d), keys.verifying_sk(repo)) for d in dict.fromkeys(digests)])
            if not it.expires or it.expires >= now}
        return [d for d in digests if d in found]

