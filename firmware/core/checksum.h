// Checksums of the sensor buses and of the flash records.
//
// Each one is the exact algorithm its datasheet names, so that a frame corrupted on a long
// cable between the chimney port and the node is refused rather than averaged into a reading.
#pragma once

#include <cstddef>
#include <cstdint>

namespace carbon {

// Modbus RTU (the high-range NDIR CO2 module): CRC-16/MODBUS, sent low byte first.
std::uint16_t crc16_modbus(const std::uint8_t* data, std::size_t size);

// Sensirion SDP8xx differential-pressure sensor: CRC-8, polynomial 0x31, init 0xFF, per 2-byte word.
std::uint8_t crc8_sensirion(const std::uint8_t* data, std::size_t size);

// BL0942 energy-metering IC: the one's complement of the byte sum, read command included.
std::uint8_t bl0942_checksum(const std::uint8_t* packet, std::size_t size_without_checksum);

// Flash records and metadata: CRC-32 (IEEE 802.3, as zlib), which finds a torn write.
std::uint32_t crc32(const std::uint8_t* data, std::size_t size);

}  // namespace carbon
