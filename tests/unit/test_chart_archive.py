"""The bounded chart-archive reader finds Chart.yaml in every tar dialect Helm meets, and stops
at each limit at the header that crosses it."""
from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from chalicelib.domain.chart_archive import ArchiveLimits, chart_yaml_of
from chalicelib.oci.errors import RegistryError

CHART_YAML = b"apiVersion: v2\nname: c\nversion: 1.0.0\n"


def tar(members: list[tuple[str, bytes]], fmt: int = tarfile.PAX_FORMAT, kinds: dict | None = None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            info.type = (kinds or {}).get(name, tarfile.REGTYPE)
            t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return raw.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def refused(archive: bytes, limits: ArchiveLimits = ArchiveLimits()) -> RegistryError:
    with pytest.raises(RegistryError) as err:
        chart_yaml_of(archive, limits)
    return err.value


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT],
                         ids=["pax", "gnu", "ustar"])
def test_chart_yaml_is_found_after_other_members(fmt):
    members = [("c/", b""), ("c/templates/x.yaml", b"t" * 5000), ("c/charts/sub/Chart.yaml", b"no"),
               ("Chart.yaml", b"no"), ("c/Chart.yaml", CHART_YAML), ("c/values.yaml", b"v")]
    assert chart_yaml_of(gz(tar(members, fmt, {"c/": tarfile.DIRTYPE}))) == CHART_YAML


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT], ids=["pax-path", "gnu-long-name"])
def test_long_names_from_pax_and_gnu_headers(fmt):
    name = "c" * 180
    members = [(f"{name}/templates/{'t' * 150}.yaml", b"x"), (f"{name}/Chart.yaml", CHART_YAML)]
    assert chart_yaml_of(gz(tar(members, fmt))) == CHART_YAML


def test_ustar_prefix_and_leading_dot_slash():
    assert chart_yaml_of(gz(tar([("./" + "p" * 120 + "/Chart.yaml", CHART_YAML)], tarfile.USTAR_FORMAT))) \
        == CHART_YAML


def test_header_only_members_carry_no_data_and_multi_member_gzip_is_read():
    data = tar([("c/link", b""), ("c/Chart.yaml", CHART_YAML)], kinds={"c/link": tarfile.SYMTYPE})
    assert chart_yaml_of(gz(data[:1024]) + gz(data[1024:])) == CHART_YAML


@pytest.mark.parametrize("archive,reason", [
    (b"", "empty archive"), (b"plain", "bad gzip"), (gz(b""), "empty archive"), (gz(b"short"), "not a tar archive"),
    (gz(tar([("c/values.yaml", b"v")])), "no <chart>/Chart.yaml"),
    (gz(b"\x01" * 512), "checksum"),
    (gz(tar([("c/Chart.yaml", CHART_YAML)])[:530]), "truncated"),
    (gz(tar([("c/big", b"x" * 2000), ("c/Chart.yaml", CHART_YAML)])[:1500]), "truncated"),
], ids=["empty", "not-gzip", "empty-gzip", "short", "no-chart-yaml", "checksum", "truncated-yaml",
        "truncated-data"])
def test_what_is_not_a_chart_archive(archive, reason):
    assert reason in refused(archive).detail["reason"]


def test_each_limit_stops_at_the_header_that_crosses_it():
    small = ArchiveLimits(max_decompressed=64 * 1024, max_members=5, max_long_name=200, max_pax=600,
                          max_chart_yaml=100)
    cases = [
        (tar([("c/" + "n" * 300, b"x"), ("c/Chart.yaml", CHART_YAML)], tarfile.GNU_FORMAT), "long name"),
        (tar([("c/" + "n" * 700, b"x"), ("c/Chart.yaml", CHART_YAML)], tarfile.PAX_FORMAT), "pax header"),
        (tar([(f"c/{i}", b"") for i in range(6)] + [("c/Chart.yaml", CHART_YAML)]), "too many members"),
        (tar([("c/blob", b"x" * 100_000), ("c/Chart.yaml", CHART_YAML)]), "decompresses to more"),
        (tar([("c/Chart.yaml", CHART_YAML * 5)]), "Chart.yaml is too large"),
    ]
    for archive, reason in cases:
        err = refused(gz(archive), small)
        assert err.status == 413 and err.code == "SIZE_INVALID" and reason in err.detail["reason"], reason


def test_a_gzip_bomb_is_cut_off_at_the_decompression_cap():
    bomb = gz(tar([("c/zeros", bytes(80 * 1024 * 1024)), ("c/Chart.yaml", CHART_YAML)]))
    err = refused(bomb)
    assert err.status == 413 and "decompresses to more" in err.detail["reason"]


def test_sparse_members_are_refused():
    data = bytearray(tar([("c/Chart.yaml", CHART_YAML)], tarfile.GNU_FORMAT))
    data[156:157] = b"S"
    data[148:156] = b" " * 8
    data[148:155] = f"{sum(data[:512]):06o}\0".encode()
    assert "sparse" in refused(gz(bytes(data))).detail["reason"]
