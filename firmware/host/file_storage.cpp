#include "file_storage.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace carbon {

FileStorage::FileStorage(const std::string& path, std::size_t size) : size_(size) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0600);
    if (fd_ < 0) {
        error_ = path + ": " + std::strerror(errno);
        return;
    }
    struct stat info {};
    if (::fstat(fd_, &info) != 0) {
        error_ = path + ": " + std::strerror(errno);
    } else if (static_cast<std::size_t>(info.st_size) < size) {
        // Extend as erased flash; a larger file is kept as it is.
        const std::vector<std::uint8_t> erased(size - info.st_size, 0xFF);
        if (!write(info.st_size, erased.data(), erased.size()) || !flush()) error_ = path + ": cannot extend the file";
    }
    if (!error_.empty()) {
        ::close(fd_);
        fd_ = -1;
    }
}

FileStorage::~FileStorage() {
    if (fd_ >= 0) ::close(fd_);
}

bool FileStorage::read(std::size_t offset, std::uint8_t* data, std::size_t length) {
    return offset + length <= size_ && ::pread(fd_, data, length, static_cast<off_t>(offset)) == static_cast<ssize_t>(length);
}

bool FileStorage::write(std::size_t offset, const std::uint8_t* data, std::size_t length) {
    return ::pwrite(fd_, data, length, static_cast<off_t>(offset)) == static_cast<ssize_t>(length);
}

bool FileStorage::flush() { return ::fdatasync(fd_) == 0; }

}  // namespace carbon
