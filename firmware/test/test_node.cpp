// The node: frames become interval means, readings go through the ring and out in order, and a
// link outage, a missing PUBACK or a full buffer are handled and reported in the status stream.
// The transport here records what would be published; tests/test_firmware.py runs the same core
// against a real Mosquitto.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "checksum.h"
#include "node.h"
#include "physics.h"

using namespace carbon;

namespace {

struct Published {
    std::string topic, payload;
    int mid;
};

class RecordingTransport : public Transport {
public:
    bool publish(const std::string& topic, const std::string& payload, int& mid) override {
        mid = ++last_mid;
        sent.push_back({topic, payload, mid});
        return true;
    }
    std::vector<Published> sent;
    int last_mid = 0;

    std::vector<Published> on(const std::string& stream) const {
        std::vector<Published> out;
        for (const auto& p : sent)
            if (p.topic.size() >= stream.size() && p.topic.compare(p.topic.size() - stream.size(), stream.size(), stream) == 0)
                out.push_back(p);
        return out;
    }
};

Config chimney_config() {
    ConfigResult r = parse_config(
        "kind = chimney\ndevice_id = boiler-1\norg = ktda\nsite = kangaita\ndiameter_m = 0.6\n"
        "publish_interval_ms = 1000\nstatus_interval_ms = 60000\nbatch_max = 3\nack_timeout_ms = 5000\n"
        "ring_capacity = 8\nco2_registers = 1\nco2_ppm_per_count = 10\nflue_moisture_fraction = 0.2\n");
    REQUIRE_MESSAGE(r.ok(), r.error);
    return r.config;
}

std::vector<std::uint8_t> co2_frame(std::uint16_t counts) {
    std::vector<std::uint8_t> f = {0x68, 0x03, 0x02, static_cast<std::uint8_t>(counts >> 8), static_cast<std::uint8_t>(counts)};
    const std::uint16_t crc = crc16_modbus(f.data(), f.size());
    f.push_back(static_cast<std::uint8_t>(crc & 0xFF));
    f.push_back(static_cast<std::uint8_t>(crc >> 8));
    return f;
}

std::vector<std::uint8_t> dp_frame(std::int16_t counts) {
    std::vector<std::uint8_t> f;
    for (std::int16_t word : {counts, std::int16_t{6000}, std::int16_t{60}}) {
        const std::uint8_t w[2] = {static_cast<std::uint8_t>(static_cast<std::uint16_t>(word) >> 8),
                                   static_cast<std::uint8_t>(word & 0xFF)};
        f.insert(f.end(), w, w + 2);
        f.push_back(crc8_sensirion(w, 2));
    }
    return f;
}

// One sample of each chimney sensor.
void sample(Node& node, std::uint16_t co2_counts, double temp_c, std::int16_t dp_counts) {
    node.on_thermocouple_word(static_cast<std::uint32_t>(std::lround(temp_c / 0.25)) << 18);
    const auto co2 = co2_frame(co2_counts);
    node.on_co2_frame(co2.data(), co2.size());
    const auto dp = dp_frame(dp_counts);
    node.on_pressure_frame(dp.data(), dp.size());
}

// One boot of a device: its ring on `flash`, a clock, a recording link and the node.
struct Boot {
    Ring ring;
    Clock clock{0};
    RecordingTransport link;
    Node node;
    Boot(const Config& config, Storage& flash) : ring(flash, config.ring_capacity), node(config, ring, clock, link) {
        REQUIRE(ring.open(0x3fa2c1d0));
        clock = Clock(ring.boot());
    }
};

// A chimney node, its clock synchronized from the start.
struct Rig {
    Config config = chimney_config();
    MemoryStorage flash{Ring::bytes_for(8)};
    Boot boot{config, flash};
    Ring& ring = boot.ring;
    RecordingTransport& link = boot.link;
    Node& node = boot.node;
    Rig() { boot.clock.synchronize(1795428000000, 0); }
    // `n` intervals of one sample each, starting at second `from`.
    void run(int from, int n) {
        for (int s = from; s < from + n; ++s) {
            sample(node, 8000, 180, 600);
            REQUIRE(node.tick(static_cast<std::uint64_t>(s + 1) * 1000));
        }
    }
};

}  // namespace

