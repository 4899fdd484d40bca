// The host's flash: a file of the ring's size, written in place and fsync'ed on flush, so that
// killing carbon-device (a power cut) loses nothing that was flushed.
#pragma once

#include <string>

#include "storage.h"

namespace carbon {

class FileStorage : public Storage {
public:
    // Opens (creating it as erased flash, all 0xFF, when missing) a file of `size` bytes.
    FileStorage(const std::string& path, std::size_t size);
    ~FileStorage() override;
    FileStorage(const FileStorage&) = delete;
    FileStorage& operator=(const FileStorage&) = delete;

    bool ok() const { return fd_ >= 0; }
    const std::string& error() const { return error_; }
    std::size_t size() const override { return size_; }
    bool read(std::size_t offset, std::uint8_t* data, std::size_t length) override;
    bool write(std::size_t offset, const std::uint8_t* data, std::size_t length) override;
    bool flush() override;

private:
    int fd_ = -1;
    std::size_t size_;
    std::string error_;
};

}  // namespace carbon
