#include "ring.h"

#include <cstring>

#include "checksum.h"

namespace carbon {
namespace {

constexpr std::uint32_t kMetaMagic = 0x43524D31;    // "CRM1"
constexpr std::uint32_t kRecordMagic = 0x43524431;  // "CRD1"

// Little-endian field packing, so that the flash image does not depend on struct padding.
class Writer {
public:
    explicit Writer(std::uint8_t* out) : p_(out) {}
    template <typename T>
    void put(T value) {
        std::uint64_t bits = 0;
        std::memcpy(&bits, &value, sizeof(T));
        for (std::size_t i = 0; i < sizeof(T); ++i) *p_++ = static_cast<std::uint8_t>(bits >> (8 * i));
    }

private:
    std::uint8_t* p_;
};

class Reader {
public:
    explicit Reader(const std::uint8_t* in) : p_(in) {}
    template <typename T>
    T get() {
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i) bits |= static_cast<std::uint64_t>(*p_++) << (8 * i);
        T value;
        std::memcpy(&value, &bits, sizeof(T));
        return value;
    }

private:
    const std::uint8_t* p_;
};

bool sealed(const std::uint8_t* bytes, std::size_t size) {
    return Reader(bytes + size - 4).get<std::uint32_t>() == crc32(bytes, size - 4);
}

void seal(std::uint8_t* bytes, std::size_t size) { Writer(bytes + size - 4).put(crc32(bytes, size - 4)); }

}  // namespace

bool Ring::open(std::uint32_t fresh_id) {
    if (capacity_ < 2 || storage_.size() < bytes_for(capacity_)) {
        error_ = "the flash is smaller than ring_capacity needs";
        return false;
    }
    // The newer of the two valid metadata slots.
    bool found = false;
    for (std::size_t slot = 0; slot < 2; ++slot) {
        std::uint8_t meta[kMetaSize];
        if (!storage_.read(slot * kMetaSize, meta, kMetaSize) || !sealed(meta, kMetaSize)) continue;
        Reader r(meta);
        if (r.get<std::uint32_t>() != kMetaMagic) continue;
        const auto generation = r.get<std::uint32_t>();
        if (found && generation <= generation_) continue;
        found = true;
        generation_ = generation;
        first_pending_ = r.get<std::uint64_t>();
        dropped_ = r.get<std::uint64_t>();
        boot_ = r.get<std::uint32_t>();
        id_ = r.get<std::uint32_t>();
        if (r.get<std::uint32_t>() != capacity_) {
            // Slots are seq % capacity: another capacity would read the records in the wrong places.
            error_ = "the flash holds a ring of another ring_capacity: send its backlog or erase it first";
            return false;
        }
    }
    if (!found) id_ = fresh_id;
    // The newest record written decides the next event id; a torn last write fails its CRC and
    // was never sent, so reusing its seq repeats nothing.
    next_seq_ = first_pending_;
    for (std::uint32_t slot = 0; slot < capacity_; ++slot) {
        Record record;
        if (read_record(slot, record) && record.seq >= next_seq_) next_seq_ = record.seq + 1;
    }
    if (next_seq_ - first_pending_ > capacity_) first_pending_ = next_seq_ - capacity_;
    // A pending slot that does not hold its reading (flash failure) is a loss: count it.
    for (std::uint64_t seq = first_pending_; seq < next_seq_; ++seq) {
        Record record;
        if (!read_record(seq, record)) ++dropped_;
    }
    ++boot_;
    if (!write_meta()) {
        error_ = "the flash cannot be written";
        return false;
    }
    return true;
}

bool Ring::read_record(std::uint64_t seq, Record& out) {
    std::uint8_t bytes[kRecordSize];
    if (!storage_.read(2 * kMetaSize + (seq % capacity_) * kRecordSize, bytes, kRecordSize) || !sealed(bytes, kRecordSize))
        return false;
    Reader r(bytes);
    if (r.get<std::uint32_t>() != kRecordMagic) return false;
    out.seq = r.get<std::uint64_t>();
    out.stamp.boot = r.get<std::uint32_t>();
    out.stamp.synced = r.get<std::uint32_t>() & 1u;
    out.stamp.uptime_ms = r.get<std::uint64_t>();
    out.stamp.utc_ms = r.get<std::int64_t>();
    for (double& value : out.values) value = r.get<double>();
    // During open() `seq` is a slot number; afterwards it is the wanted seq.
    return out.seq % capacity_ == seq % capacity_;
}

bool Ring::append(const Stamp& stamp, const double values[kValues], std::uint64_t& seq) {
    if (depth() == capacity_) {
        ++first_pending_;  // full: the oldest unsent reading makes room, counted, never hidden
        ++dropped_;
        if (!write_meta()) return false;
    }
    std::uint8_t bytes[kRecordSize];
    Writer w(bytes);
    w.put(kRecordMagic);
    w.put(next_seq_);
    w.put(stamp.boot);
    w.put(static_cast<std::uint32_t>(stamp.synced ? 1 : 0));
    w.put(stamp.uptime_ms);
    w.put(stamp.utc_ms);
    for (int i = 0; i < kValues; ++i) w.put(values[i]);
    seal(bytes, kRecordSize);
    if (!storage_.write(2 * kMetaSize + (next_seq_ % capacity_) * kRecordSize, bytes, kRecordSize) || !storage_.flush())
        return false;
    seq = next_seq_++;
    return true;
}

std::vector<Record> Ring::oldest(std::size_t max) {
    std::vector<Record> out;
    for (std::uint64_t seq = first_pending_; seq < next_seq_ && out.size() < max; ++seq) {
        Record record;
        if (read_record(seq, record) && record.seq == seq) out.push_back(record);
    }
    return out;
}

bool Ring::acknowledge_through(std::uint64_t seq) {
    if (seq < first_pending_) return true;  // already removed (a late or repeated acknowledgement)
    first_pending_ = seq + 1 < next_seq_ ? seq + 1 : next_seq_;
    return write_meta();
}

bool Ring::write_meta() {
    ++generation_;
    std::uint8_t meta[kMetaSize] = {};
    Writer w(meta);
    w.put(kMetaMagic);
    w.put(generation_);
    w.put(first_pending_);
    w.put(dropped_);
    w.put(boot_);
    w.put(id_);
    w.put(capacity_);
    seal(meta, kMetaSize);
    return storage_.write((generation_ % 2) * kMetaSize, meta, kMetaSize) && storage_.flush();
}

bool MemoryStorage::read(std::size_t offset, std::uint8_t* data, std::size_t length) {
    if (offset + length > bytes_.size()) return false;
    std::memcpy(data, bytes_.data() + offset, length);
    return true;
}

bool MemoryStorage::write(std::size_t offset, const std::uint8_t* data, std::size_t length) {
    if (offset + length > bytes_.size()) return false;
    std::memcpy(bytes_.data() + offset, data, length);
    return true;
}

}  // namespace carbon
