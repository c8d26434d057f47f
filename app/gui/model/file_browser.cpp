#include "gui/model/file_browser.h"

#include <algorithm>
#include <filesystem>

#include "common/format.h"

namespace adaptis::gui {

namespace fs = std::filesystem;

DirListing list_directory(const std::string& dir, const std::vector<std::string>& extensions) {
  DirListing out;
  std::error_code ec;
  fs::path p = fs::absolute(dir.empty() ? fs::path(".") : fs::path(dir), ec).lexically_normal();
  if (!p.empty() && p != p.root_path() && p.filename().empty()) p = p.parent_path();  // "a/b/" -> "a/b"
  out.dir = p.string();
  fs::directory_iterator it(p, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    out.error = out.dir + ": " + ec.message();
    return out;
  }
  std::vector<DirEntry> dirs, files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code e2;
    if (it->is_directory(e2)) {
      dirs.push_back({name, true, 0});
      continue;
    }
    if (!extensions.empty()) {
      const std::string ext = it->path().extension().string();
      if (std::find(extensions.begin(), extensions.end(), ext) == extensions.end()) continue;
    }
    const uintmax_t size = it->is_regular_file(e2) ? it->file_size(e2) : 0;
    files.push_back({name, false, e2 ? 0 : size});
  }
  auto by_name = [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; };
  std::sort(dirs.begin(), dirs.end(), by_name);
  std::sort(files.begin(), files.end(), by_name);
  if (p != p.root_path()) out.entries.push_back({"..", true, 0});
  out.entries.insert(out.entries.end(), dirs.begin(), dirs.end());
  out.entries.insert(out.entries.end(), files.begin(), files.end());
  return out;
}

std::string browse_dir_of(const std::string& path, const std::string& cwd) {
  fs::path p = path.empty() ? fs::path(cwd) : fs::path(path);
  if (p.is_relative()) p = fs::path(cwd) / p;
  std::error_code ec;
  if (fs::is_directory(p, ec)) return p.lexically_normal().string();
  return p.parent_path().lexically_normal().string();
}

std::string entry_path(const DirListing& listing, const DirEntry& e) {
  const fs::path dir(listing.dir);
  if (e.name == "..") return dir.parent_path().string();
  return (dir / e.name).string();
}

std::string size_text(uintmax_t bytes) { return app::format_bytes(static_cast<double>(bytes)); }

}  // namespace adaptis::gui
