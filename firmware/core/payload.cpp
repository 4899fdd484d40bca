#include "payload.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>

namespace carbon {

const char* const kFirmwareVersion = "0.1.0";

namespace {

// Ids, sites, regions and tags are identifiers (checked when the config is read), so they need
// no JSON escaping; the sensor error reasons are our own constant strings.
void field(std::string& out, const char* key, const std::string& value) {
    out += '"';
    out += key;
    out += "\":\"";
    out += value;
    out += '"';
}

void number(std::string& out, const char* key, const std::string& value) {
    out += '"';
    out += key;
    out += "\":";
    out += value;
}

std::string ts(const Stamp& stamp) { return format_utc(stamp.utc_ms); }

void metrics(std::string& out, Kind kind, const Record& record) {
    out += "\"metrics\":{";
    bool first = true;
    for (int slot = 0; slot < kValues; ++slot) {
        if (!*metric_name(kind, slot) || !std::isfinite(record.values[slot])) continue;
        if (!first) out += ',';
        first = false;
        number(out, metric_name(kind, slot), format_number(record.values[slot]));
    }
    out += '}';
}

// The flag of a reading whose UTC time is unknown, with what would let someone place it.
void unsynced_tags(std::string& out, const Stamp& stamp) {
    field(out, "clock", "unsynced");
    out += ',';
    number(out, "boot", std::to_string(stamp.boot));
    out += ',';
    number(out, "uptime_ms", std::to_string(stamp.uptime_ms));
}

void device_tags(std::string& out, const Config& config) {
    field(out, "site", config.site);
    if (!config.region.empty()) {
        out += ',';
        field(out, "region", config.region);
    }
    if (!config.appliance.empty()) {
        out += ',';
        field(out, "appliance", config.appliance);
    }
}

void envelope(std::string& out, const Config& config) {
    out += '{';
    field(out, "schema", "carbon.telemetry/1");
    out += ',';
    field(out, "source_id", config.device_id);
    out += ',';
    field(out, "vertical", config.vertical);
    out += ',';
}

}  // namespace

const char* metric_name(Kind kind, int slot) {
    static const char* const chimney[kValues] = {"co2_ppm", "flue_temp_c", "flue_velocity_m_s", "co2_mass_flow_kg_s"};
    static const char* const plug[kValues] = {"energy_kwh", "", "", ""};
    return (kind == Kind::chimney ? chimney : plug)[slot];
}

std::string topic(const Config& config, const char* stream) {
    return "carbon/v1/" + config.org + "/" + config.site + "/" + config.device_id + "/" + stream;
}

std::string event_id(std::uint32_t ring_id, std::uint64_t seq) {
    char text[40];
    std::snprintf(text, sizeof text, "%08lx-%012llu", static_cast<unsigned long>(ring_id), static_cast<unsigned long long>(seq));
    return text;
}

std::string format_number(double value) {
    char text[400];
    int precision = 1;
    for (; precision < 17; ++precision) {
        std::snprintf(text, sizeof text, "%.*g", precision, value);
        if (std::strtod(text, nullptr) == value) break;
    }
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    // %g writes 81250 as 8.125e+04 at 4 digits: below 1e17, whole digits read better.
    const char* e = std::strchr(text, 'e');
    if (e != nullptr) {
        const int exponent = std::atoi(e + 1);
        if (exponent >= 0 && exponent < 17) std::snprintf(text, sizeof text, "%.*f", std::max(0, precision - 1 - exponent), value);
    }
    return text;
}

std::string encode_readings(const Config& config, std::uint32_t ring_id, const std::vector<Record>& records) {
    std::string out;
    envelope(out, config);
    if (records.size() == 1) {
        const Record& r = records.front();
        field(out, "event_id", event_id(ring_id, r.seq));
        out += ',';
        field(out, "ts", ts(r.stamp));
        out += ',';
        metrics(out, config.kind, r);
        out += ",\"tags\":{";
        device_tags(out, config);
        if (!r.stamp.synced) {
            out += ',';
            unsynced_tags(out, r.stamp);
        }
        out += "}}";
        return out;
    }
    out += "\"tags\":{";
    device_tags(out, config);
    out += "},\"readings\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
        const Record& r = records[i];
        out += i ? ",{" : "{";
        field(out, "event_id", event_id(ring_id, r.seq));
        out += ',';
        field(out, "ts", ts(r.stamp));
        out += ',';
        metrics(out, config.kind, r);
        if (!r.stamp.synced) {
            out += ",\"tags\":{";
            unsynced_tags(out, r.stamp);
            out += '}';
        }
        out += '}';
    }
    out += "]}";
    return out;
}

std::string encode_status(const Config& config, const Status& s) {
    std::string out = "{";
    field(out, "schema", "carbon.status/1");
    out += ',';
    field(out, "source_id", config.device_id);
    out += ',';
    field(out, "ts", ts(s.now));
    out += ',';
    number(out, "clock_synced", s.now.synced ? "true" : "false");
    out += ',';
    field(out, "fw_version", kFirmwareVersion);
    out += ',';
    field(out, "kind", config.kind == Kind::chimney ? "chimney" : "plug");
    out += ',';
    number(out, "boot", std::to_string(s.now.boot));
    out += ',';
    number(out, "uptime_s", format_number(static_cast<double>(s.now.uptime_ms) / 1000.0));
    out += ',';
    number(out, "buffer_depth", std::to_string(s.buffer_depth));
    out += ',';
    number(out, "buffer_capacity", std::to_string(s.buffer_capacity));
    out += ',';
    number(out, "dropped", std::to_string(s.dropped));
    out += ',';
    number(out, "rssi_dbm", std::to_string(s.rssi_dbm));
    out += ',';
    number(out, "reconnects", std::to_string(s.reconnects));
    out += ',';
    number(out, "offline_s", format_number(s.offline_s));
    out += ',';
    number(out, "last_outage_s", format_number(s.last_outage_s));
    out += ',';
    number(out, "readings", std::to_string(s.readings));
    out += ',';
    number(out, "sensor_errors", std::to_string(s.sensor_errors));
    if (!s.last_sensor_error.empty()) {
        out += ',';
        field(out, "last_sensor_error", s.last_sensor_error);
    }
    out += '}';
    return out;
}

}  // namespace carbon
