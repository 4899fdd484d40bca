// Sensor frames: bytes off the UART, I2C and SPI buses in, a checked value or a reason out.
//
// A frame that fails its checksum, comes from the wrong bus address or reports a sensor fault is
// refused with a short reason (counted in the status stream); it never becomes a reading.
#pragma once

#include <cstddef>
#include <cstdint>

namespace carbon {

// A value read from a frame, or why there is none. `error` is a static string; null when ok.
struct Reading {
    double value = 0.0;
    const char* error = nullptr;
    bool ok() const { return error == nullptr; }
};

// The 8-byte Modbus RTU request "read `count` holding registers from `first`" of `address`.
void modbus_read_request(std::uint8_t address, std::uint16_t first, std::uint16_t count, std::uint8_t out[8]);

// CO2 from a Modbus RTU reply to function 0x03 (read holding registers) of one or two registers
// (two: a 32-bit count, high word first), times `ppm_per_count`. High-range NDIR modules report
// percent-range concentrations this way; the register and scale are configuration.
Reading parse_modbus_co2(const std::uint8_t* frame, std::size_t size, std::uint8_t address, int registers,
                         double ppm_per_count);

// Flue temperature in degC from the MAX31855 thermocouple amplifier's 32-bit SPI word.
Reading parse_max31855(std::uint32_t word);

// Differential pressure in Pa from the 9 bytes a Sensirion SDP8xx returns in continuous mode
// (pressure, temperature, scale factor, each a big-endian word followed by its CRC-8).
Reading parse_sdp8xx(const std::uint8_t* frame, std::size_t size);

// The BL0942 energy-metering IC's 23-byte "full packet" (registers little-endian, raw counts).
struct Bl0942Packet {
    std::uint32_t current_rms = 0;
    std::uint32_t voltage_rms = 0;
    std::int32_t active_power = 0;
    std::uint32_t energy_pulses = 0;  // CF_CNT: a 24-bit counter of energy pulses that wraps
    const char* error = nullptr;
    bool ok() const { return error == nullptr; }
};
constexpr std::size_t kBl0942PacketSize = 23;
Bl0942Packet parse_bl0942(const std::uint8_t* frame, std::size_t size);

}  // namespace carbon
