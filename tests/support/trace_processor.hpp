// Perfetto's own trace reader, for the tests that load what bbx writes as
// the Perfetto UI would: $BBX_TRACE_PROCESSOR, else
// ../shared/tools/trace_processor beside the project (as
// tests/outputs/check.sh finds it). Where it is absent a test skips its
// checks with a printed reason.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "command.hpp"

namespace tp {

// The reader's path given the build directory, or "" with the reason in why.
inline std::string find(const std::string& build_dir, std::string& why) {
    const char* env = std::getenv("BBX_TRACE_PROCESSOR");
    const std::string p = env && *env ? std::string(env) : build_dir + "/../../shared/tools/trace_processor";
    if (access(p.c_str(), X_OK) == 0) return p;
    why = p + " is not there";
    return "";
}

// One SQL query over a trace: the reader's CSV output ("" if it could not run).
inline std::string query(const std::string& reader, const std::string& trace, const std::string& sql) {
    return command_output(reader + " query " + trace + " \"" + sql + "\" 2>/dev/null");
}

// The query every trace must pass: no statistic of severity error or data_loss.
inline const char* errors_sql = "select count(*) from stats where value > 0 and severity in ('error', 'data_loss')";

}  // namespace tp
