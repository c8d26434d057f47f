// Schedules still being written; each throws until its generator lands.
#include "adaptis/model/error.h"
#include "schedule_generators.h"

namespace adaptis::gen {

[[noreturn]] static void pending(const char* name) {
  throw InputError(std::string("--schedule: '") + name + "' is not available in this build yet");
}
Plan interleaved_1f1b_megatron(int, int, int, int) { pending("interleaved-1f1b"); }
Plan interleaved_1f1b_torch(int, int, int) { pending("interleaved-1f1b-torch"); }
Plan looped_bfs(int, int, int) { pending("looped-bfs"); }
Plan zb_h1(int, int) { pending("zb-h1"); }
Plan zb_h2(int, int) { pending("zb-h2"); }
Plan zb_v(int, int) { pending("zb-v"); }
Plan dualpipe_v(int, int) { pending("dualpipe-v"); }

}  // namespace adaptis::gen
