#include "frames.h"

#include "checksum.h"

namespace carbon {
namespace {

std::uint32_t le24(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 | static_cast<std::uint32_t>(p[2]) << 16;
}

Reading refuse(const char* why) { return Reading{0.0, why}; }

}  // namespace

void modbus_read_request(std::uint8_t address, std::uint16_t first, std::uint16_t count, std::uint8_t out[8]) {
    out[0] = address;
    out[1] = 0x03;
    out[2] = static_cast<std::uint8_t>(first >> 8);
    out[3] = static_cast<std::uint8_t>(first & 0xFF);
    out[4] = static_cast<std::uint8_t>(count >> 8);
    out[5] = static_cast<std::uint8_t>(count & 0xFF);
    const std::uint16_t crc = crc16_modbus(out, 6);
    out[6] = static_cast<std::uint8_t>(crc & 0xFF);
    out[7] = static_cast<std::uint8_t>(crc >> 8);
}

Reading parse_modbus_co2(const std::uint8_t* frame, std::size_t size, std::uint8_t address, int registers,
                         double ppm_per_count) {
    if (registers != 1 && registers != 2) return refuse("modbus: expected 1 or 2 registers");
    if (size < 5) return refuse("modbus: short frame");
    const std::uint16_t crc = static_cast<std::uint16_t>(frame[size - 2] | frame[size - 1] << 8);
    if (crc16_modbus(frame, size - 2) != crc) return refuse("modbus: CRC mismatch");
    if (frame[0] != address) return refuse("modbus: reply from another address");
    if (frame[1] == 0x83) return refuse("modbus: sensor returned an exception");
    if (frame[1] != 0x03) return refuse("modbus: unexpected function code");
    const std::size_t bytes = static_cast<std::size_t>(registers) * 2;
    if (frame[2] != bytes || size != 3 + bytes + 2) return refuse("modbus: unexpected byte count");
    std::uint32_t counts = 0;
    for (std::size_t i = 0; i < bytes; ++i) counts = counts << 8 | frame[3 + i];
    return Reading{counts * ppm_per_count, nullptr};
}

Reading parse_max31855(std::uint32_t word) {
    // Bits 17 and 3 always read 0: a floating MISO line reads all ones and trips this.
    if (word & (1u << 17 | 1u << 3)) return refuse("max31855: reserved bits set (no sensor on the bus?)");
    if (word & 1u) return refuse("max31855: thermocouple open circuit");
    if (word & 2u) return refuse("max31855: thermocouple shorted to GND");
    if (word & 4u) return refuse("max31855: thermocouple shorted to VCC");
    if (word & (1u << 16)) return refuse("max31855: fault");
    // D31..D18: a 14-bit two's complement temperature in steps of 0.25 degC.
    std::int32_t raw = static_cast<std::int32_t>(word >> 18);
    if (raw & 0x2000) raw -= 0x4000;
    return Reading{raw * 0.25, nullptr};
}

Reading parse_sdp8xx(const std::uint8_t* frame, std::size_t size) {
    if (size != 9) return refuse("sdp8xx: expected 9 bytes");
    for (std::size_t word = 0; word < 3; ++word) {
        if (crc8_sensirion(frame + 3 * word, 2) != frame[3 * word + 2]) return refuse("sdp8xx: CRC mismatch");
    }
    const auto pressure = static_cast<std::int16_t>(frame[0] << 8 | frame[1]);
    const auto scale = static_cast<std::int16_t>(frame[6] << 8 | frame[7]);
    if (scale <= 0) return refuse("sdp8xx: scale factor not positive");
    return Reading{static_cast<double>(pressure) / scale, nullptr};
}

Bl0942Packet parse_bl0942(const std::uint8_t* frame, std::size_t size) {
    Bl0942Packet packet;
    if (size != kBl0942PacketSize) {
        packet.error = "bl0942: expected 23 bytes";
    } else if (frame[0] != 0x55) {
        packet.error = "bl0942: no 0x55 packet header";
    } else if (bl0942_checksum(frame, size - 1) != frame[size - 1]) {
        packet.error = "bl0942: checksum mismatch";
    } else {
        packet.current_rms = le24(frame + 1);
        packet.voltage_rms = le24(frame + 4);
        // frame + 7: the fast current RMS used for over-current protection, not metered here.
        std::uint32_t power = le24(frame + 10);
        packet.active_power = (power & 0x800000u) ? static_cast<std::int32_t>(power) - 0x1000000 : static_cast<std::int32_t>(power);
        packet.energy_pulses = le24(frame + 13);
    }
    return packet;
}

}  // namespace carbon
