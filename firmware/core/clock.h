// Time: readings are stamped in UTC once NTP has synchronized the clock, and flagged before.
//
// A node in a remote factory often boots before its Wi-Fi router does, so its first readings
// have no UTC time. Each reading keeps the boot it was taken in and its uptime (a monotonic
// clock), so once the first sync comes, the readings of the same boot get their exact UTC time
// back (sync time minus elapsed uptime). Only readings whose boot never saw a sync (the power
// failed again first) stay flagged: they are sent with the tag clock=unsynced, their uptime and
// boot, and the pipeline quarantines them with that reason instead of misdating them.
#pragma once

#include <cstdint>
#include <string>

namespace carbon {

struct Stamp {
    std::uint32_t boot = 0;        // which boot of the device took the reading
    std::uint64_t uptime_ms = 0;   // milliseconds since that boot (monotonic)
    std::int64_t utc_ms = 0;       // Unix time in ms; before a sync, what the clock read (1970 + uptime)
    bool synced = false;
};

class Clock {
public:
    explicit Clock(std::uint32_t boot) : boot_(boot) {}

    // An NTP answer: UTC `utc_ms` at uptime `uptime_ms`. Later syncs correct the crystal's drift.
    void synchronize(std::int64_t utc_ms, std::uint64_t uptime_ms);
    bool synced() const { return synced_; }
    std::uint32_t boot() const { return boot_; }

    Stamp stamp(std::uint64_t uptime_ms) const;
    // The stamp with its UTC time recovered, when it was taken unsynced in this boot and the
    // clock has synced since; otherwise unchanged.
    Stamp resolve(const Stamp& stamp) const;

private:
    std::uint32_t boot_;
    bool synced_ = false;
    std::int64_t offset_ms_ = 0;  // UTC - uptime
};

// "2026-11-23T10:00:05.250Z" (proleptic Gregorian, no time zone database needed).
std::string format_utc(std::int64_t utc_ms);

}  // namespace carbon