TEST_CASE("an interval's reading is the mean of its good samples, with the node's own kg/s") {
    Rig rig;
    sample(rig.node, 8000, 180, 600);
    sample(rig.node, 9000, 190, 700);
    auto bad = co2_frame(1);
    bad[3] ^= 0x01;
    rig.node.on_co2_frame(bad.data(), bad.size());  // refused, counted, not averaged
    REQUIRE(rig.node.tick(1000));
    const Record& r = rig.node.last_reading();
    CHECK(r.seq == 1);
    CHECK(r.values[0] == 85000.0 * 0.8);  // the module's dry-basis ppm, on the wet basis of the flow
    CHECK(r.values[1] == 185.0);
    const double rho = gas_density_kg_m3(0.02897, 190, 101325);  // the Pitot uses the same sample's temperature
    const double v1 = pitot_velocity_m_s(10.0, 180, 101325, 0.02897, 0.84), v2 = 0.84 * std::sqrt(2 * (700.0 / 60) / rho);
    CHECK(r.values[2] == doctest::Approx((v1 + v2) / 2).epsilon(1e-12));
    CHECK(r.values[3] == co2_mass_flow_kg_s(r.values[0], r.values[2], rig.config.area_m2(), r.values[1], 101325));
    CHECK(rig.node.status(1000).sensor_errors == 1);
    CHECK(rig.node.status(1000).last_sensor_error == "modbus: CRC mismatch");
}

TEST_CASE("offline readings wait in the ring and go oldest first, in batches, after the status") {
    Rig rig;
    rig.run(0, 5);
    CHECK(rig.link.sent.empty());
    CHECK(rig.ring.depth() == 5);

    rig.node.on_connected(5500);
    REQUIRE(rig.node.tick(5500));
    REQUIRE(rig.link.sent.size() == 2);
    CHECK(rig.link.sent[0].topic == "carbon/v1/ktda/kangaita/boiler-1/status");
    CHECK(rig.link.sent[0].payload.find("\"buffer_depth\":5,") != std::string::npos);
    CHECK(rig.link.sent[0].payload.find("\"last_outage_s\":5.5,") != std::string::npos);
    CHECK(rig.link.sent[1].topic == "carbon/v1/ktda/kangaita/boiler-1/batch");
    CHECK(rig.link.sent[1].payload.find("\"event_id\":\"3fa2c1d0-000000000001\"") != std::string::npos);
    CHECK(rig.link.sent[1].payload.find("\"event_id\":\"3fa2c1d0-000000000003\"") != std::string::npos);
    CHECK(rig.link.sent[1].payload.find("\"event_id\":\"3fa2c1d0-000000000004\"") == std::string::npos);

    SUBCASE("nothing leaves the ring, nor is sent, before the PUBACK") {
        REQUIRE(rig.node.tick(5600));
        CHECK(rig.link.sent.size() == 2);
        CHECK(rig.ring.depth() == 5);
        rig.node.on_acknowledged(rig.link.sent[1].mid);
        CHECK(rig.ring.depth() == 2);
        REQUIRE(rig.node.tick(5700));
        REQUIRE(rig.link.sent.size() == 3);
        CHECK(rig.link.sent[2].payload.find("\"event_id\":\"3fa2c1d0-000000000004\"") != std::string::npos);
        rig.node.on_acknowledged(rig.link.sent[2].mid);
        CHECK(rig.ring.depth() == 0);
    }
    SUBCASE("an unacknowledged batch is sent again after the timeout") {
        REQUIRE(rig.node.tick(5500 + 4999));
        CHECK(rig.link.sent.size() == 2);
        REQUIRE(rig.node.tick(5500 + 5000));
        REQUIRE(rig.link.sent.size() >= 3);
        CHECK(rig.link.sent.back().payload == rig.link.sent[1].payload);
    }
    SUBCASE("a link lost with a batch in flight sends it again on reconnect, and counts the outage") {
        rig.node.on_disconnected(6000);
        rig.node.on_acknowledged(rig.link.sent[1].mid);  // a PUBACK of the old session: ignored
        CHECK(rig.ring.depth() == 5);
        rig.node.on_connected(9000);
        REQUIRE(rig.node.tick(9000));
        const auto statuses = rig.link.on("/status");
        REQUIRE(statuses.size() == 2);
        CHECK(statuses[1].payload.find("\"reconnects\":1,") != std::string::npos);
        CHECK(statuses[1].payload.find("\"last_outage_s\":3,") != std::string::npos);
        CHECK(rig.link.on("/batch").back().payload == rig.link.sent[1].payload);
    }
}

TEST_CASE("a full buffer drops the oldest and the next status says how many") {
    Rig rig;
    rig.run(0, 11);  // capacity 8
    CHECK(rig.ring.depth() == 8);
    rig.node.on_connected(11500);
    REQUIRE(rig.node.tick(11500));
    CHECK(rig.link.sent[0].payload.find("\"dropped\":3,") != std::string::npos);
    CHECK(rig.link.sent[1].payload.find("\"event_id\":\"3fa2c1d0-000000000004\"") != std::string::npos);
}

