#pragma once
// The desktop window: GLFW with an OpenGL 3.3 core context, ImGui's GLFW and OpenGL3 backends,
// fonts and style at a DPI scale, and screenshots of the back buffer. `adaptis gui` and the frame
// benchmark both drive a GuiApp through one of these.
#include <string>

#include "gui/model/key_input.h"
#include "gui/theme.h"

struct GLFWwindow;

namespace adaptis::gui {

class GuiWindow {
 public:
  // width/height 0 = 85% of the monitor's work area; scale 0 = from the monitor (content scale, or
  // 2 on a 4k screen). Throws InputError when there is no display or no OpenGL 3.3.
  GuiWindow(int width, int height, float scale, const std::string& title, bool vsync);
  ~GuiWindow();
  GuiWindow(const GuiWindow&) = delete;
  GuiWindow& operator=(const GuiWindow&) = delete;

  bool should_close() const;
  void request_close();
  // Processes window events; with `wait`, sleeps until one arrives or `timeout_s` passed.
  void poll(bool wait, double timeout_s);
  // Backends' NewFrame + ImGui::NewFrame. `ignore_mouse` hides the pointer from the UI (screenshots
  // under Xvfb, where the pointer sits in the middle of the screen).
  // `mouse` (when given) replaces the pointer position, for scripted benchmarks.
  void begin_frame(bool ignore_mouse = false, const ImVec2* mouse = nullptr);
  // ImGui::Render + draw into the back buffer (no swap).
  void render();
  void swap();
  // Blocks until the GPU finished drawing (for timing and screenshots).
  void finish();
  // The back buffer as a PNG. Throws InputError when the file cannot be written.
  void save_png(const std::string& path);
  void set_title(const std::string& title);
  // Rebuilds fonts and style at another scale.
  void set_scale(float scale);
  // Where key presses go as they happen (ImGui 1.86 only sees keys held at the next frame).
  void set_key_sink(KeyTaps* taps) { taps_ = taps; }

  const Theme& theme() const { return theme_; }
  int framebuffer_width() const;
  int framebuffer_height() const;
  std::string renderer() const;  // GL_RENDERER

 private:
  GLFWwindow* window_ = nullptr;
  Theme theme_;
  std::string title_;
  KeyTaps* taps_ = nullptr;

  static void on_key(GLFWwindow* w, int key, int scancode, int action, int mods);
};

}  // namespace adaptis::gui
