"""S3 adapter of the BlobStore port."""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

FIVE_GIB = 5 * 1024**3
_READ_CHUNK = 8 * 1024 * 1024  # read_range pieces: few, large reads (hashing takes any length)


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

    def put_stream(self, key: str, body: Any, size: int) -> None:
        """Write an object of exactly `size` bytes read from file-like `body` as they come
        (the local server's request bodies, local/prestage.py). Read once: a retry cannot
        replay it, so `body` refuses to seek back and the call fails instead."""
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentLength=size)

    def list_keys(self, prefix: str, after: str, n: int) -> tuple[list[tuple[str, int, float]], bool]:
        """One ListObjectsV2 page: (key, size, last modified) after `after`, and whether more follow."""
        resp = self._s3.list_objects_v2(Bucket=self._bucket, Prefix=prefix, StartAfter=after, MaxKeys=n)
        return ([(o["Key"], int(o["Size"]), o["LastModified"].timestamp()) for o in resp.get("Contents", [])],
                bool(resp.get("IsTruncated")))

    def get(self, key: str) -> bytes:
        """Read a whole (small) object."""
        return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()

    def size(self, key: str) -> Optional[int]:
        """The object's size, or None when there is no such object."""
        try:
            return int(self._s3.head_object(Bucket=self._bucket, Key=key)["ContentLength"])
        except Exception as exc:  # botocore's ClientError; imported lazily like the client
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
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
            if _code(exc) != "NoSuchUpload":
                raise

    # -- direct uploads: the client sends the bytes, S3 checks SHA-256 and length --
    def presign_put_sha256(self, key: str, sha256_b64: str, size: int, ttl: int) -> str:
        """A PUT URL whose signature covers the checksum and length headers (computed locally)."""
        return self._s3.generate_presigned_url("put_object", Params={
            "Bucket": self._bucket, "Key": key, "ChecksumSHA256": sha256_b64, "ContentLength": size},
            ExpiresIn=ttl)

    def create_multipart_sha256(self, key: str) -> str:
        """A multipart upload whose parts must each carry a SHA-256 checksum."""
        return self._s3.create_multipart_upload(Bucket=self._bucket, Key=key, ChecksumAlgorithm="SHA256",
                                                ContentType="application/octet-stream")["UploadId"]

    def presign_part_sha256(self, key: str, mpu_id: str, number: int, sha256_b64: str,
                            size: int, ttl: int) -> str:
        """An UploadPart URL bound to the part's checksum and length (computed locally)."""
        return self._s3.generate_presigned_url("upload_part", Params={
            "Bucket": self._bucket, "Key": key, "UploadId": mpu_id, "PartNumber": number,
            "ChecksumSHA256": sha256_b64, "ContentLength": size}, ExpiresIn=ttl)

    def list_parts(self, key: str, mpu_id: str) -> Optional[list]:
        """[(number, size, etag, sha256_b64)] S3 holds; None when the upload is gone."""
        out: list = []
        marker = 0
        while True:
            try:
                resp = self._s3.list_parts(Bucket=self._bucket, Key=key, UploadId=mpu_id,
                                           PartNumberMarker=marker)
            except Exception as exc:  # noqa: BLE001 - only "no such upload" is an answer
                if _code(exc) in ("NoSuchUpload", "404"):
                    return None
                raise
            for p in resp.get("Parts", []):
                out.append((int(p["PartNumber"]), int(p["Size"]), p["ETag"], p.get("ChecksumSHA256")))
            if not resp.get("IsTruncated"):
                return out
            marker = int(resp["NextPartNumberMarker"])

    def complete_multipart_sha256(self, key: str, mpu_id: str, parts: list, fresh: bool = False) -> str:
        """Assemble [(number, etag, sha256_b64)]; S3 checks every part's ETag and checksum.
        `fresh`: only if no object is at `key` (If-None-Match: *; else 412 PreconditionFailed,
        the object and the upload untouched). Returns the object's ETag."""
        return self._s3.complete_multipart_upload(
            Bucket=self._bucket, Key=key, UploadId=mpu_id, **({"IfNoneMatch": "*"} if fresh else {}),
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e, **({"ChecksumSHA256": c} if c else {})}
                                       for n, e, c in parts]})["ETag"]

    def delete_if(self, key: str, etag: str) -> None:
        """Delete the object only while it is the version with `etag` (If-Match); a missing or
        replaced object is left alone."""
        try:
            self._s3.delete_object(Bucket=self._bucket, Key=key, IfMatch=etag)
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError, imported lazily
            if _code(exc) not in ("404", "NoSuchKey", "NotFound", "PreconditionFailed", "412"):
                raise

    def head_sha256(self, key: str) -> Optional[tuple[int, Optional[str]]]:
        """(size, S3's recorded SHA-256 in base64) of an object; None when it is missing."""
        try:
            resp = self._s3.head_object(Bucket=self._bucket, Key=key, ChecksumMode="ENABLED")
        except Exception as exc:  # noqa: BLE001
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(resp["ContentLength"]), resp.get("ChecksumSHA256")

    def read_range(self, key: str, start: int, length: int) -> Iterator[bytes]:
        """Stream `length` bytes of an object from `start`, 1 MiB at a time (one ranged GET)."""
        body = self._s3.get_object(Bucket=self._bucket, Key=key,
                                   Range=f"bytes={start}-{start + length - 1}")["Body"]
        try:
            yield from body.iter_chunks(_READ_CHUNK)
        finally:
            body.close()

    def copy_fresh(self, src: str, dst: str) -> bool:
        """Server-side copy (up to 5 GiB) with the registry's own metadata, not the uploader's;
        False when `src` does not exist (a concurrent close already promoted and removed it)."""
        try:
            self._s3.copy_object(Bucket=self._bucket, Key=dst, MetadataDirective="REPLACE",
                                 ContentType="application/octet-stream",
                                 CopySource={"Bucket": self._bucket, "Key": src})
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError, imported lazily
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def copy_part(self, src: str, dst: str, mpu_id: str, number: int, start: int, end: int) -> str:
        """Copy bytes start..end (inclusive) of `src` as part `number` of `dst`; returns the ETag."""
        resp = self._s3.upload_part_copy(
            Bucket=self._bucket, Key=dst, UploadId=mpu_id, PartNumber=number,
            CopySource={"Bucket": self._bucket, "Key": src}, CopySourceRange=f"bytes={start}-{end}")
        return resp["CopyPartResult"]["ETag"]


def _code(exc: BaseException) -> Optional[str]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code"))
    return None
