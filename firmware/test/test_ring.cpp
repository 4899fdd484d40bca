// The flash ring: order, bound, drop counting, removal on acknowledgement, and what survives a
// reboot (a new Ring over the same storage) or a power cut in the middle of a write.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <unistd.h>

#include "file_storage.h"
#include "ring.h"

using namespace carbon;

namespace {
constexpr std::uint32_t kFreshId = 0x3fa2c1d0;  // what the platform's random source gave

std::uint64_t add(Ring& ring, double value) {
    const double values[kValues] = {value, 0, 0, 0};
    std::uint64_t seq = 0;
    REQUIRE(ring.append(Stamp{ring.boot(), 1000, 1795428005250, true}, values, seq));
    return seq;
}

std::vector<double> firsts(Ring& ring, std::size_t max = 1000) {
    std::vector<double> out;
    for (const Record& r : ring.oldest(max)) out.push_back(r.values[0]);
    return out;
}
}  // namespace

TEST_CASE("readings come out oldest first and leave only when acknowledged") {
    MemoryStorage flash(Ring::bytes_for(8));
    Ring ring(flash, 8);
    REQUIRE(ring.open(kFreshId));
    for (int i = 1; i <= 5; ++i) CHECK(add(ring, i * 10) == static_cast<std::uint64_t>(i));
    CHECK(firsts(ring) == std::vector<double>{10, 20, 30, 40, 50});
    CHECK(firsts(ring, 2) == std::vector<double>{10, 20});
    CHECK(ring.depth() == 5);
    REQUIRE(ring.acknowledge_through(2));
    CHECK(firsts(ring) == std::vector<double>{30, 40, 50});
    REQUIRE(ring.acknowledge_through(1));  // a late acknowledgement changes nothing
    CHECK(ring.depth() == 3);
}

TEST_CASE("a full ring drops the oldest, counts each drop, and stays bounded") {
    MemoryStorage flash(Ring::bytes_for(4));
    Ring ring(flash, 4);
    REQUIRE(ring.open(kFreshId));
    for (int i = 1; i <= 7; ++i) add(ring, i);
    CHECK(ring.depth() == 4);
    CHECK(ring.dropped() == 3);
    CHECK(firsts(ring) == std::vector<double>{4, 5, 6, 7});
    CHECK(ring.oldest(10).front().seq == 4);
}

TEST_CASE("a reboot keeps the buffered readings, the drop count, and never repeats an event id") {
    MemoryStorage flash(Ring::bytes_for(16));
    std::uint64_t last = 0;
    {
        Ring ring(flash, 16);
        REQUIRE(ring.open(kFreshId));
        CHECK(ring.boot() == 1);
        for (int i = 1; i <= 20; ++i) last = add(ring, i);  // 4 dropped
        REQUIRE(ring.acknowledge_through(10));
    }
    Ring rebooted(flash, 16);
    REQUIRE(rebooted.open(0x11111111));  // a new random id offered at boot: the ring keeps its own
    CHECK(rebooted.id() == kFreshId);
    CHECK(rebooted.boot() == 2);
    CHECK(rebooted.dropped() == 4);
    CHECK(rebooted.depth() == 10);
    CHECK(firsts(rebooted) == std::vector<double>{11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
    CHECK(add(rebooted, 21) == last + 1);

    SUBCASE("even when everything was acknowledged before the reboot") {
        REQUIRE(rebooted.acknowledge_through(last + 1));
        Ring again(flash, 16);
        REQUIRE(again.open(kFreshId));
        CHECK(again.depth() == 0);
        CHECK(add(again, 22) == last + 2);
        CHECK(again.boot() == 3);
    }
}

TEST_CASE("erased flash starts a ring with a new id, so its ids differ from the old ring's") {
    MemoryStorage flash(Ring::bytes_for(4));
    Ring ring(flash, 4);
    REQUIRE(ring.open(kFreshId));
    CHECK(add(ring, 1) == 1);
    MemoryStorage erased(Ring::bytes_for(4));
    Ring fresh(erased, 4);
    REQUIRE(fresh.open(0x0badcafe));
    CHECK(fresh.id() == 0x0badcafe);
    CHECK(add(fresh, 1) == 1);  // counting restarts, under another ring id
}

TEST_CASE("a ring of another capacity is refused, not misread") {
    MemoryStorage flash(Ring::bytes_for(16));
    {
        Ring ring(flash, 8);
        REQUIRE(ring.open(kFreshId));
        add(ring, 1);
    }
    Ring other(flash, 16);
    CHECK(!other.open(kFreshId));
    CHECK(std::string(other.error()).find("another ring_capacity") != std::string::npos);
}

TEST_CASE("a power cut while writing loses at most the reading being written") {
    MemoryStorage flash(Ring::bytes_for(8));
    {
        Ring ring(flash, 8);
        REQUIRE(ring.open(kFreshId));
        for (int i = 1; i <= 3; ++i) add(ring, i);
    }
    SUBCASE("a torn record: the earlier ones survive, and its unsent id may be taken again") {
        flash.bytes()[2 * Ring::kMetaSize + 3 * Ring::kRecordSize + 30] ^= 0xFF;  // seq 3 lives in slot 3
        Ring ring(flash, 8);
        REQUIRE(ring.open(kFreshId));
        CHECK(firsts(ring) == std::vector<double>{1, 2});
        CHECK(ring.next_seq() == 3);
    }
    SUBCASE("a torn metadata slot: the other slot still holds the previous state") {
        Ring ring(flash, 8);
        REQUIRE(ring.open(kFreshId));  // generation advanced; corrupt the slot it just wrote
        const std::uint64_t depth = ring.depth();
        for (std::size_t s = 0; s < 2; ++s) {
            MemoryStorage copy = flash;
            copy.bytes()[s * Ring::kMetaSize + 5] ^= 0xFF;
            Ring survivor(copy, 8);
            REQUIRE(survivor.open(kFreshId));
            CHECK(survivor.depth() == depth);
        }
    }
    SUBCASE("a record lost in the middle is counted as dropped at boot, never hidden") {
        flash.bytes()[2 * Ring::kMetaSize + 2 * Ring::kRecordSize + 30] ^= 0xFF;  // seq 2
        Ring ring(flash, 8);
        REQUIRE(ring.open(kFreshId));
        CHECK(ring.dropped() == 1);
        CHECK(firsts(ring) == std::vector<double>{1, 3});
    }
}

TEST_CASE("a file as flash survives closing and reopening, as on the host") {
    char path[] = "/tmp/carbon-ring-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    std::remove(path);
    {
        FileStorage file(path, Ring::bytes_for(32));
        REQUIRE_MESSAGE(file.ok(), file.error());
        Ring ring(file, 32);
        REQUIRE(ring.open(kFreshId));
        for (int i = 1; i <= 5; ++i) add(ring, i);
        REQUIRE(ring.acknowledge_through(2));
    }
    FileStorage file(path, Ring::bytes_for(32));
    Ring ring(file, 32);
    REQUIRE(ring.open(kFreshId));
    CHECK(ring.boot() == 2);
    CHECK(firsts(ring) == std::vector<double>{3, 4, 5});
    CHECK(add(ring, 6) == 6);
    std::remove(path);
}
