// Flash behind a small interface: the ring buffer needs only byte-addressed reads and writes of
// a fixed-size region and a flush that returns once the bytes would survive a power cut.
//
// On the ESP32 this is a file in LittleFS (which erases and wear-levels the NOR flash for us);
// on the host it is a plain file (host/file_storage.h); in unit tests, memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace carbon {

class Storage {
public:
    virtual ~Storage() = default;
    virtual std::size_t size() const = 0;
    virtual bool read(std::size_t offset, std::uint8_t* data, std::size_t length) = 0;
    virtual bool write(std::size_t offset, const std::uint8_t* data, std::size_t length) = 0;
    virtual bool flush() = 0;
};

// Memory that outlives the Ring objects using it: a "reboot" in tests is a new Ring on it.
class MemoryStorage : public Storage {
public:
    explicit MemoryStorage(std::size_t size) : bytes_(size, 0xFF) {}  // erased NOR flash reads 0xFF
    std::size_t size() const override { return bytes_.size(); }
    bool read(std::size_t offset, std::uint8_t* data, std::size_t length) override;
    bool write(std::size_t offset, const std::uint8_t* data, std::size_t length) override;
    bool flush() override { return true; }
    std::vector<std::uint8_t>& bytes() { return bytes_; }

private:
    std::vector<std::uint8_t> bytes_;
};

}  // namespace carbon
