#include "gui/gui_window.h"

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cfloat>
#include <cstdlib>
#include <vector>

#include "adaptis/model/error.h"

namespace adaptis::gui {

namespace {

// GLFW reports errors through a callback; keep the last one for the exception text.
std::string& last_glfw_error() {
  thread_local std::string e;
  return e;
}

void on_glfw_error(int code, const char* text) { last_glfw_error() = std::to_string(code) + ": " + (text ? text : ""); }

float monitor_scale(GLFWwindow* w) {
  float xs = 1, ys = 1;
  glfwGetWindowContentScale(w, &xs, &ys);
  float s = std::max(xs, ys);
  if (s <= 1.01f) {
    // X11 without desktop scaling reports 1 even on 4k panels: go by the resolution instead.
    if (GLFWmonitor* m = glfwGetPrimaryMonitor())
      if (const GLFWvidmode* mode = glfwGetVideoMode(m)) {
        if (mode->height >= 2000) s = 2.0f;
        else if (mode->height >= 1400) s = 1.25f;
      }
  }
  return std::clamp(s, 1.0f, 3.0f);
}

}  // namespace

GuiWindow::GuiWindow(int width, int height, float scale, const std::string& title, bool vsync) : title_(title) {
  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) {
    const char* display = std::getenv("DISPLAY");
    throw InputError(std::string("adaptis gui: cannot open a window (") + last_glfw_error() + ")" +
                     (display && *display ? "" : ": no display (DISPLAY is not set)") +
                     "; use `adaptis tui` in a terminal, or `xvfb-run -a adaptis gui ... --screenshot FILE` headless");
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
  int w = width, h = height;
  if (w <= 0 || h <= 0) {
    int ax = 0, ay = 0, aw = 1600, ah = 900;
    if (GLFWmonitor* m = glfwGetPrimaryMonitor()) glfwGetMonitorWorkarea(m, &ax, &ay, &aw, &ah);
    if (aw <= 0 || ah <= 0) aw = 1600, ah = 900;
    w = w > 0 ? w : std::max(960, static_cast<int>(aw * 0.85f));
    h = h > 0 ? h : std::max(600, static_cast<int>(ah * 0.85f));
  }
  window_ = glfwCreateWindow(w, h, title.c_str(), nullptr, nullptr);
  if (!window_) {
    const std::string err = last_glfw_error();
    glfwTerminate();
    throw InputError("adaptis gui: cannot create an OpenGL 3.3 window (" + err + ")");
  }
  glfwMakeContextCurrent(window_);
  glfwSwapInterval(vsync ? 1 : 0);
  // Our key callback first: ImGui's backend, installed next, calls it before updating io.KeysDown.
  glfwSetWindowUserPointer(window_, this);
  glfwSetKeyCallback(window_, &GuiWindow::on_key);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // the layout lives in sessions, not imgui.ini
  theme_ = make_theme(scale > 0 ? scale : monitor_scale(window_));
  apply_style(theme_);
  load_fonts(theme_);
  ImGui_ImplGlfw_InitForOpenGL(window_, true);
  ImGui_ImplOpenGL3_Init("#version 330");
}

GuiWindow::~GuiWindow() {
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window_);
  glfwTerminate();
}

void GuiWindow::on_key(GLFWwindow* w, int key, int scancode, int action, int mods) {
  (void)scancode;
  auto* self = static_cast<GuiWindow*>(glfwGetWindowUserPointer(w));
  if (!self || !self->taps_ || (action != GLFW_PRESS && action != GLFW_REPEAT)) return;
  KeyTap t;
  t.key = key;
  t.ctrl = (mods & GLFW_MOD_CONTROL) != 0;
  t.shift = (mods & GLFW_MOD_SHIFT) != 0;
  t.alt = (mods & GLFW_MOD_ALT) != 0;
  t.repeat = action == GLFW_REPEAT;
  self->taps_->push(t);
}

bool GuiWindow::should_close() const { return glfwWindowShouldClose(window_); }
void GuiWindow::request_close() { glfwSetWindowShouldClose(window_, GLFW_TRUE); }

void GuiWindow::poll(bool wait, double timeout_s) {
  if (wait) glfwWaitEventsTimeout(timeout_s);
  else glfwPollEvents();
}

void GuiWindow::begin_frame(bool ignore_mouse, const ImVec2* mouse) {
  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  if (ignore_mouse) ImGui::GetIO().MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
  if (mouse) ImGui::GetIO().MousePos = *mouse;
  ImGui::NewFrame();
}

void GuiWindow::render() {
  ImGui::Render();
  int fw = 0, fh = 0;
  glfwGetFramebufferSize(window_, &fw, &fh);
  glViewport(0, 0, fw, fh);
  glClearColor(0.094f, 0.098f, 0.11f, 1.0f);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
}

void GuiWindow::swap() { glfwSwapBuffers(window_); }
void GuiWindow::finish() { glFinish(); }

int GuiWindow::framebuffer_width() const {
  int fw = 0, fh = 0;
  glfwGetFramebufferSize(window_, &fw, &fh);
  return fw;
}

int GuiWindow::framebuffer_height() const {
  int fw = 0, fh = 0;
  glfwGetFramebufferSize(window_, &fw, &fh);
  return fh;
}

std::string GuiWindow::renderer() const {
  const GLubyte* r = glGetString(GL_RENDERER);
  return r ? reinterpret_cast<const char*>(r) : "";
}

void GuiWindow::save_png(const std::string& path) {
  const int w = framebuffer_width(), h = framebuffer_height();
  std::vector<unsigned char> px(static_cast<size_t>(w) * h * 4);
  glFinish();
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadBuffer(GL_BACK);
  glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, px.data());
  // Opaque: the clear colour's alpha is 1, but blending may leave partial alpha in places.
  for (size_t i = 3; i < px.size(); i += 4) px[i] = 255;
  stbi_flip_vertically_on_write(1);
  if (!stbi_write_png(path.c_str(), w, h, 4, px.data(), w * 4))
    throw InputError("--screenshot " + path + ": cannot write the PNG");
}

void GuiWindow::set_title(const std::string& title) {
  if (title == title_) return;
  title_ = title;
  glfwSetWindowTitle(window_, title.c_str());
}

void GuiWindow::set_scale(float scale) {
  ImGui_ImplOpenGL3_DestroyFontsTexture();
  theme_ = make_theme(scale);
  apply_style(theme_);
  load_fonts(theme_);
  ImGui_ImplOpenGL3_CreateFontsTexture();
}

}  // namespace adaptis::gui
