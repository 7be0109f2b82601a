"""The strict S3 keeps bytes in files, not memory (local/shim/ministack_files.py), and still
answers as S3 does: multipart ETags and composite checksums, refused parts, ranges, copies.
Plus one bound: a 200 MiB push leaves the S3 process's peak RSS well under the blob's size
(before, it held every part and then the joined object: over twice the size)."""
from __future__ import annotations

import base64
import hashlib
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.backends("strict")
MIB = 1 << 20


@pytest.fixture
def s3(registry):
    from chalicelib.http.inject import services

    return services().s3_client(), services().settings.bucket_name


def _parts(sizes: list[int]) -> list[bytes]:
    return [hashlib.sha256(f"{i}".encode()).digest() * (n // 32) + b"x" * (n % 32) for i, n in enumerate(sizes)]


def _etag(data: bytes) -> str:
    """The embedded S3's ETag: the first 128 bits of SHA-256 (local/shim/ministack_io.py)."""
    return hashlib.sha256(data).hexdigest()[:32]


def _spool(registry) -> Path:
    return Path(registry.data_dir) / "s3-parts"


def test_multipart_upload_waits_on_disk_and_reads_back_byte_for_byte(registry, s3):
    client, bucket = s3
    key = f"uploads/test-{uuid.uuid4().hex}"
    parts = _parts([5 * MIB, 5 * MIB, MIB + 7])
    mpu = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags = [client.upload_part(Bucket=bucket, Key=key, UploadId=mpu, PartNumber=i + 1, Body=p)["ETag"]
             for i, p in enumerate(parts)]
    want = [("assembly", sum(map(len, parts)))]   # parts end to end in one file
    deadline = time.monotonic() + 30   # writer threads land them shortly after each answer
    while (spooled := [(p.name, p.stat().st_size) for p in sorted((_spool(registry) / mpu).iterdir())]) != want:
        assert time.monotonic() < deadline, spooled
        time.sleep(0.05)
    done = {"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]}
    resp = client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=mpu, MultipartUpload=done)
    want_etag = hashlib.md5(b"".join(bytes.fromhex(_etag(p)) for p in parts)).hexdigest() + "-3"  # as S3 builds it
    assert resp["ETag"].strip('"') == want_etag
    assert not (_spool(registry) / mpu).exists()
    whole = b"".join(parts)
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == whole
    ranged = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={5 * MIB - 3}-{5 * MIB + 9}")
    assert ranged["Body"].read() == whole[5 * MIB - 3:5 * MIB + 10]
    assert ranged["ContentRange"] == f"bytes {5 * MIB - 3}-{5 * MIB + 9}/{len(whole)}"
    # a retried completion gets the same answer
    again = client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=mpu, MultipartUpload=done)
    assert again["ETag"] == resp["ETag"]


@pytest.mark.parametrize("case", ["short-last-first", "reversed", "re-uploaded", "subset", "gap"])
def test_parts_in_any_order_and_size_make_the_object_byte_for_byte(s3, case):
    """Parts go into one assembly file at (number - 1) x the first arrival's size; a part
    that does not fit there gets a file of its own, and a completion whose parts do not lie
    end to end in the assembly is concatenated: every way, the object is the parts' bytes."""
    client, bucket = s3
    key = f"uploads/test-{uuid.uuid4().hex}"
    parts = _parts([5 * MIB, 5 * MIB, 2 * MIB + 5])
    order = {"short-last-first": [3, 1, 2], "reversed": [3, 2, 1], "re-uploaded": [1, 2, 3, 2],
             "subset": [2, 1, 3], "gap": [1, 2, 3]}[case]
    mpu = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags, sent = {}, {}
    for i, n in enumerate(order):
        body = parts[n - 1] if not (case == "re-uploaded" and i == 3) else _parts([5 * MIB + 9])[0]
        etags[n] = client.upload_part(Bucket=bucket, Key=key, UploadId=mpu, PartNumber=n, Body=body)["ETag"]
        sent[n] = body
    chosen = {"subset": [1, 2], "gap": [1, 3]}.get(case, [1, 2, 3])
    done = {"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in chosen]}
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=mpu, MultipartUpload=done)
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"".join(sent[n] for n in chosen)


def test_completion_naming_a_changed_or_missing_part_is_refused(s3):
    client, bucket = s3
    key = f"uploads/test-{uuid.uuid4().hex}"
    mpu = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = client.upload_part(Bucket=bucket, Key=key, UploadId=mpu, PartNumber=1, Body=b"a" * MIB)["ETag"]
    for parts in ([{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}],
                  [{"PartNumber": 1, "ETag": etag}, {"PartNumber": 2, "ETag": etag}]):
        with pytest.raises(ClientError) as err:
            client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=mpu,
                                             MultipartUpload={"Parts": parts})
        assert err.value.response["Error"]["Code"] == "InvalidPart"
    with pytest.raises(ClientError) as err:
        client.get_object(Bucket=bucket, Key=key)
    assert err.value.response["Error"]["Code"] == "NoSuchKey"


