#pragma once
// Where the TUI and the GUI put the plans and logs of the runs they launch. The directory is new and
// private (mkdtemp, mode 0700) rather than a predictable $TMPDIR/adaptis-tui-<pid> that another user could
// create first, and every file in it is created new (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600): a symlink
// planted under that name makes the write fail instead of overwriting the file it points to.
#include <string>

namespace adaptis::app {

// Creates $TMPDIR/<prefix>XXXXXX (TMPDIR unset or empty: /tmp) with mode 0700 and returns its path.
// InputError naming the directory when it cannot be created.
std::string make_private_dir(const std::string& prefix);

// Opens `path` as a new file for writing, mode 0600, close-on-exec (and O_APPEND when `append`): fails
// when anything (a file, a directory, a symlink, even a dangling one) already has that name. Returns the
// descriptor; the caller closes it. InputError naming the path otherwise.
int open_new_file(const std::string& path, bool append = false);

// Writes `content` into the new file `path` (open_new_file). InputError naming the path on any failure;
// a file it created but could not fill is removed.
void write_new_file(const std::string& path, const std::string& content);

}  // namespace adaptis::app
