// blackbox decoder library: reads capture files, treating each as hostile.
//
// The umbrella header: includes every part of the library. The parts, in the
// order data flows through them (read -> filter -> timeline -> writers and
// analyses, as pandoc reads every input into one document tree):
//
//   bbx/decoder/result.hpp    errors: a closed enum, messages that name the field and offset
//   bbx/decoder/capture.hpp   a capture, its threads, sites and resources; the ring reader's
//                             typed events, with named fields per kind
//   bbx/decoder/filter.hpp    --level, --thread, --since... and the filter stage (read_events)
//   bbx/decoder/outputs.hpp   dump, info, Perfetto, Chrome JSON, OTLP, snapshot
//   bbx/decoder/analyze.hpp   bbx analyze: tasks, threads, warnings
//   bbx/decoder/merge.hpp     bbx merge: several captures on one timeline
//   bbx/decoder/symbols.hpp   crash records' stacks as functions and lines
//   bbx/decoder/text.hpp      UTF-8 repair, JSON escaping, text safe for a terminal
//   bbx/decoder/top.hpp       bbx top: a live view of a running process
//
// The timeline every converter and the analysis write out (threads, tasks,
// paired spans, polls and waits, flows, identities) is internal to the
// library: decoder/src/timeline.hpp.
#pragma once

#include "bbx/decoder/analyze.hpp"
#include "bbx/decoder/capture.hpp"
#include "bbx/decoder/filter.hpp"
#include "bbx/decoder/merge.hpp"
#include "bbx/decoder/outputs.hpp"
#include "bbx/decoder/result.hpp"
#include "bbx/decoder/symbols.hpp"
#include "bbx/decoder/text.hpp"
#include "bbx/decoder/top.hpp"
