#pragma once
// Facts about the machine a run executes on, recorded with every run so measured timelines can be compared
// across machines, and the process identity the run store uses to tell a dead recorder from a live one.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace adaptis::exec {

std::string host_name();
// {"host", "os", "cpu", "logical_cores", "memory_bytes", "compiler", "build"}.
nlohmann::json machine_info();

// Start time of a process (clock ticks since boot, /proc/<pid>/stat field 22), or -1 when unknown.
// (pid, start time) names a process even after its pid has been reused.
int64_t process_start_time(int64_t pid);
// True unless the process is gone or its pid now belongs to a process started at another time.
bool process_alive(int64_t pid, int64_t start_time);

}  // namespace adaptis::exec
