#include "checksum.h"

namespace carbon {

std::uint16_t crc16_modbus(const std::uint8_t* data, std::size_t size) {
    std::uint16_t crc = 0xFFFF;
    for (std::size_t i = 0; i < size; ++i) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 1) ? static_cast<std::uint16_t>((crc >> 1) ^ 0xA001) : static_cast<std::uint16_t>(crc >> 1);
        }
    }
    return crc;
}

std::uint8_t crc8_sensirion(const std::uint8_t* data, std::size_t size) {
    std::uint8_t crc = 0xFF;
    for (std::size_t i = 0; i < size; ++i) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 0x80) ? static_cast<std::uint8_t>((crc << 1) ^ 0x31) : static_cast<std::uint8_t>(crc << 1);
        }
    }
    return crc;
}

std::uint8_t bl0942_checksum(const std::uint8_t* packet, std::size_t size_without_checksum) {
    constexpr std::uint8_t kReadCommand = 0x58;  // the byte the node sent to ask for the packet
    std::uint8_t sum = kReadCommand;
    for (std::size_t i = 0; i < size_without_checksum; ++i) sum = static_cast<std::uint8_t>(sum + packet[i]);
    return static_cast<std::uint8_t>(~sum);
}

std::uint32_t crc32(const std::uint8_t* data, std::size_t size) {
    std::uint32_t crc = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < size; ++i) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

}  // namespace carbon
