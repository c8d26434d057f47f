#pragma once
// FIFOs for tests of reads that must not hold their caller: a file that has nothing to give until the
// test writes it (what a slow mount or a pipe looks like to a reader).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace adaptis::test {

// `path` becomes a FIFO (whatever was there is removed); false when it cannot.
inline bool make_fifo(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return ::mkfifo(path.c_str(), 0600) == 0;
}

// Writes `text` into the FIFO at `path` once a reader has it open, then closes it (the reader sees the
// end); false when no reader came within `seconds` or the write fell short.
inline bool write_fifo(const std::string& path, const std::string& text, double seconds = 60) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int fd = -1;
  while ((fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
    if (errno != ENXIO || std::chrono::steady_clock::now() > deadline) return false;  // ENXIO: no reader yet
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return done == text.size();
}

}  // namespace adaptis::test
