// Device configuration: one `key = value` text file per device (on the ESP32 in its flash file
// system, on the host passed with --config). Every key is known; a typo or a bad value is an
// error naming the line, the key and the value, never a silent default.
#pragma once

#include <cstdint>
#include <string>

#include "physics.h"

namespace carbon {

enum class Kind { chimney, plug };

struct Config {
    // Identity: the topic is carbon/v1/{org}/{site}/{device_id}/{stream}, built from these only.
    Kind kind = Kind::chimney;
    std::string device_id, org, site, region, vertical;
    // Broker: mqtt://host:port or mqtts://host:port (TLS against ca_file), and the credentials
    // that `carbon-lake devices add` issued (username defaults to the device id).
    std::string broker = "mqtt://127.0.0.1:1883";
    std::string ca_file, username, password;
    std::string ntp_server = "pool.ntp.org";
    std::string wifi_ssid, wifi_password;
    // Timing.
    std::uint32_t sample_interval_ms = 1000;   // how often the sensors are read
    std::uint32_t publish_interval_ms = 5000;  // one reading (the mean of the samples) per interval
    std::uint32_t status_interval_ms = 60000;
    std::uint32_t ack_timeout_ms = 30000;      // an unacknowledged batch is sent again after this
    std::uint32_t batch_max = 50;              // readings per gateway batch when catching up
    std::uint32_t ring_capacity = 17280;       // readings kept in flash while offline (a day at 5 s)
    std::uint32_t ntp_wait_ms = 600000;        // how long this boot's readings wait for NTP before going unsynced
    // Chimney geometry and probes (from the site survey; the same values as chimneys.csv).
    Shape shape = Shape::circle;
    double diameter_m = 0, width_m = 0, depth_m = 0;
    double pressure_pa = 101325;
    std::uint8_t co2_modbus_address = 0x68;
    std::uint16_t co2_register = 0;
    int co2_registers = 2;
    double co2_ppm_per_count = 1.0;
    double pitot_coefficient = 0.84;
    double flue_gas_molar_mass = 0.02897;      // of the wet flue gas the Pitot tube sits in
    // Water vapour by volume in the flue gas (EPA Method 4). The NDIR module sees the gas dried by
    // the sampling line, the Pitot tube the wet gas: CO2 is published on the wet basis, so that
    // ppm x velocity x area is the CO2 flow. Required for a chimney; 0 when the module sees wet gas.
    double flue_moisture_fraction = -1;
    // Smart plug: kWh per BL0942 energy pulse (from the shunt, divider and calibration).
    double kwh_per_pulse = 0;
    std::string appliance;

    double area_m2() const { return cross_section_m2(shape, diameter_m, width_m, depth_m); }
    std::string effective_username() const { return username.empty() ? device_id : username; }
};

struct ConfigResult {
    Config config;
    std::string error;  // empty when the text is a complete, valid configuration
    bool ok() const { return error.empty(); }
};

ConfigResult parse_config(const std::string& text);

// The broker URL split into its parts; false (and `error`) when it is not mqtt(s)://host:port.
struct BrokerAddress {
    bool tls = false;
    std::string host;
    int port = 0;
};
bool parse_broker(const std::string& url, BrokerAddress& out, std::string& error);

}  // namespace carbon
