#include "common/private_work_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "adaptis/model/error.h"

namespace adaptis::app {

std::string make_private_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  // mkdtemp creates the directory itself with mode 0700 and fails rather than reuse an existing name.
  if (!::mkdtemp(buf.data()))
    throw InputError("cannot create a private work directory " + templ + ": " + std::strerror(errno));
  return std::string(buf.data());
}

int open_new_file(const std::string& path, bool append) {
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | (append ? O_APPEND : 0);
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    const int err = errno;
    throw InputError(path + ": cannot create " +
                     (err == EEXIST ? std::string("(something already has that name; refusing to overwrite it)")
                                    : std::string(std::strerror(err))));
  }
  return fd;
}

void write_new_file(const std::string& path, const std::string& content) {
  const int fd = open_new_file(path);
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      throw InputError(path + ": cannot write: " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    throw InputError(path + ": cannot write: " + std::strerror(err));
  }
}

}  // namespace adaptis::app
