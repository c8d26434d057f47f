#pragma once
// The open/save dialogs' file browser, free of any window: one directory's entries (folders first,
// then the files whose extension the dialog wants), and how a typed or clicked name resolves.
#include <cstdint>
#include <string>
#include <vector>

namespace adaptis::gui {

struct DirEntry {
  std::string name;
  bool is_dir = false;
  uintmax_t size = 0;
};

struct DirListing {
  std::string dir;              // absolute, lexically normal
  std::vector<DirEntry> entries;  // ".." first (except at /), folders, then files; by name
  std::string error;            // why the folder cannot be listed ("" when it could)
};

// Lists `dir`; `extensions` (".json", ".csv", ...) filters files ({} = every file). Hidden
// entries (".name") are left out. Never throws.
DirListing list_directory(const std::string& dir, const std::vector<std::string>& extensions);

// The folder to browse for a path typed in the dialog: the path itself when it is a folder, else
// its parent (relative paths are taken from `cwd`).
std::string browse_dir_of(const std::string& path, const std::string& cwd);

// Clicking an entry: a folder's path to browse into, or the file's path to put in the name field.
std::string entry_path(const DirListing& listing, const DirEntry& e);

// "12.3 KiB" for the size column.
std::string size_text(uintmax_t bytes);

}  // namespace adaptis::gui
