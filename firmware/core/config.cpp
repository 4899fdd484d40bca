#include "config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "identifier.h"

namespace carbon {
namespace {

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string::npos) return "";
    return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

bool to_double(const std::string& text, double& out) {
    if (text.empty()) return false;
    char* end = nullptr;
    errno = 0;
    out = std::strtod(text.c_str(), &end);
    return errno == 0 && *end == '\0' && std::isfinite(out);
}

bool to_uint(const std::string& text, unsigned long max, unsigned long& out) {
    if (text.empty() || text[0] == '-') return false;
    char* end = nullptr;
    errno = 0;
    const bool hex = text.rfind("0x", 0) == 0 || text.rfind("0X", 0) == 0;  // 0x68 for bus addresses
    out = std::strtoul(text.c_str() + (hex ? 2 : 0), &end, hex ? 16 : 10);  // never octal: 0100 is 100
    return errno == 0 && *end == '\0' && out <= max;
}

// One setter per key: it stores the value, or returns what was expected.
using Setter = std::function<const char*(Config&, const std::string&)>;

Setter text(std::string Config::*field) {
    return [field](Config& c, const std::string& v) -> const char* { c.*field = v; return nullptr; };
}

Setter identifier(std::string Config::*field) {
    return [field](Config& c, const std::string& v) -> const char* {
        if (!is_identifier(v)) return "an identifier of letters, digits and . _ : - (1-128 chars)";
        c.*field = v;
        return nullptr;
    };
}

Setter positive(double Config::*field) {
    return [field](Config& c, const std::string& v) -> const char* {
        double x;
        if (!to_double(v, x) || x <= 0) return "a positive number";
        c.*field = x;
        return nullptr;
    };
}

// One of a few words, each standing for a value of `field`'s enum.
template <typename T>
Setter choice(T Config::*field, std::initializer_list<std::pair<const char*, T>> words, const char* expected) {
    const std::vector<std::pair<std::string, T>> table(words.begin(), words.end());
    return [=](Config& c, const std::string& v) -> const char* {
        for (const auto& [word, value] : table) {
            if (v == word) {
                c.*field = value;
                return nullptr;
            }
        }
        return expected;
    };
}

template <typename T>
Setter whole(T Config::*field, unsigned long min, unsigned long max, const char* expected) {
    return [=](Config& c, const std::string& v) -> const char* {
        unsigned long x;
        if (!to_uint(v, max, x) || x < min) return expected;
        c.*field = static_cast<T>(x);
        return nullptr;
    };
}

const std::map<std::string, Setter>& setters() {
    static const std::map<std::string, Setter> table = {
        {"kind", choice(&Config::kind, {{"chimney", Kind::chimney}, {"plug", Kind::plug}}, "chimney or plug")},
        {"device_id", identifier(&Config::device_id)},
        {"org", identifier(&Config::org)},
        {"site", identifier(&Config::site)},
        {"region", identifier(&Config::region)},
        {"vertical", identifier(&Config::vertical)},
        {"broker", [](Config& c, const std::string& v) -> const char* {
             BrokerAddress address;
             std::string error;
             if (!parse_broker(v, address, error)) return "mqtt://host:port or mqtts://host:port";
             c.broker = v;
             return nullptr;
         }},
        {"ca_file", text(&Config::ca_file)},
        {"username", identifier(&Config::username)},
        {"password", text(&Config::password)},
        {"ntp_server", text(&Config::ntp_server)},
        {"wifi_ssid", text(&Config::wifi_ssid)},
        {"wifi_password", text(&Config::wifi_password)},
        {"sample_interval_ms", whole(&Config::sample_interval_ms, 10, 3600000, "milliseconds, 10 to 3600000")},
        {"publish_interval_ms", whole(&Config::publish_interval_ms, 10, 86400000, "milliseconds, 10 to 86400000")},
        {"status_interval_ms", whole(&Config::status_interval_ms, 100, 86400000, "milliseconds, 100 to 86400000")},
        {"ack_timeout_ms", whole(&Config::ack_timeout_ms, 100, 3600000, "milliseconds, 100 to 3600000")},
        {"batch_max", whole(&Config::batch_max, 1, 500, "a count of 1 to 500 readings")},
        {"ring_capacity", whole(&Config::ring_capacity, 2, 10000000, "a count of 2 to 10000000 readings")},
        {"ntp_wait_ms", whole(&Config::ntp_wait_ms, 0, 86400000, "milliseconds, 0 to 86400000")},
        {"shape", choice(&Config::shape, {{"circle", Shape::circle}, {"rectangle", Shape::rectangle}},
                         "circle or rectangle")},
        {"diameter_m", positive(&Config::diameter_m)},
        {"width_m", positive(&Config::width_m)},
        {"depth_m", positive(&Config::depth_m)},
        {"pressure_pa", positive(&Config::pressure_pa)},
        {"co2_modbus_address", whole(&Config::co2_modbus_address, 1, 247, "a Modbus address, 1 to 247")},
        {"co2_register", whole(&Config::co2_register, 0, 0xFFFF, "a register number, 0 to 65535")},
        {"co2_registers", whole(&Config::co2_registers, 1, 2, "1 (16-bit count) or 2 (32-bit count)")},
        {"co2_ppm_per_count", positive(&Config::co2_ppm_per_count)},
        {"pitot_coefficient", positive(&Config::pitot_coefficient)},
        {"flue_gas_molar_mass", positive(&Config::flue_gas_molar_mass)},
        {"flue_moisture_fraction", [](Config& c, const std::string& v) -> const char* {
             double x;
             if (!to_double(v, x) || x < 0 || x >= 1) return "a fraction from 0 up to 1 (water vapour by volume)";
             c.flue_moisture_fraction = x;
             return nullptr;
         }},
        {"kwh_per_pulse", positive(&Config::kwh_per_pulse)},
        {"appliance", identifier(&Config::appliance)},
    };
    return table;
}

std::string complaint(int line, const std::string& key, const std::string& value, const char* expected) {
    return "config line " + std::to_string(line) + ": " + key + ": expected " + expected + ", got '" + value + "'";
}

}  // namespace

