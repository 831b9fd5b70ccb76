#pragma once
// --print --format json: one JSON object per transaction, on one line. Field names are OpenTelemetry
// attribute names where one exists (http.request.method, url.path, server.port, dns.question.name, ...) and
// match the /metrics labels (dots there are underscores); README.md lists them. The query string is there
// (url.query) only with full_target.
#include <string>
#include <string_view>

#include "agent/connection_tracker.h"
#include "agent/wall_clock.h"

namespace l7tap::agent {

// `route`: the record's http.route (omitted when empty, as for gRPC calls).
std::string JsonLine(const TransactionRecord& r, const WallClock& clock, bool full_target,
                     std::string_view route);
std::string JsonLine(const DnsRecord& r, const WallClock& clock);

}  // namespace l7tap::agent
