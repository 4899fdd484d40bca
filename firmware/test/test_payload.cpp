// Payload encoding: the exact JSON of the contract (tests/test_firmware.py parses these same
// encodings with the pipeline's parser), ids that sort in order, numbers that read back exactly.
#include <doctest/doctest.h>

#include <cstdlib>
#include <limits>
#include <string>

#include "clock.h"
#include "config.h"
#include "payload.h"

using namespace carbon;

namespace {
Config chimney() {
    return parse_config("kind = chimney\ndevice_id = boiler-1\norg = ktda\nsite = kangaita\nregion = KE\n"
                        "diameter_m = 0.6\nflue_moisture_fraction = 0.12\n").config;
}

Record reading(std::uint64_t seq, std::int64_t utc_ms, bool synced) {
    Record r;
    r.seq = seq;
    r.stamp = Stamp{2, 61000, utc_ms, synced};
    r.values[0] = 81250;
    r.values[1] = 182.4;
    r.values[2] = 3.1;
    r.values[3] = std::numeric_limits<double>::quiet_NaN();  // no mass flow this interval
    return r;
}
}  // namespace

TEST_CASE("a single reading is the contract's JSON, byte for byte") {
    CHECK(encode_readings(chimney(), 0x3fa2c1d0, {reading(123, 1795428005250, true)}) ==
          R"({"schema":"carbon.telemetry/1","source_id":"boiler-1","vertical":"manufacturing","event_id":"3fa2c1d0-000000000123",)"
          R"("ts":"2026-11-23T10:00:05.250Z","metrics":{"co2_ppm":81250,"flue_temp_c":182.4,"flue_velocity_m_s":3.1},)"
          R"("tags":{"site":"kangaita","region":"KE"}})");
    CHECK(topic(chimney(), "telemetry") == "carbon/v1/ktda/kangaita/boiler-1/telemetry");
}

TEST_CASE("a batch carries each reading's id and time, and flags an unsynced clock per reading") {
    const std::string batch = encode_readings(chimney(), 0x3fa2c1d0, {reading(7, 61000, false), reading(8, 1795428005250, true)});
    CHECK(batch ==
          R"({"schema":"carbon.telemetry/1","source_id":"boiler-1","vertical":"manufacturing","tags":{"site":"kangaita","region":"KE"},)"
          R"("readings":[{"event_id":"3fa2c1d0-000000000007","ts":"1970-01-01T00:01:01.000Z","metrics":{"co2_ppm":81250,"flue_temp_c":182.4,)"
          R"("flue_velocity_m_s":3.1},"tags":{"clock":"unsynced","boot":2,"uptime_ms":61000}},)"
          R"({"event_id":"3fa2c1d0-000000000008","ts":"2026-11-23T10:00:05.250Z","metrics":{"co2_ppm":81250,"flue_temp_c":182.4,)"
          R"("flue_velocity_m_s":3.1}}]})");
}

TEST_CASE("event ids are the ring id and the sequence, zero-padded so that text order is numeric order") {
    CHECK(event_id(0x3fa2c1d0, 1) == "3fa2c1d0-000000000001");
    CHECK(event_id(0x0000000a, 999999999999) == "0000000a-999999999999");
    CHECK(event_id(7, 9) < event_id(7, 10));
}

TEST_CASE("numbers are the shortest text that reads back as the same double") {
    CHECK(format_number(0.1) == "0.1");
    CHECK(format_number(182.4) == "182.4");
    CHECK(format_number(81250) == "81250");
    CHECK(format_number(0.1 + 0.2) == "0.30000000000000004");
    CHECK(format_number(40) == "40");
    CHECK(format_number(1e-9) == "1e-09");
    CHECK(format_number(1e20) == "1e+20");
    for (double x : {1.0 / 3, 2.0 / 3, 1e-9, 5e-324, 1.7976931348623157e308, -40.25, 99999.99999999999, 123456789012345678.0,
                     0.0003125, 12345.678, -0.0}) {
        CHECK(std::strtod(format_number(x).c_str(), nullptr) == x);
    }
}

TEST_CASE("UTC formatting across leap days, centuries and the epoch") {
    CHECK(format_utc(0) == "1970-01-01T00:00:00.000Z");
    CHECK(format_utc(1835481599999) == "2028-02-29T23:59:59.999Z");
    CHECK(format_utc(951782400000) == "2000-02-29T00:00:00.000Z");
    CHECK(format_utc(4107542400000) == "2100-03-01T00:00:00.000Z");  // 2100 is not a leap year
}

TEST_CASE("the status message reports version, uptime, buffer, drops, RSSI and outages") {
    Status s;
    s.now = Stamp{4, 90500, 1795428005250, true};
    s.buffer_depth = 17;
    s.buffer_capacity = 17280;
    s.dropped = 3;
    s.rssi_dbm = -71;
    s.reconnects = 1;
    s.offline_s = 42.5;
    s.last_outage_s = 40;
    CHECK(encode_status(chimney(), s) ==
          R"({"schema":"carbon.status/1","source_id":"boiler-1","ts":"2026-11-23T10:00:05.250Z","clock_synced":true,)"
          R"("fw_version":"0.1.0","kind":"chimney","boot":4,"uptime_s":90.5,"buffer_depth":17,"buffer_capacity":17280,)"
          R"("dropped":3,"rssi_dbm":-71,"reconnects":1,"offline_s":42.5,"last_outage_s":40,"readings":0,"sensor_errors":0})");
}
