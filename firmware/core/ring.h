// The offline buffer: a bounded ring of readings in flash that survives a reboot.
//
// Every reading is written here before it is sent (write-ahead), and removed only when the
// broker has acknowledged the message holding it, so a power cut or a dropped link never loses
// a reading the node has taken. A reading's event_id is the ring's id and the record's sequence
// number ("3fa2c1d0-000000000042"): the sequence is persisted with the record, so it never
// repeats across reboots, and the id is drawn at random when a ring is created, so it does not
// repeat either when the flash is erased (as `pio run -t uploadfs` does) and counting restarts.
//
// Layout: two metadata slots (written alternately, the newer valid one wins, so a torn write
// of one leaves the other) followed by `capacity` fixed-size record slots; seq s lives in slot
// s % capacity. Every slot carries a CRC-32. When the ring is full, appending drops the oldest
// unsent reading and counts it in `dropped()`, which the status stream reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "clock.h"
#include "storage.h"

namespace carbon {

constexpr int kValues = 4;  // metric slots per reading (the device kind says what each one is)

struct Record {
    std::uint64_t seq = 0;
    Stamp stamp;
    double values[kValues] = {};  // NaN: this metric had no good sample in the interval
};

class Ring {
public:
    static constexpr std::size_t kMetaSize = 40;
    static constexpr std::size_t kRecordSize = 72;
    static std::size_t bytes_for(std::uint32_t capacity) { return 2 * kMetaSize + capacity * kRecordSize; }

    Ring(Storage& storage, std::uint32_t capacity) : storage_(storage), capacity_(capacity) {}

    // Load the ring and count this boot; `fresh_id` (random, from the platform) names a ring
    // created on blank flash. False, with error(), when the storage cannot be used.
    bool open(std::uint32_t fresh_id);
    const char* error() const { return error_; }

    // Write a reading and flush it; its seq (event id) goes to `seq`. False on a storage error.
    bool append(const Stamp& stamp, const double values[kValues], std::uint64_t& seq);

    // Up to `max` of the oldest unacknowledged readings, oldest first.
    std::vector<Record> oldest(std::size_t max);
    // The broker acknowledged every reading up to `seq`: remove them.
    bool acknowledge_through(std::uint64_t seq);

    std::uint64_t depth() const { return next_seq_ - first_pending_; }
    std::uint64_t dropped() const { return dropped_; }
    std::uint32_t boot() const { return boot_; }
    std::uint32_t capacity() const { return capacity_; }
    std::uint32_t id() const { return id_; }
    std::uint64_t next_seq() const { return next_seq_; }

private:
    bool read_record(std::uint64_t seq, Record& out);
    bool write_meta();

    Storage& storage_;
    std::uint32_t capacity_;
    std::uint32_t generation_ = 0;
    std::uint64_t first_pending_ = 1;  // event ids start at 1
    std::uint64_t next_seq_ = 1;
    std::uint64_t dropped_ = 0;
    std::uint32_t boot_ = 0;
    std::uint32_t id_ = 0;
    const char* error_ = nullptr;
};

}  // namespace carbon
