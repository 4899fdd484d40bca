#include "clock.h"

#include <cstdio>

namespace carbon {

void Clock::synchronize(std::int64_t utc_ms, std::uint64_t uptime_ms) {
    offset_ms_ = utc_ms - static_cast<std::int64_t>(uptime_ms);
    synced_ = true;
}

Stamp Clock::stamp(std::uint64_t uptime_ms) const {
    Stamp s;
    s.boot = boot_;
    s.uptime_ms = uptime_ms;
    s.synced = synced_;
    s.utc_ms = static_cast<std::int64_t>(uptime_ms) + (synced_ ? offset_ms_ : 0);
    return s;
}

Stamp Clock::resolve(const Stamp& stamp) const {
    if (stamp.synced || !synced_ || stamp.boot != boot_) return stamp;
    return this->stamp(stamp.uptime_ms);
}

std::string format_utc(std::int64_t utc_ms) {
    std::int64_t seconds = utc_ms / 1000, millis = utc_ms % 1000;
    if (millis < 0) {
        millis += 1000;
        seconds -= 1;
    }
    std::int64_t days = seconds / 86400, rest = seconds % 86400;
    if (rest < 0) {
        rest += 86400;
        days -= 1;
    }
    // Days since 1970-01-01 to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
    const std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = yoe + era * 400 + (month <= 2);
    char out[48];
    std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", static_cast<int>(year), static_cast<int>(month),
                  static_cast<int>(day), static_cast<int>(rest / 3600), static_cast<int>(rest / 60 % 60),
                  static_cast<int>(rest % 60), static_cast<int>(millis));
    return out;
}

}  // namespace carbon