def test_composite_sha256_checksum_is_built_from_the_parts(s3):
    client, bucket = s3
    key = f"uploads/test-{uuid.uuid4().hex}"
    parts = _parts([5 * MIB, 3 * MIB])
    sums = [base64.b64encode(hashlib.sha256(p).digest()).decode() for p in parts]
    mpu = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")["UploadId"]
    etags = [client.upload_part(Bucket=bucket, Key=key, UploadId=mpu, PartNumber=i + 1, Body=p,
                                ChecksumSHA256=sums[i])["ETag"] for i, p in enumerate(parts)]
    composite = base64.b64encode(hashlib.sha256(b"".join(base64.b64decode(s) for s in sums)).digest()).decode()
    named = {"Parts": [{"PartNumber": i + 1, "ETag": e, "ChecksumSHA256": sums[i]} for i, e in enumerate(etags)]}
    with pytest.raises(ClientError) as err:  # a checksum naming other bytes than the stored part
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=mpu, MultipartUpload={"Parts": [
            {**named["Parts"][0], "ChecksumSHA256": sums[1]}, named["Parts"][1]]})
    assert err.value.response["Error"]["Code"] == "InvalidPart"
    resp = client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=mpu, MultipartUpload=named)
    assert resp["ChecksumSHA256"] == f"{composite}-2"
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == f"{composite}-2" and head["ContentLength"] == sum(map(len, parts))


def test_copies_stand_alone_and_part_copies_take_their_range(s3):
    client, bucket = s3
    src, dst, big = (f"uploads/test-{uuid.uuid4().hex}" for _ in range(3))
    data = _parts([6 * MIB + 5])[0]
    client.put_object(Bucket=bucket, Key=src, Body=data)
    client.copy_object(Bucket=bucket, Key=dst, CopySource={"Bucket": bucket, "Key": src})
    mpu = client.create_multipart_upload(Bucket=bucket, Key=big)["UploadId"]
    copied = [client.upload_part_copy(Bucket=bucket, Key=big, UploadId=mpu, PartNumber=n,
                                      CopySource={"Bucket": bucket, "Key": src},
                                      CopySourceRange=rng)["CopyPartResult"]["ETag"]
              for n, rng in ((1, f"bytes=0-{5 * MIB - 1}"), (2, f"bytes={5 * MIB}-{len(data) - 1}"))]
    assert copied[0].strip('"') == _etag(data[:5 * MIB])
    client.delete_object(Bucket=bucket, Key=src)
    assert client.get_object(Bucket=bucket, Key=dst)["Body"].read() == data
    client.complete_multipart_upload(Bucket=bucket, Key=big, UploadId=mpu, MultipartUpload={
        "Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(copied)]})
    assert client.get_object(Bucket=bucket, Key=big)["Body"].read() == data


def test_aborted_upload_leaves_no_spooled_parts(registry, s3):
    client, bucket = s3
    key = f"uploads/test-{uuid.uuid4().hex}"
    mpu = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=mpu, PartNumber=1, Body=b"b" * MIB)
    assert (_spool(registry) / mpu).is_dir()
    client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=mpu)
    assert not (_spool(registry) / mpu).exists()


def _rss_mib(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_200_mib_push_leaves_the_s3_process_far_below_the_blob_size(registry, client, repo):
    from local.backends import backend_processes

    size = 200 * MIB
    piece = hashlib.sha256(b"big").digest() * (MIB // 32)
    digest = "sha256:" + hashlib.sha256(piece * (size // MIB)).hexdigest()
    client.login(repo)  # a token up front: a streamed body cannot be sent twice
    ministack = [pid for pid in backend_processes(Path(registry.data_dir))
                 if b"ministack" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    before = {}
    for pid in ministack:  # the peak of this push, not of every test before it on this backend
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")   # VmHWM := VmRSS now
        except OSError:
            pass
        before[pid] = _rss_mib(pid, "VmRSS")
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    r = client.request("PUT", r.headers["Location"], params={"digest": digest},
                       data=(piece for _ in range(size // MIB)),  # chunked: never whole in this process
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    assert client.request("HEAD", f"/v2/{repo}/blobs/{digest}").headers["Content-Length"] == str(size)
    # growth during the push: the backend serves the whole session, so what it holds before
    # depends on the tests before this one (84 MiB alone, 140 late in a full run)
    growth = {pid: _rss_mib(pid) - before[pid] for pid in ministack}
    assert ministack and max(growth.values()) < 100, growth  # was > 400 MiB: every part, then the joined object


def test_parts_written_in_the_background_land_before_completion_and_in_order(s3):
    """Parts go to disk on writer threads (the event loop goes on): sixteen parts sent at
    once, part 2 sent again with other bytes right after, then completed at once: the
    object is the parts' latest bytes, byte for byte."""
    from concurrent.futures import ThreadPoolExecutor

    client, bucket = s3
    key = f"uploads/test-{uuid.uuid4().hex}"
    mpu = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = _parts([5 * MIB] * 16)

    def send(n: int, data: bytes) -> dict:
        etag = client.upload_part(Bucket=bucket, Key=key, UploadId=mpu, PartNumber=n, Body=data)["ETag"]
        return {"PartNumber": n, "ETag": etag}

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(send, range(1, 17), parts))
    parts[1] = hashlib.sha256(b"again").digest() * (5 * MIB // 32)
    done[1] = send(2, parts[1])
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=mpu, MultipartUpload={"Parts": done})
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(b"".join(parts)).hexdigest()
