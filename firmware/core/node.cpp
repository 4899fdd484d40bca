#include "node.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "frames.h"
#include "physics.h"

namespace carbon {

Node::Node(const Config& config, Ring& ring, Clock& clock, Transport& transport)
    : config_(config), ring_(ring), clock_(clock), transport_(transport), queue_(config, ring, clock, transport),
      interval_end_ms_(config.publish_interval_ms) {}

void Node::sensor_error(const char* reason) {
    ++sensor_errors_;
    last_sensor_error_ = reason;
}

void Node::on_co2_frame(const std::uint8_t* frame, std::size_t size) {
    const Reading co2 = parse_modbus_co2(frame, size, config_.co2_modbus_address, config_.co2_registers,
                                         config_.co2_ppm_per_count);
    if (co2.ok()) co2_.add(co2.value * (1 - config_.flue_moisture_fraction));  // dry basis -> wet basis
    else sensor_error(co2.error);
}

void Node::on_thermocouple_word(std::uint32_t word) {
    const Reading temp = parse_max31855(word);
    if (!temp.ok()) return sensor_error(temp.error);
    temp_.add(temp.value);
    last_temp_c_ = temp.value;
    have_temp_ = true;
}

void Node::on_pressure_frame(const std::uint8_t* frame, std::size_t size) {
    const Reading dp = parse_sdp8xx(frame, size);
    if (!dp.ok()) return sensor_error(dp.error);
    // The Pitot equation needs the gas density, so the flue temperature of the same sample.
    if (!have_temp_) return sensor_error("pitot: no flue temperature yet");
    velocity_.add(pitot_velocity_m_s(dp.value, last_temp_c_, config_.pressure_pa, config_.flue_gas_molar_mass,
                                     config_.pitot_coefficient));
}

void Node::on_power_frame(const std::uint8_t* frame, std::size_t size) {
    const Bl0942Packet packet = parse_bl0942(frame, size);
    if (!packet.ok()) return sensor_error(packet.error);
    if (have_pulses_) interval_pulses_ += (packet.energy_pulses - last_pulses_) & 0xFFFFFFu;  // CF_CNT wraps at 2^24
    last_pulses_ = packet.energy_pulses;
    have_pulses_ = true;
    plug_sampled_ = true;
}

void Node::on_connected(std::uint64_t uptime_ms) {
    if (down_) {
        last_outage_s_ = static_cast<double>(uptime_ms - down_since_ms_) / 1000.0;
        offline_s_ += last_outage_s_;
        if (connected_once_) ++reconnects_;
    }
    down_ = false;
    connected_once_ = true;
    status_due_ = true;  // first thing after a (re)connect: say how long the link was down
    queue_.on_connected();
}

void Node::on_disconnected(std::uint64_t uptime_ms) {
    if (!down_) down_since_ms_ = uptime_ms;
    down_ = true;
    queue_.on_disconnected();
}

bool Node::close_interval(std::uint64_t uptime_ms) {
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    double values[kValues] = {nan, nan, nan, nan};
    bool any = false;
    if (config_.kind == Kind::chimney) {
        if (!co2_.empty()) values[0] = co2_.mean(), any = true;
        if (!temp_.empty()) values[1] = temp_.mean(), any = true;
        if (!velocity_.empty()) values[2] = velocity_.mean(), any = true;
        // The node's own kg/s, from the same means it publishes: the pipeline recomputes it from
        // them and its self-check flags any disagreement (different geometry or constants).
        if (!co2_.empty() && !temp_.empty() && !velocity_.empty())
            values[3] = co2_mass_flow_kg_s(values[0], values[2], config_.area_m2(), values[1], config_.pressure_pa);
        co2_.reset();
        temp_.reset();
        velocity_.reset();
        have_temp_ = false;  // the Pitot may not use an old temperature if the thermocouple fails
    } else if (plug_sampled_ && have_pulses_) {
        values[0] = static_cast<double>(interval_pulses_) * config_.kwh_per_pulse;
        any = true;
        interval_pulses_ = 0;
        plug_sampled_ = false;
    }
    if (!any) return true;  // no good sample at all this interval: the sensor errors say why
    Record reading;
    reading.stamp = clock_.stamp(uptime_ms);
    std::copy(values, values + kValues, reading.values);
    if (!ring_.append(reading.stamp, reading.values, reading.seq)) return false;
    ++readings_;
    last_reading_ = reading;
    return true;
}

bool Node::tick(std::uint64_t uptime_ms) {
    if (measuring_ && uptime_ms >= interval_end_ms_) {
        if (!close_interval(uptime_ms)) return false;
        interval_end_ms_ += config_.publish_interval_ms;
        if (interval_end_ms_ <= uptime_ms) interval_end_ms_ = uptime_ms + config_.publish_interval_ms;  // a stall
    }
    if (queue_.connected() && (status_due_ || uptime_ms >= next_status_ms_)) publish_status(uptime_ms);
    queue_.poll(uptime_ms);
    return true;
}

Status Node::status(std::uint64_t uptime_ms) const {
    Status s;
    s.now = clock_.stamp(uptime_ms);
    s.buffer_depth = ring_.depth();
    s.buffer_capacity = ring_.capacity();
    s.dropped = ring_.dropped();
    s.rssi_dbm = rssi_dbm_;
    s.reconnects = reconnects_;
    s.offline_s = offline_s_ + (down_ ? static_cast<double>(uptime_ms - down_since_ms_) / 1000.0 : 0.0);
    s.last_outage_s = last_outage_s_;
    s.readings = readings_;
    s.sensor_errors = sensor_errors_;
    s.last_sensor_error = last_sensor_error_;
    return s;
}

void Node::publish_status(std::uint64_t uptime_ms) {
    int mid = 0;
    if (transport_.publish(topic(config_, "status"), encode_status(config_, status(uptime_ms)), mid)) {
        status_due_ = false;
        next_status_ms_ = uptime_ms + config_.status_interval_ms;
    }
}

}  // namespace carbon
