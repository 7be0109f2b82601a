"""S3 adapter of the BlobStore port."""
from __future__ import annotations

from typing import Any, Callable, Optional

FIVE_GIB = 5 * 1024**3


class S3BlobStore:
    """Blob bytes in one S3 bucket; presigning is local (no API call).

    The client comes from a factory on first use, so requests that never touch
    S3 (manifest and tag reads) do not pay for building it on a cold start.
    """

    def __init__(self, client_factory: Callable[[], Any], bucket: str) -> None:
        self._factory = client_factory
        self._client: Any = None
        self._bucket = bucket

    @property
    def _s3(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def put(self, key: str, data: bytes) -> None:
        """Write a whole object."""
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        """Read a whole (small) object."""
        return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()

    def size(self, key: str) -> Optional[int]:
        """The object's size, or None when there is no such object."""
        try:
            return int(self._s3.head_object(Bucket=self._bucket, Key=key)["ContentLength"])
        except Exception as exc:  # botocore's ClientError; imported lazily like the client
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def delete(self, key: str) -> None:
        """Delete an object; missing objects are fine."""
        self._s3.delete_object(Bucket=self._bucket, Key=key)

    def copy(self, src: str, dst: str, size: int = 0) -> None:
        """Server-side copy; bytes never pass through this process."""
        source = {"Bucket": self._bucket, "Key": src}
        if size <= FIVE_GIB:
            self._s3.copy_object(Bucket=self._bucket, Key=dst, CopySource=source)
        else:  # CopyObject stops at 5 GiB; the managed copy splits into part copies
            self._s3.copy(source, self._bucket, dst)

    def presign_get(self, key: str, ttl: int) -> str:
        """A short-lived GET URL for `key`, computed locally."""
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=ttl
        )

    def create_multipart(self, key: str) -> str:
        """Start a multipart upload and return its id."""
        return self._s3.create_multipart_upload(Bucket=self._bucket, Key=key)["UploadId"]

    def upload_part(self, key: str, mpu_id: str, number: int, data: bytes) -> str:
        """Upload one part; returns its ETag."""
        resp = self._s3.upload_part(
            Bucket=self._bucket, Key=key, UploadId=mpu_id, PartNumber=number, Body=data
        )
        return resp["ETag"]

    def complete_multipart(self, key: str, mpu_id: str, parts: list) -> None:
        """Assemble the parts; S3 rejects parts whose ETag changed."""
        self._s3.complete_multipart_upload(
            Bucket=self._bucket,
            Key=key,
            UploadId=mpu_id,
            MultipartUpload={"Parts": [{"PartNumber": int(n), "ETag": e} for n, e in parts]},
        )

    def abort_multipart(self, key: str, mpu_id: str) -> None:
        """Drop an unfinished multipart upload and its parts (already gone: fine)."""
        try:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=mpu_id)
        except Exception as exc:
            if _error_code(exc) != "NoSuchUpload":
                raise


def _error_code(exc: BaseException) -> Optional[str]:
    response = getattr(exc, "response", None)
    return (response.get("Error") or {}).get("Code") if isinstance(response, dict) else None
