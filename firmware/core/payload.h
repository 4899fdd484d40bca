// Payload encoding: the JSON of carbon.telemetry/1 (ARCHITECTURE.md, "Contracts").
//
// A reading the node sends as soon as it is taken goes alone on .../telemetry; a backlog
// (after an outage) goes oldest first as gateway batches on .../batch. Numbers are written in
// the shortest form that reads back as the same double, so the pipeline sees the very values
// the node computed with (its self-check compares the node's kg/s to its own exactly).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "ring.h"

namespace carbon {

extern const char* const kFirmwareVersion;

// The metric name of each value slot for a device kind ("" for an unused slot).
const char* metric_name(Kind kind, int slot);

std::string topic(const Config& config, const char* stream);
// "3fa2c1d0-000000000042": the ring's id, then the sequence zero-padded so that text order is
// numeric order within a ring.
std::string event_id(std::uint32_t ring_id, std::uint64_t seq);
std::string format_number(double value);  // shortest round-trip decimal

// One reading (records.size() == 1) or a gateway batch of the ring `ring_id`. Stamps must
// already be resolved.
std::string encode_readings(const Config& config, std::uint32_t ring_id, const std::vector<Record>& records);

struct Status {
    Stamp now;
    std::uint64_t buffer_depth = 0, buffer_capacity = 0, dropped = 0;
    int rssi_dbm = 0;
    std::uint32_t reconnects = 0;
    double offline_s = 0, last_outage_s = 0;
    std::uint64_t readings = 0, sensor_errors = 0;
    std::string last_sensor_error;
};
std::string encode_status(const Config& config, const Status& status);

}  // namespace carbon