bool parse_broker(const std::string& url, BrokerAddress& out, std::string& error) {
    std::string rest;
    if (url.rfind("mqtts://", 0) == 0) {
        out.tls = true;
        rest = url.substr(8);
    } else if (url.rfind("mqtt://", 0) == 0) {
        out.tls = false;
        rest = url.substr(7);
    } else {
        error = "broker: expected mqtt://host:port or mqtts://host:port, got '" + url + "'";
        return false;
    }
    const auto colon = rest.rfind(':');
    unsigned long port = 0;
    if (colon == std::string::npos || colon == 0 || !to_uint(rest.substr(colon + 1), 65535, port) || port == 0) {
        error = "broker: expected mqtt://host:port or mqtts://host:port, got '" + url + "'";
        return false;
    }
    out.host = rest.substr(0, colon);
    out.port = static_cast<int>(port);
    return true;
}

ConfigResult parse_config(const std::string& text) {
    ConfigResult result;
    Config& c = result.config;
    c.vertical.clear();
    std::size_t start = 0;
    int line_number = 0;
    while (start <= text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string line = trim(text.substr(start, end - start));
        start = end + 1;
        ++line_number;
        if (line.empty() || line[0] == '#') continue;
        const auto equals = line.find('=');
        if (equals == std::string::npos) {
            result.error = "config line " + std::to_string(line_number) + ": expected key = value, got '" + line + "'";
            return result;
        }
        const std::string key = trim(line.substr(0, equals)), value = trim(line.substr(equals + 1));
        const auto setter = setters().find(key);
        if (setter == setters().end()) {
            result.error = "config line " + std::to_string(line_number) + ": unknown key '" + key + "'";
            return result;
        }
        if (const char* expected = setter->second(c, value)) {
            result.error = complaint(line_number, key, value, expected);
            return result;
        }
    }
    // What a complete configuration needs, by kind.
    for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"device_id", &c.device_id},
                                     {"org", &c.org}, {"site", &c.site}}) {
        if (value->empty()) {
            result.error = std::string("config: ") + key + " is required";
            return result;
        }
    }
    if (c.vertical.empty()) c.vertical = c.kind == Kind::chimney ? "manufacturing" : "residential";
    if (c.kind == Kind::chimney) {
        if (c.shape == Shape::circle && c.diameter_m <= 0) result.error = "config: diameter_m is required for a circular chimney";
        if (c.shape == Shape::rectangle && (c.width_m <= 0 || c.depth_m <= 0))
            result.error = "config: width_m and depth_m are required for a rectangular chimney";
        if (c.flue_moisture_fraction < 0)
            result.error = "config: flue_moisture_fraction is required for a chimney (0 when the CO2 module sees wet gas)";
    } else if (c.kwh_per_pulse <= 0) {
        result.error = "config: kwh_per_pulse is required for a plug (see the calibration section of the README)";
    }
    return result;
}

}  // namespace carbon
