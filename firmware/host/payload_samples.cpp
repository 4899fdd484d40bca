// payload-samples: the firmware's encoder applied to fixed readings, one JSON line per message,
// with the exact bits of every value, so that tests/test_firmware.py can check that the
// pipeline's parser reads back the very doubles, ids, times and flags the firmware encoded.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "clock.h"
#include "config.h"
#include "payload.h"
#include "physics.h"
#include "ring.h"

namespace {

constexpr std::uint32_t kRingId = 0x3fa2c1d0;

std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (const char ch : text) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    return out + '"';
}

std::string bits(double value) {
    std::uint64_t b;
    std::memcpy(&b, &value, sizeof b);
    char text[20];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(b));
    return text;
}

carbon::Record record(std::uint64_t seq, std::int64_t utc_ms, bool synced, std::uint32_t boot,
                      std::initializer_list<double> values) {
    carbon::Record r;
    r.seq = seq;
    r.stamp = carbon::Stamp{boot, 12345 + seq, utc_ms, synced};
    int i = 0;
    for (int slot = 0; slot < carbon::kValues; ++slot) r.values[slot] = std::numeric_limits<double>::quiet_NaN();
    for (double v : values) r.values[i++] = v;
    return r;
}

void emit(const char* name, const carbon::Config& config, const std::vector<carbon::Record>& records) {
    const char* stream = records.size() == 1 ? "telemetry" : "batch";
    std::string readings;
    for (const auto& r : records) {
        readings += readings.empty() ? "[" : ",";
        readings += "{\"event_id\":" + json_string(carbon::event_id(kRingId, r.seq)) + ",\"utc_ms\":" + std::to_string(r.stamp.utc_ms) +
                    ",\"synced\":" + (r.stamp.synced ? "true" : "false") + ",\"boot\":" + std::to_string(r.stamp.boot) +
                    ",\"uptime_ms\":" + std::to_string(r.stamp.uptime_ms) + ",\"values\":{";
        bool first = true;
        for (int slot = 0; slot < carbon::kValues; ++slot) {
            if (!*carbon::metric_name(config.kind, slot) || std::isnan(r.values[slot])) continue;
            readings += std::string(first ? "" : ",") + json_string(carbon::metric_name(config.kind, slot)) + ":" +
                        json_string(bits(r.values[slot]));
            first = false;
        }
        readings += "}}";
    }
    std::printf("{\"case\":%s,\"topic\":%s,\"payload\":%s,\"readings\":%s]}\n", json_string(name).c_str(),
                json_string(carbon::topic(config, stream)).c_str(),
                json_string(carbon::encode_readings(config, kRingId, records)).c_str(), readings.c_str());
}

}  // namespace

int main() {
    carbon::Config chimney = carbon::parse_config(
        "kind = chimney\ndevice_id = ktda-kangaita-boiler-1\norg = ktda\nsite = kangaita\nregion = KE\n"
        "shape = circle\ndiameter_m = 0.6\nflue_moisture_fraction = 0.12\n").config;
    carbon::Config plug = carbon::parse_config(
        "kind = plug\ndevice_id = plug-kettle-7\norg = homes\nsite = home-nbo-01\nregion = KE\n"
        "appliance = kettle\nkwh_per_pulse = 0.0003125\n").config;
    const std::int64_t t = 1795428005250;  // 2026-11-23T10:00:05.250Z
    const double area = chimney.area_m2();
    const double flow = carbon::co2_mass_flow_kg_s(81250, 3.1, area, 182.4, 101325);

    emit("chimney single", chimney, {record(42, t, true, 3, {81250, 182.4, 3.1, flow})});
    emit("chimney batch across a leap-day midnight", chimney,
         {record(43, 1835481599999, true, 3, {0.1 + 0.2, 1.0 / 3, 2.0 / 3, 1e-9}),   // 2028-02-29T23:59:59.999Z
          record(44, 1835481600000, true, 3, {120000, -40.25, 5.5}),                // no mass flow this interval
          record(45, 1835481605000, true, 3, {99999.99999999999, 229.9, 0.0, 0.0})});
    emit("unsynced reading of an earlier boot, then synced ones", chimney,
         {record(46, 61000, false, 2, {80000, 180, 3.5}),
          record(47, t + 5000, true, 3, {80100, 180.5, 3.4})});
    emit("unsynced single", chimney, {record(48, 66000, false, 2, {80000, 180, 3.5})});
    emit("plug single", plug, {record(900000000001, t, true, 1, {0.0003125})});
    emit("plug batch with tiny and large values", plug,
         {record(7, t, true, 1, {5e-324}), record(8, t + 60000, true, 1, {12345.678}), record(9, t + 120000, true, 1, {0})});
    return 0;
}
