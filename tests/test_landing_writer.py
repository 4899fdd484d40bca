"""The durable writer: a landing file is either complete or absent, whatever happens to the writer."""

import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pyarrow.parquet as pq
import pytest

from carbon_lake.contracts import LANDING_SCHEMA
from carbon_lake.landing import LandingRecord, LandingWriter, list_landing_files, read_landing_file

ROWS_PER_FILE = 20_000

WRITER = f"""
import sys, os
from datetime import datetime, timezone
from carbon_lake.landing import LandingWriter, LandingRecord
writer = LandingWriter(sys.argv[1] + "/landing")
records = [LandingRecord("carbon/v1/o/s/d/telemetry", os.urandom(300), datetime.now(timezone.utc))
           for _ in range({ROWS_PER_FILE})]
writer.write(records)
print("ready", flush=True)
while True:
    writer.write(records)
"""


def test_written_file_holds_every_record_byte_for_byte(tmp_path):
    now = datetime.now(timezone.utc)
    records = [LandingRecord("carbon/v1/o/s/d/telemetry", bytes([i % 256]) * (i % 7), now) for i in range(1000)]
    path = LandingWriter(tmp_path / "landing").write(records)
    assert path.name.endswith(".parquet") and path.parent.name.startswith("date=")
    [relative] = list_landing_files(tmp_path)
    table = read_landing_file(tmp_path, relative)
    assert table.schema.equals(LANDING_SCHEMA)
    assert table.column("payload").to_pylist() == [r.payload for r in records]
    assert not list(path.parent.glob(".*.tmp"))


def test_two_writers_never_collide(tmp_path):
    record = [LandingRecord("carbon/v1/o/s/d/telemetry", b"{}", datetime.now(timezone.utc))]
    first, second = LandingWriter(tmp_path / "landing"), LandingWriter(tmp_path / "landing")
    paths = {first.write(record) for _ in range(5)} | {second.write(record) for _ in range(5)}
    assert len(paths) == 10 == len(list_landing_files(tmp_path))


def test_no_records_is_an_error_not_an_empty_file(tmp_path):
    with pytest.raises(ValueError, match="records"):
        LandingWriter(tmp_path / "landing").write([])
    assert list_landing_files(tmp_path) == []


@pytest.mark.parametrize("kill_after_s", [0.01, 0.05, 0.2, 0.5])
def test_a_writer_killed_mid_write_leaves_only_complete_files(tmp_path, kill_after_s):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE)
    assert writer.stdout.readline().strip() == b"ready"
    deadline = time.monotonic() + kill_after_s
    while time.monotonic() < deadline:
        # A concurrent reader never sees a partial file either.
        for relative in list_landing_files(tmp_path):
            assert read_landing_file(tmp_path, relative).num_rows == ROWS_PER_FILE
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    files = list_landing_files(tmp_path)
    for relative in files:
        assert pq.ParquetFile(tmp_path / relative).metadata.num_rows == ROWS_PER_FILE
    leftovers = list((tmp_path / "landing").glob("date=*/.*.tmp"))
    # The kill usually lands mid-write: the partial file exists only under its hidden temporary name.
    assert len(leftovers) <= 1
    assert files, "the writer should have completed at least one file before the kill"
