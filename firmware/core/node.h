// A device: sensor frames in, readings into the ring, messages out through the send queue.
//
// The platform glue (esp32/main.cpp, host/main.cpp) only moves bytes: it reads the buses and
// hands the raw frames here, tells the node about the link and the time, and calls tick().
// Everything that decides what a reading is happens here, the same on both.
#pragma once

#include <cstdint>
#include <string>

#include "clock.h"
#include "config.h"
#include "payload.h"
#include "ring.h"
#include "uplink.h"

namespace carbon {

// The mean of the good samples of one interval.
class Averager {
public:
    void add(double value) { sum_ += value; ++count_; }
    bool empty() const { return count_ == 0; }
    double mean() const { return sum_ / count_; }
    void reset() { sum_ = 0; count_ = 0; }

private:
    double sum_ = 0;
    std::uint32_t count_ = 0;
};

class Node {
public:
    Node(const Config& config, Ring& ring, Clock& clock, Transport& transport);

    // Chimney: the CO2 module's Modbus reply, the MAX31855 word, the SDP8xx frame.
    void on_co2_frame(const std::uint8_t* frame, std::size_t size);
    void on_thermocouple_word(std::uint32_t word);
    void on_pressure_frame(const std::uint8_t* frame, std::size_t size);
    // Smart plug: the BL0942 full packet.
    void on_power_frame(const std::uint8_t* frame, std::size_t size);

    void on_connected(std::uint64_t uptime_ms);
    void on_disconnected(std::uint64_t uptime_ms);
    void on_acknowledged(int mid) { queue_.on_acknowledged(mid); }
    void set_rssi(int rssi_dbm) { rssi_dbm_ = rssi_dbm; }

    // Close the publish interval when it is due, send what waits, publish the status when due.
    // False when the flash failed (the glue should log it and restart).
    bool tick(std::uint64_t uptime_ms);
    // Shutting down: take no more readings, keep sending what is buffered.
    void stop_measuring() { measuring_ = false; }

    Status status(std::uint64_t uptime_ms) const;
    std::uint64_t readings() const { return readings_; }
    // The last reading taken (seq 0 before the first).
    const Record& last_reading() const { return last_reading_; }

private:
    void sensor_error(const char* reason);
    bool close_interval(std::uint64_t uptime_ms);
    void publish_status(std::uint64_t uptime_ms);

    const Config& config_;
    Ring& ring_;
    Clock& clock_;
    Transport& transport_;
    SendQueue queue_;
    Averager co2_, temp_, velocity_;
    double last_temp_c_ = 0;
    bool have_temp_ = false;
    bool have_pulses_ = false;
    std::uint32_t last_pulses_ = 0;
    std::uint64_t interval_pulses_ = 0;
    bool plug_sampled_ = false;
    std::uint64_t interval_end_ms_;
    std::uint64_t next_status_ms_ = 0;
    bool status_due_ = false;
    std::uint64_t down_since_ms_ = 0;
    bool down_ = true;
    bool connected_once_ = false;
    std::uint32_t reconnects_ = 0;
    double offline_s_ = 0, last_outage_s_ = 0;
    int rssi_dbm_ = 0;
    std::uint64_t readings_ = 0, sensor_errors_ = 0;
    Record last_reading_;
    bool measuring_ = true;
    std::string last_sensor_error_;
};

}  // namespace carbon
