// The executor library's build identity, recorded with every run.
namespace adaptis {
const char* executor_build_id() { return "adaptis-executor " __DATE__; }
}  // namespace adaptis
