// What bbx writes from one capture: dump and info (the event stream), and
// the converters (Perfetto, Chrome JSON, OTLP), which write out the one
// timeline model (decoder/src/timeline.hpp). Each takes an input: a capture
// and the filter its events pass. Each returns false with err set when
// reading the capture or writing failed.
#pragma once

#include <cstdio>
#include <string>

#include "bbx/decoder/filter.hpp"

namespace bbx::dec {

// With crash records' frames symbolised against `symbols` (an executable;
// "": addresses only).
struct crash_options {
    std::string symbols;
};

// bbx dump: one event per line, `time  thread  kind  category  name  args`, then
// one line `# losses: ...` (losses::text(): "none" when nothing was lost).
bool write_dump(const input& in, std::FILE* out, std::string& err, const crash_options& opt = {});
// bbx info: a human summary.
bool write_info(const input& in, std::FILE* out, std::string& err, const crash_options& opt = {});
// Chrome trace-event JSON (object form, traceEvents first).
// Each converter states what the capture lost inside its output (README "What a
// capture lost"); lost, if given, gets the same counts.
bool write_chrome(const input& in, std::FILE* out, std::string& err, losses* lost = nullptr);
// Perfetto protobuf TrackEvent trace.
bool write_perfetto(const input& in, std::FILE* out, std::string& err, losses* lost = nullptr);
// OTLP/JSON Lines, as the OpenTelemetry file exporter writes it: one
// TracesData object per line, at most 1000 spans each. Spans are the
// BBX_SPAN pairs, with the W3C identities that bbx::context_scope recorded
// (others get derived ids inside their thread's enclosing trace), and the
// tasks, each a span over its lifetime (its polls and waits summed up in
// attributes, where it suspended as events); instants and crash records
// become span events. The mapping is the comment block atop otlp.cpp.
// Streams. spans: if given, the spans written (0: nothing to export).
bool write_otlp(const input& in, std::FILE* out, std::string& err, uint64_t* spans = nullptr, losses* lost = nullptr);

// bbx snapshot: c's image, packed as by capture::write_container, into a new
// file at path, created with mode 0600 and O_EXCL | O_NOFOLLOW (an existing
// file or symlink is an error: nothing is overwritten); removed again if
// writing fails.
result<snapshot_stats> write_snapshot(const capture& c, const std::string& path, const snapshot_options& opt = {});

}  // namespace bbx::dec
