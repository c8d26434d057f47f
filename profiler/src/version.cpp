// The profiler library's build identity, recorded with every profile.
namespace adaptis {
const char* profiler_build_id() { return "adaptis-profiler " __DATE__; }
}  // namespace adaptis
