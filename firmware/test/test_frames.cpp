// Sensor frames: good frames give their value; every corrupted or faulty one is refused.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "checksum.h"
#include "frames.h"

using namespace carbon;

namespace {
const std::uint8_t kCheck[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};

// A Modbus reply from address 0x68 holding two registers 0x0001 0x3E80 (81536 counts).
const std::vector<std::uint8_t> kCo2Reply = {0x68, 0x03, 0x04, 0x00, 0x01, 0x3E, 0x80, 0x43, 0x35};

std::vector<std::uint8_t> with_modbus_crc(std::vector<std::uint8_t> frame) {
    const std::uint16_t crc = crc16_modbus(frame.data(), frame.size());
    frame.push_back(static_cast<std::uint8_t>(crc & 0xFF));
    frame.push_back(static_cast<std::uint8_t>(crc >> 8));
    return frame;
}

std::vector<std::uint8_t> bl0942_packet(std::uint32_t pulses, std::int32_t power) {
    std::vector<std::uint8_t> p(kBl0942PacketSize, 0);
    p[0] = 0x55;
    const auto put24 = [&p](std::size_t at, std::uint32_t v) {
        for (int i = 0; i < 3; ++i) p[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
    };
    put24(1, 0x010203);
    put24(4, 0x0A0B0C);
    put24(10, static_cast<std::uint32_t>(power) & 0xFFFFFF);
    put24(13, pulses);
    p[22] = bl0942_checksum(p.data(), 22);
    return p;
}
}  // namespace

TEST_CASE("checksums match their published check values") {
    CHECK(crc16_modbus(kCheck, 9) == 0x4B37);   // CRC-16/MODBUS of "123456789"
    CHECK(crc32(kCheck, 9) == 0xCBF43926u);     // CRC-32 (IEEE) of "123456789"
    const std::uint8_t beef[] = {0xBE, 0xEF};
    CHECK(crc8_sensirion(beef, 2) == 0x92);     // Sensirion's datasheet example
}

TEST_CASE("Modbus CO2 reply: value, scale, and every refusal") {
    Reading co2 = parse_modbus_co2(kCo2Reply.data(), kCo2Reply.size(), 0x68, 2, 1.0);
    REQUIRE(co2.ok());
    CHECK(co2.value == 81536.0);
    CHECK(parse_modbus_co2(kCo2Reply.data(), kCo2Reply.size(), 0x68, 2, 10.0).value == 815360.0);

    SUBCASE("any single corrupted byte fails the CRC") {
        for (std::size_t i = 0; i < kCo2Reply.size(); ++i) {
            auto bad = kCo2Reply;
            bad[i] ^= 0x01;
            CHECK_MESSAGE(!parse_modbus_co2(bad.data(), bad.size(), 0x68, 2, 1.0).ok(), "byte ", i);
        }
    }
    SUBCASE("a reply from another address") {
        auto other = with_modbus_crc({0x01, 0x03, 0x04, 0x00, 0x01, 0x3E, 0x80});
        CHECK(std::string(parse_modbus_co2(other.data(), other.size(), 0x68, 2, 1.0).error) ==
              "modbus: reply from another address");
    }
    SUBCASE("an exception reply") {
        auto exception = with_modbus_crc({0x68, 0x83, 0x02});
        CHECK(std::string(parse_modbus_co2(exception.data(), exception.size(), 0x68, 2, 1.0).error) ==
              "modbus: sensor returned an exception");
    }
    SUBCASE("a truncated frame and a wrong register count") {
        CHECK(!parse_modbus_co2(kCo2Reply.data(), 4, 0x68, 2, 1.0).ok());
        CHECK(std::string(parse_modbus_co2(kCo2Reply.data(), kCo2Reply.size(), 0x68, 1, 1.0).error) ==
              "modbus: unexpected byte count");
    }
    SUBCASE("a one-register reply") {
        auto one = with_modbus_crc({0x68, 0x03, 0x02, 0x1F, 0x40});
        CHECK(parse_modbus_co2(one.data(), one.size(), 0x68, 1, 10.0).value == 80000.0);
    }
}

TEST_CASE("Modbus read request carries a valid CRC") {
    std::uint8_t request[8];
    modbus_read_request(0x68, 0x0003, 2, request);
    const std::uint8_t head[] = {0x68, 0x03, 0x00, 0x03, 0x00, 0x02};
    CHECK(std::memcmp(request, head, 6) == 0);
    CHECK(crc16_modbus(request, 8) == 0);  // a message followed by its CRC has a CRC of zero
}

TEST_CASE("MAX31855: the datasheet's temperature examples and its faults") {
    // MAX31855 datasheet, Table 2 (thermocouple temperature data format), D31..D18.
    const struct { std::uint32_t bits14; double temp_c; } examples[] = {
        {0b01100100000000, 1600.00}, {0b00111110100000, 1000.00}, {0b00000110010011, 100.75},
        {0b00000001100100, 25.00},   {0b00000000000000, 0.00},    {0b11111111111111, -0.25},
        {0b11111111111100, -1.00},   {0b11110000011000, -250.00}};
    for (const auto& e : examples) {
        const Reading r = parse_max31855(e.bits14 << 18 | 0x0190u << 4);  // cold junction +25 degC
        REQUIRE(r.ok());
        CHECK(r.value == e.temp_c);
    }
    CHECK(std::string(parse_max31855(1u << 16 | 1u).error) == "max31855: thermocouple open circuit");
    CHECK(std::string(parse_max31855(1u << 16 | 2u).error) == "max31855: thermocouple shorted to GND");
    CHECK(std::string(parse_max31855(1u << 16 | 4u).error) == "max31855: thermocouple shorted to VCC");
    CHECK(!parse_max31855(0xFFFFFFFFu).ok());  // MISO floating high
}

TEST_CASE("SDP8xx differential pressure: value, sign, and CRC per word") {
    std::vector<std::uint8_t> frame;
    for (std::int16_t word : {std::int16_t{828}, std::int16_t{6000}, std::int16_t{60}}) {
        const std::uint8_t w[2] = {static_cast<std::uint8_t>(static_cast<std::uint16_t>(word) >> 8),
                                   static_cast<std::uint8_t>(word & 0xFF)};
        frame.insert(frame.end(), w, w + 2);
        frame.push_back(crc8_sensirion(w, 2));
    }
    Reading dp = parse_sdp8xx(frame.data(), frame.size());
    REQUIRE(dp.ok());
    CHECK(dp.value == doctest::Approx(13.8).epsilon(1e-12));

    auto negative = frame;
    negative[0] = 0xFF, negative[1] = 0xE2;  // -30 counts
    negative[2] = crc8_sensirion(negative.data(), 2);
    CHECK(parse_sdp8xx(negative.data(), negative.size()).value == -0.5);

    for (std::size_t i = 0; i < frame.size(); ++i) {
        auto bad = frame;
        bad[i] ^= 0x04;
        CHECK_MESSAGE(!parse_sdp8xx(bad.data(), bad.size()).ok(), "byte ", i);
    }
    CHECK(!parse_sdp8xx(frame.data(), 8).ok());
}

TEST_CASE("BL0942 packet: registers, signed power, and the checksum") {
    const auto packet = bl0942_packet(0xABCDEF, -1234);
    const Bl0942Packet p = parse_bl0942(packet.data(), packet.size());
    REQUIRE(p.ok());
    CHECK(p.current_rms == 0x010203u);
    CHECK(p.voltage_rms == 0x0A0B0Cu);
    CHECK(p.active_power == -1234);
    CHECK(p.energy_pulses == 0xABCDEFu);
    for (std::size_t i = 0; i < packet.size(); ++i) {
        auto bad = packet;
        bad[i] ^= 0x80;
        CHECK_MESSAGE(!parse_bl0942(bad.data(), bad.size()).ok(), "byte ", i);
    }
    CHECK(std::string(parse_bl0942(packet.data(), 22).error) == "bl0942: expected 23 bytes");
}