TEST_CASE("readings taken before the first NTP sync get their UTC time back when it comes") {
    const Config config = chimney_config();
    MemoryStorage flash(Ring::bytes_for(8));
    Boot boot(config, flash);
    sample(boot.node, 8000, 180, 600);
    REQUIRE(boot.node.tick(1000));
    CHECK(!boot.node.last_reading().stamp.synced);
    CHECK(boot.node.last_reading().stamp.utc_ms == 1000);  // what the unsynced clock reads: 1970 + uptime

    SUBCASE("in the same boot: re-stamped exactly from the uptime") {
        boot.clock.synchronize(1795428005250, 4000);  // NTP answers at uptime 4 s
        boot.node.on_connected(4000);
        REQUIRE(boot.node.tick(4000));
        const auto readings = boot.link.on("/telemetry");
        REQUIRE(readings.size() == 1);
        CHECK(readings[0].payload.find("\"ts\":\"2026-11-23T10:00:02.250Z\"") != std::string::npos);
        CHECK(readings[0].payload.find("unsynced") == std::string::npos);
    }
    SUBCASE("with the link up before NTP: held back until the sync, or until ntp_wait_ms") {
        boot.node.on_connected(1500);
        REQUIRE(boot.node.tick(1500));
        REQUIRE(boot.node.tick(1600));
        CHECK(boot.link.on("/telemetry").empty());  // waiting for its time, safe in the ring
        CHECK(boot.ring.depth() == 1);
        boot.clock.synchronize(1795428005250, 4000);
        REQUIRE(boot.node.tick(4000));
        REQUIRE(boot.link.on("/telemetry").size() == 1);
        CHECK(boot.link.on("/telemetry")[0].payload.find("\"ts\":\"2026-11-23T10:00:02.250Z\"") != std::string::npos);
    }
    SUBCASE("NTP never answering: after ntp_wait_ms the readings go, flagged, rather than fill the ring") {
        Config impatient = config;
        impatient.ntp_wait_ms = 3000;
        MemoryStorage other(Ring::bytes_for(8));
        Boot waiting(impatient, other);
        sample(waiting.node, 8000, 180, 600);
        REQUIRE(waiting.node.tick(1000));
        waiting.node.on_connected(1500);
        REQUIRE(waiting.node.tick(2999));
        CHECK(waiting.link.on("/telemetry").empty());
        REQUIRE(waiting.node.tick(3000));
        REQUIRE(waiting.link.on("/telemetry").size() == 1);
        CHECK(waiting.link.on("/telemetry")[0].payload.find("\"clock\":\"unsynced\"") != std::string::npos);
    }
    SUBCASE("after the power failed before any sync: sent flagged, with its boot and uptime") {
        Boot next(config, flash);
        next.clock.synchronize(1795428005250, 100);
        next.node.on_connected(200);
        REQUIRE(next.node.tick(200));
        const auto sent = next.link.on("/telemetry");
        REQUIRE(sent.size() == 1);
        CHECK(sent[0].payload.find("\"ts\":\"1970-01-01T00:00:01.000Z\"") != std::string::npos);
        CHECK(sent[0].payload.find("\"clock\":\"unsynced\",\"boot\":1,\"uptime_ms\":1000") != std::string::npos);
    }
}

TEST_CASE("a plug meters the energy pulses of each interval, across the counter's wrap") {
    ConfigResult r = parse_config("kind = plug\ndevice_id = plug-1\norg = homes\nsite = h1\nkwh_per_pulse = 0.001\n"
                                  "publish_interval_ms = 1000\nring_capacity = 8\n");
    REQUIRE_MESSAGE(r.ok(), r.error);
    MemoryStorage flash(Ring::bytes_for(8));
    Boot plug(r.config, flash);
    auto packet = [](std::uint32_t pulses) {
        std::vector<std::uint8_t> p(23, 0);
        p[0] = 0x55;
        for (int i = 0; i < 3; ++i) p[13 + i] = static_cast<std::uint8_t>(pulses >> (8 * i));
        p[22] = bl0942_checksum(p.data(), 22);
        return p;
    };
    for (std::uint32_t pulses : {0xFFFFF0u, 0xFFFFFAu}) {
        const auto p = packet(pulses);
        plug.node.on_power_frame(p.data(), p.size());
    }
    REQUIRE(plug.node.tick(1000));
    CHECK(plug.node.last_reading().values[0] == doctest::Approx(0.010));
    const auto wrapped = packet(0x000004u);  // 0xFFFFFA -> 0x000004 across 2^24: 10 pulses
    plug.node.on_power_frame(wrapped.data(), wrapped.size());
    REQUIRE(plug.node.tick(2000));
    CHECK(plug.node.last_reading().values[0] == doctest::Approx(0.010));
    CHECK(plug.node.last_reading().seq == 2);
}
