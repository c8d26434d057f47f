// The open / save / export dialog: a path field with a file browser under it (folders first, then
// the files the dialog can use), and the action on OK.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <filesystem>

#include "adaptis/executor/run_trace.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/validator.h"
#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {

const char* title_of(PathDialog d) {
  switch (d) {
    case PathDialog::OpenPlan: return "Open plan";
    case PathDialog::SavePlan: return "Save plan";
    case PathDialog::OpenSession: return "Open session";
    case PathDialog::SaveSession: return "Save session";
    case PathDialog::Export: return "Export plan";
    case PathDialog::ExportRunTrace: return "Export run trace";
    case PathDialog::None: break;
  }
  return "##path";
}

std::vector<std::string> extensions_of(PathDialog d) {
  switch (d) {
    case PathDialog::OpenPlan: return {".json", ".csv", ".yaml", ".yml"};
    case PathDialog::OpenSession:
    case PathDialog::SaveSession:
    case PathDialog::SavePlan:
    case PathDialog::ExportRunTrace: return {".json"};
    default: return {};
  }
}

bool is_save(PathDialog d) { return d != PathDialog::OpenPlan && d != PathDialog::OpenSession; }

}  // namespace

void FileDialog::run(UiContext& c) {
  explorer::Explorer& core = c.core;
  switch (kind) {
    case PathDialog::OpenPlan: {
      const std::string ext = std::filesystem::path(path).extension().string();
      Plan plan;
      if (ext == ".csv") {
        PytorchCsvImport ci;
        ci.num_layers = core.editor().costs().num_layers();
        ci.name = std::filesystem::path(path).stem().string();
        plan = load_pytorch_csv(path, ci);
      } else {
        plan = load_plan_file(path);
      }
      require_valid_plan(plan, core.editor().costs().num_layers(), path);
      const explorer::EditResult r = core.load_plan(std::move(plan), "open " + path);
      if (!r.applied) throw InputError(r.message);
      core.fit_view();
      break;
    }
    case PathDialog::SavePlan: core.save_plan(path); break;
    case PathDialog::OpenSession: c.ui.session_open = path; break;
    case PathDialog::SaveSession: c.ui.session_save = path; break;
    case PathDialog::Export: {
      if (!core.has_plan()) throw InputError("no valid plan to export");
      const explorer::Evaluation& e = core.editor().eval();
      core.note(explorer::export_plan(c.ui.dialog_export, path, e.plan, e.sim, core.editor().costs(), e.cluster, e.options));
      break;
    }
    case PathDialog::ExportRunTrace: {
      const size_t n = exec::export_run_chrome_trace(core.config().db_path, core.selected_run(), path);
      core.note(strf("wrote %zu trace events of run %lld to %s", n, static_cast<long long>(core.selected_run()),
                     path.c_str()));
      break;
    }
    case PathDialog::None: break;
  }
}

