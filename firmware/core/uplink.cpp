#include "uplink.h"

#include "payload.h"

namespace carbon {

void SendQueue::on_disconnected() {
    connected_ = false;
    in_flight_ = false;  // its PUBACK may never come: the readings are still in the ring
}

void SendQueue::on_acknowledged(int mid) {
    if (!in_flight_ || mid != mid_) return;  // a status message, or a copy already given up on
    in_flight_ = false;
    // Should the flash fail here, the batch stays in the ring and goes again: the key absorbs it.
    ring_.acknowledge_through(last_seq_);
}

void SendQueue::poll(std::uint64_t uptime_ms) {
    if (!connected_) return;
    if (in_flight_ && uptime_ms - sent_at_ms_ < config_.ack_timeout_ms) return;
    in_flight_ = false;
    std::vector<Record> records = ring_.oldest(config_.batch_max);
    if (!clock_.synced() && uptime_ms < config_.ntp_wait_ms) {
        // This boot's readings get their UTC time back once NTP answers (see clock.h): hold
        // them for a while rather than send them flagged as unsynced. They are the newest.
        while (!records.empty() && records.back().stamp.boot == clock_.boot()) records.pop_back();
    }
    if (records.empty()) return;
    for (Record& record : records) record.stamp = clock_.resolve(record.stamp);
    const char* stream = records.size() == 1 ? "telemetry" : "batch";
    int mid = 0;
    if (!transport_.publish(topic(config_, stream), encode_readings(config_, ring_.id(), records), mid)) return;
    in_flight_ = true;
    mid_ = mid;
    last_seq_ = records.back().seq;
    sent_at_ms_ = uptime_ms;
}

}  // namespace carbon
