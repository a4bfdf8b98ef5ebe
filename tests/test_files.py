"""The ground's small-file helpers: the one S3-URL parser and the one atomic write."""

from __future__ import annotations

import pytest

from mysql2dynamo.ground.files import atomic_write, is_s3, read_text, split_s3, write_text


@pytest.mark.parametrize(("url", "parts"), [
    ("s3://bucket/a/b.json", ("bucket", "a/b.json")),
    ("s3a://bucket/prefix/", ("bucket", "prefix/")),
    ("s3n://bucket", ("bucket", "")),
    ("s3://bucket/key#with?odd=chars", ("bucket", "key#with?odd=chars")),
])
def test_split_s3(url, parts):
    assert is_s3(url) and split_s3(url) == parts


@pytest.mark.parametrize("url", ["/tmp/x", "file:///tmp/x", "https://bucket/x", "s3://", "s3:/bucket/x"])
def test_split_s3_refuses_what_is_not_an_s3_url(url):
    with pytest.raises(ValueError):
        split_s3(url)


def test_atomic_write_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "deep" / "state.json"
    atomic_write(path, '{"a": 1}', durable=True)
    write_text(path, '{"a": 2}')
    assert read_text(path) == '{"a": 2}'
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "state.json"
    atomic_write(path, b"old")
    with pytest.raises(TypeError):
        atomic_write(path, 42)  # type: ignore[arg-type]
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["state.json"]
