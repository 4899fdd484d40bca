// Configuration: complete files load; every mistake names the line, the key and the value.
#include <doctest/doctest.h>

#include <string>

#include "config.h"

using namespace carbon;

namespace {
const char* const kChimney =
    "# a chimney node\nkind = chimney\ndevice_id = ktda-kangaita-boiler-1\norg = ktda\nsite = kangaita\n"
    "region = KE\nbroker = mqtts://broker.example:8883\nca_file = /ca.crt\nshape = rectangle\nwidth_m = 0.6\n"
    "depth_m = 0.4\nco2_modbus_address = 0x68\npublish_interval_ms = 5000\nflue_moisture_fraction = 0.15\n";
}

TEST_CASE("a complete chimney config loads, with defaults for the rest") {
    const ConfigResult r = parse_config(kChimney);
    REQUIRE_MESSAGE(r.ok(), r.error);
    CHECK(r.config.device_id == "ktda-kangaita-boiler-1");
    CHECK(r.config.area_m2() == doctest::Approx(0.24));
    CHECK(r.config.co2_modbus_address == 0x68);
    CHECK(r.config.vertical == "manufacturing");
    CHECK(r.config.effective_username() == "ktda-kangaita-boiler-1");
    CHECK(r.config.ring_capacity == 17280);
    CHECK(r.config.flue_moisture_fraction == 0.15);
    CHECK(parse_config(std::string(kChimney) + "sample_interval_ms = 0100\n").config.sample_interval_ms == 100);  // not octal
}

TEST_CASE("mistakes are errors naming line, key and value") {
    CHECK(parse_config(std::string(kChimney) + "diameter_m = wide\n").error ==
          "config line 15: diameter_m: expected a positive number, got 'wide'");
    CHECK(parse_config(std::string(kChimney) + "diamter_m = 0.5\n").error == "config line 15: unknown key 'diamter_m'");
    CHECK(parse_config(std::string(kChimney) + "shape = oval\n").error ==
          "config line 15: shape: expected circle or rectangle, got 'oval'");
    CHECK(parse_config(std::string(kChimney) + "kind = meter\n").error ==
          "config line 15: kind: expected chimney or plug, got 'meter'");
    CHECK(parse_config(std::string(kChimney) + "device_id = boiler/1\n").error ==
          "config line 15: device_id: expected an identifier of letters, digits and . _ : - (1-128 chars), got 'boiler/1'");
    CHECK(parse_config(std::string(kChimney) + "broker = tcp://x:1\n").error.find("broker: expected mqtt://host:port") !=
          std::string::npos);
    CHECK(parse_config(std::string(kChimney) + "co2_modbus_address = 300\n").error.find("a Modbus address") != std::string::npos);
    CHECK(parse_config("kind = chimney\norg = a\nsite = b\n").error == "config: device_id is required");
    CHECK(parse_config("kind = chimney\ndevice_id = c\norg = a\nsite = b\nflue_moisture_fraction = 0\n").error ==
          "config: diameter_m is required for a circular chimney");
    CHECK(parse_config("kind = chimney\ndevice_id = c\norg = a\nsite = b\ndiameter_m = 1\n").error ==
          "config: flue_moisture_fraction is required for a chimney (0 when the CO2 module sees wet gas)");
    CHECK(parse_config(std::string(kChimney) + "flue_moisture_fraction = 1\n").error.find("a fraction from 0 up to 1") !=
          std::string::npos);
    CHECK(parse_config("kind = plug\ndevice_id = c\norg = a\nsite = b\n").error ==
          "config: kwh_per_pulse is required for a plug (see the calibration section of the README)");
}

TEST_CASE("broker URLs") {
    BrokerAddress a;
    std::string error;
    REQUIRE(parse_broker("mqtts://127.0.0.1:8883", a, error));
    CHECK(a.tls);
    CHECK(a.host == "127.0.0.1");
    CHECK(a.port == 8883);
    CHECK(!parse_broker("mqtt://host", a, error));
    CHECK(!parse_broker("mqtt://host:0", a, error));
    CHECK(!parse_broker("mqtt://:1883", a, error));
}
