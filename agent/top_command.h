#pragma once
// `l7tap top [agent flags]`: the agent in-process, its transactions aggregated (top_aggregator.h) and drawn
// in the terminal every second instead of printed. /metrics is served only when --listen is given.
namespace l7tap::agent {

// argv[0] is "top"; the rest are the agent's flags.
int RunTopCommand(int argc, char** argv);

}  // namespace l7tap::agent
