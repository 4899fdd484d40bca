// Simulated sensors for the emulator: a chimney and a plug that produce the very frames the
// real parts put on the wire (Modbus RTU with CRC, MAX31855 words, SDP8xx words with CRC-8,
// BL0942 packets with checksum), so the emulator exercises the same parsing as a device.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "config.h"

namespace carbon {

class Simulator {
public:
    Simulator(const Config& config, std::uint32_t seed, std::uint32_t corrupt_every)
        : config_(config), rng_(seed), corrupt_every_(corrupt_every) {}

    // One sampling step `dt_s` seconds after the previous one, at local `hour` of the day.
    void step(double hour, double dt_s);

    std::vector<std::uint8_t> co2_frame();
    std::uint32_t thermocouple_word();
    std::vector<std::uint8_t> pressure_frame();
    std::vector<std::uint8_t> power_frame();

private:
    void maybe_corrupt(std::vector<std::uint8_t>& frame);

    const Config& config_;
    std::mt19937 rng_;
    std::uint32_t corrupt_every_;
    std::uint64_t frames_ = 0;
    double co2_ppm_ = 80000, temp_c_ = 180, velocity_m_s_ = 3.5;
    double watts_ = 100, pulses_ = 0;
};

}  // namespace carbon