void FileDialog::draw(UiContext& c) {
  const Theme& t = c.theme;
  if (c.ui.dialog_request != PathDialog::None) {
    kind = c.ui.dialog_request;
    path = c.ui.dialog_path;
    error.clear();
    const std::string cwd = std::filesystem::current_path().string();
    browse_dir = browse_dir_of(path, cwd);
    listing = list_directory(browse_dir, extensions_of(kind));
    c.ui.dialog_request = PathDialog::None;
    open_request = true;
  }
  if (kind == PathDialog::None) return;
  const char* title = title_of(kind);
  if (open_request) {
    ImGui::OpenPopup(title);
    open_request = false;
  }
  const ImVec2 centre(ImGui::GetIO().DisplaySize.x * 0.5f, ImGui::GetIO().DisplaySize.y * 0.4f);
  ImGui::SetNextWindowPos(centre, ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
  ImGui::SetNextWindowSize(ImVec2(t.px(620), 0));
  if (!ImGui::BeginPopupModal(title, nullptr, ImGuiWindowFlags_AlwaysAutoResize)) return;
  if (kind == PathDialog::Export && c.core.has_plan()) {
    ImGui::SetNextItemWidth(-1);
    if (ImGui::BeginCombo("##format", explorer::plan_export_name(c.ui.dialog_export))) {
      for (explorer::PlanExport e : {explorer::PlanExport::ChromeTrace, explorer::PlanExport::PytorchCsv,
                                     explorer::PlanExport::PytorchCsvComms, explorer::PlanExport::Megatron,
                                     explorer::PlanExport::PlanJson})
        if (ImGui::Selectable(explorer::plan_export_name(e), e == c.ui.dialog_export)) {
          c.ui.dialog_export = e;
          path = (std::filesystem::path(browse_dir) /
                  explorer::default_export_path(e, c.core.editor().plan()))
                     .string();
        }
      ImGui::EndCombo();
    }
    if (c.ui.dialog_export == explorer::PlanExport::Megatron) {
      ImGui::PushFont(t.mono);
      ImGui::TextWrapped("%s", explorer::megatron_text(c.core.editor().plan(), c.core.editor().costs()).c_str());
      ImGui::PopFont();
    }
  }
  // The browser: the folder, its entries; a click on a folder opens it, on a file takes its name.
  ImGui::TextDisabled("%s", listing.dir.c_str());
  bool accept = false;
  ImGui::BeginChild("##browser", ImVec2(0, t.px(200)), true);
  if (!listing.error.empty()) ImGui::TextColored(ImColor(t.bad), "%s", listing.error.c_str());
  std::string enter_dir;
  for (const DirEntry& e : listing.entries) {
    const std::string label = e.is_dir ? e.name + "/" : e.name;
    const std::string full = entry_path(listing, e);
    if (ImGui::Selectable(label.c_str(), !e.is_dir && full == path, ImGuiSelectableFlags_AllowDoubleClick)) {
      if (e.is_dir) {
        enter_dir = full;
      } else {
        path = full;
        if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) accept = true;
      }
    }
    if (!e.is_dir) {
      ImGui::SameLine(t.px(460));
      ImGui::TextDisabled("%s", size_text(e.size).c_str());
    }
  }
  ImGui::EndChild();
  if (!enter_dir.empty()) {
    browse_dir = enter_dir;
    listing = list_directory(browse_dir, extensions_of(kind));
    // A save keeps its file name in the new folder.
    if (is_save(kind) && !path.empty())
      path = (std::filesystem::path(browse_dir) / std::filesystem::path(path).filename()).string();
  }
  ImGui::SetNextItemWidth(-1);
  if (ImGui::IsWindowAppearing()) ImGui::SetKeyboardFocusHere();
  if (ImGui::InputText("##path", &path, ImGuiInputTextFlags_EnterReturnsTrue)) {
    // Enter on a folder browses into it; on a file, accepts.
    const std::string dir = browse_dir_of(path, browse_dir);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      browse_dir = dir;
      listing = list_directory(browse_dir, extensions_of(kind));
    } else {
      accept = true;
    }
  }
  if (!error.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, t.bad);
    ImGui::PushTextWrapPos(t.px(600));
    ImGui::TextUnformatted(error.c_str());
    ImGui::PopTextWrapPos();
    ImGui::PopStyleColor();
  }
  ImGui::Spacing();
  if (ImGui::Button("OK", ImVec2(t.px(90), 0)) || accept) {
    try {
      if (path.empty()) throw InputError("give a file name");
      std::error_code ec;
      if (std::filesystem::path(path).is_relative()) path = (std::filesystem::path(browse_dir) / path).string();
      if (std::filesystem::is_directory(path, ec)) throw InputError(path + " is a folder: pick or type a file name");
      run(c);
      kind = PathDialog::None;
      ImGui::CloseCurrentPopup();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  ImGui::SameLine();
  if (ImGui::Button("Cancel", ImVec2(t.px(90), 0)) || ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape), false)) {
    kind = PathDialog::None;
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
}

}  // namespace adaptis::gui
