// The send queue: what is in the ring goes to the broker, oldest first, one message in flight.
//
// A reading is removed from the ring only when the broker's PUBACK for the message holding it
// arrives. One message in flight keeps the order simple and exact; after an outage the backlog
// goes as gateway batches of up to `batch_max` readings, so a day of readings at 5 s drains in
// a few hundred round trips. A message unacknowledged after `ack_timeout_ms`, or in flight when
// the link dropped, is sent again: the pipeline's (source_id, event_id) key absorbs the copy.
#pragma once

#include <cstdint>
#include <string>

#include "clock.h"
#include "config.h"
#include "ring.h"

namespace carbon {

// The MQTT client of the platform (libmosquitto on the host, esp-mqtt on the ESP32).
class Transport {
public:
    virtual ~Transport() = default;
    // Publish with QoS 1; the message id goes to `mid`. False when the client refused it.
    virtual bool publish(const std::string& topic, const std::string& payload, int& mid) = 0;
};

class SendQueue {
public:
    SendQueue(const Config& config, Ring& ring, const Clock& clock, Transport& transport)
        : config_(config), ring_(ring), clock_(clock), transport_(transport) {}

    void on_connected() { connected_ = true; }
    void on_disconnected();
    void on_acknowledged(int mid);
    // Send the next message when the link is up and nothing is in flight (or it timed out).
    void poll(std::uint64_t uptime_ms);

    bool connected() const { return connected_; }

private:
    const Config& config_;
    Ring& ring_;
    const Clock& clock_;
    Transport& transport_;
    bool connected_ = false;
    bool in_flight_ = false;
    int mid_ = 0;
    std::uint64_t last_seq_ = 0;
    std::uint64_t sent_at_ms_ = 0;
};

}  // namespace carbon
