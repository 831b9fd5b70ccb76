#include "agent/self_metrics.h"

#include <string>
#include <utility>

namespace l7tap::agent {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Samples {
 public:
  void Counter(const std::string& name, const std::string& help, double value, Labels labels = {}) {
    out.push_back({name, help, true, std::move(labels), value});
  }
  void Gauge(const std::string& name, const std::string& help, double value, Labels labels = {}) {
    out.push_back({name, help, false, std::move(labels), value});
  }
  std::vector<Sample> out;
};

}  // namespace

std::vector<Sample> SelfSamples(const CaptureProbes* probes, const EventCounts& e, const TrackerStats& t,
                                std::vector<Sample> more) {
  Samples s;
  s.Gauge("l7tap_ready", "1 once the probes are attached and events flow", probes ? 1 : 0);
  if (!probes) return std::move(s.out);
  s.Gauge("l7tap_syscall_backend_info", "Which syscall probe backend is in use", 1,
          {{"backend", BackendName(probes->backend())}});
  s.Gauge("l7tap_probes_attached", "Syscall and process BPF programs attached to their hooks (links)",
          double(probes->programs_attached()));
  s.Gauge("l7tap_tls_probes_attached", "TLS library and Go uprobes attached now",
          double(probes->tls_probes_attached()));

  KernelCounters k = probes->ReadCounters();
  const char* lost = "Events lost before reaching the agent, by reason";
  s.Counter("l7tap_events_lost_total", lost, double(k[L7TAP_CNT_RINGBUF_FULL]), {{"reason", "ringbuf_full"}});
  s.Counter("l7tap_events_lost_total", lost, double(e.malformed), {{"reason", "malformed"}});
  s.Counter("l7tap_events_lost_total", lost, double(k[L7TAP_CNT_TLS_NO_CONN]),
            {{"reason", "tls_no_connection"}});
  s.Counter("l7tap_events_lost_total", lost, double(k[L7TAP_CNT_GO_CONN_UNREADABLE]),
            {{"reason", "go_conn_unreadable"}});
  s.Counter("l7tap_events_lost_total", lost, double(k[L7TAP_CNT_NO_THREAD_STATE]),
            {{"reason", "thread_state_unavailable"}});
  s.Counter("l7tap_events_lost_total", lost, double(k[L7TAP_CNT_SYSCALL_RETURN_MISSED]),
            {{"reason", "kretprobe_missed"}});
  s.Counter("l7tap_events_lost_total", lost, double(k[L7TAP_CNT_TLS_RETURN_MISSED]),
            {{"reason", "uretprobe_missed"}});
  s.Counter("l7tap_events_lost_total", lost, double(k[L7TAP_CNT_GO_RETURN_MISSED]),
            {{"reason", "go_return_missed"}});
  s.Counter("l7tap_events_lost_total", lost, double(k[L7TAP_CNT_GO_CALLS_FULL]),
            {{"reason", "go_calls_full"}});
  s.Counter("l7tap_events_lost_total", lost, double(t.events_untracked),
            {{"reason", "connection_table_full"}});
  if (auto missed = probes->KretprobesMissed()) {
    s.Counter(
        "l7tap_kretprobes_missed_total",
        "Returns of the probed syscalls the kernel's kretprobes missed, followed calls or not (the "
        "kernel's own count; followed ones are in l7tap_events_lost_total{reason=\"kretprobe_missed\"})",
        double(*missed));
  }
  const char* starts = "Messages whose first bytes were in events lost before reaching the agent, by kind";
  s.Counter("l7tap_messages_lost_total", starts, double(k[L7TAP_CNT_LOST_REQUEST_STARTS]),
            {{"kind", "http_request"}});
  s.Counter("l7tap_messages_lost_total", starts, double(k[L7TAP_CNT_LOST_RESPONSE_STARTS]),
            {{"kind", "http_response"}});
  s.Counter("l7tap_messages_lost_total", starts, double(k[L7TAP_CNT_LOST_DNS_MESSAGES]), {{"kind", "dns"}});
  s.Counter("l7tap_tls_fd_mismatch_total", "TLS calls that made syscalls on two different fds",
            double(k[L7TAP_CNT_TLS_FD_MISMATCH]));
  s.Counter("l7tap_payload_truncated_events_total", "Data events whose payload exceeded --max-payload-bytes",
            double(k[L7TAP_CNT_TRUNCATED_EVENTS]));
  s.Counter("l7tap_payload_truncated_bytes_total", "Bytes counted by length but not copied (over the cap)",
            double(k[L7TAP_CNT_TRUNCATED_BYTES]));
  s.Counter("l7tap_payload_copy_failures_total", "Payload reads from process memory that faulted",
            double(k[L7TAP_CNT_COPY_FAILED]));
  s.Counter("l7tap_payload_segment_limit_total",
            "Calls with more iovec segments or messages than the kernel copies (" +
                std::to_string(L7TAP_MAX_IOV) + " segments with bpf_loop, else " +
                std::to_string(L7TAP_MIN_IOV) + "; " + std::to_string(L7TAP_MAX_MMSG) + " messages)",
            double(k[L7TAP_CNT_IOV_LIMIT]));
  s.Counter("l7tap_connections_untracked_total",
            "Connection registrations the kernel refused, by reason (each I/O on a socket not followed tries "
            "again)",
            double(k[L7TAP_CNT_CONN_TABLE_FULL]), {{"reason", "table_full"}});

  const char* marked =
      "Calls on followed sockets whose bytes the probes do not copy, by reason (splice: counted by "
      "length, a hole of known length; fd_shared: a second fd made for the socket, whose two connections "
      "mark every event as after a gap until one is closed; io_uring: an operation submitted on it, a gap of "
      "unknown length)";
  s.Counter("l7tap_stream_gaps_marked_total", marked, double(k[L7TAP_CNT_SPLICE]), {{"reason", "splice"}});
  s.Counter("l7tap_stream_gaps_marked_total", marked, double(k[L7TAP_CNT_FD_SHARED]),
            {{"reason", "fd_shared"}});
  s.Counter("l7tap_stream_gaps_marked_total", marked, double(k[L7TAP_CNT_IO_URING]),
            {{"reason", "io_uring"}});
  s.Counter(
      "l7tap_exec_closes_untracked_total",
      "execve calls that closed more followed close-on-exec sockets than the kernel tracks per call (the "
      "rest end at the sweeper or when their fd is reused)",
      double(k[L7TAP_CNT_EXEC_CLOSE_OVERFLOW]));

  const char* skipped =
      "What --port and --exclude-port left out in the kernel, by kind (connection: a socket "
      "first seen on no selected port, never followed; datagram: one of an unconnected UDP "
      "socket whose peer port is not selected)";
  s.Counter("l7tap_selection_skipped_total", skipped, double(k[L7TAP_CNT_CONNS_SKIPPED]),
            {{"kind", "connection"}});
  s.Counter("l7tap_selection_skipped_total", skipped, double(k[L7TAP_CNT_DATAGRAMS_SKIPPED]),
            {{"kind", "datagram"}});
  const char* hits = "Uprobe hits in traced processes, by how the kernel ran the probed instruction";
  s.Counter("l7tap_probe_hits_total", hits, double(k[L7TAP_CNT_HITS_EMULATED]), {{"kind", "emulated"}});
  s.Counter("l7tap_probe_hits_total", hits, double(k[L7TAP_CNT_HITS_SINGLE_STEP]), {{"kind", "single_step"}});
  s.Counter("l7tap_probe_hits_total", hits, double(k[L7TAP_CNT_HITS_URETPROBE]), {{"kind", "uretprobe"}});
  const char* events = "Events received from the kernel, by kind";
  s.Counter("l7tap_events_total", events, double(e.open), {{"kind", "open"}});
  s.Counter("l7tap_events_total", events, double(e.data), {{"kind", "data"}});
  s.Counter("l7tap_events_total", events, double(e.close), {{"kind", "close"}});
  s.Counter("l7tap_events_total", events, double(e.exit), {{"kind", "process_exit"}});
  s.Counter("l7tap_events_total", events, double(e.exec), {{"kind", "process_exec"}});
  const char* bytes = "Payload bytes moved by traced syscalls (observed) and copied to the agent (copied)";
  s.Counter("l7tap_payload_bytes_total", bytes, double(e.bytes_observed), {{"what", "observed"}});
  s.Counter("l7tap_payload_bytes_total", bytes, double(e.bytes_copied), {{"what", "copied"}});
  s.Counter("l7tap_transactions_total", "Transactions recorded, by protocol", double(e.transactions),
            {{"protocol", "http"}});
  s.Counter("l7tap_transactions_total", "Transactions recorded, by protocol", double(e.dns_transactions),
            {{"protocol", "dns"}});
  s.Counter("l7tap_dns_unanswered_total",
            "DNS queries with no answer within --dns-timeout, or whose socket closed first",
            double(t.dns_unanswered));
  s.Counter("l7tap_dns_unmatched_responses_total", "DNS responses that matched no pending query",
            double(t.dns_unmatched_responses));
  s.Counter("l7tap_dns_malformed_total", "Datagrams or TCP messages on DNS ports that are not valid DNS",
            double(t.dns_malformed) + double(k[L7TAP_CNT_UDP_NOT_DNS]));
  s.Counter("l7tap_dns_peer_unreadable_total",
            "Datagram calls whose address argument could not be read (judged by the socket's ports alone)",
            double(k[L7TAP_CNT_PEER_UNREADABLE]));
  s.Counter("l7tap_dns_retransmits_total", "DNS queries sent again while the first was pending",
            double(t.dns_retransmits));
  s.Counter("l7tap_dns_stream_gaps_total", "DNS-over-TCP streams whose framing was lost to missing bytes",
            double(t.dns_stream_gaps));
  s.Counter("l7tap_dns_truncated_captures_total",
            "DNS messages cut by --max-payload-bytes before their question (not matched)",
            double(t.dns_truncated_captures));
  s.Gauge("l7tap_connections_open", "Connections followed now", double(e.open_connections));

  s.Counter("l7tap_connections_total", "Connections followed since start", double(t.connections_opened));
  s.Counter("l7tap_connections_not_http_total",
            "TCP connections whose bytes are neither HTTP/1 nor HTTP/2 (ignored)",
            double(t.connections_not_http));
  s.Counter("l7tap_connections_upgraded_total", "Connections switched to another protocol (101)",
            double(t.connections_upgraded));
  s.Counter("l7tap_connections_without_open_total", "Connections first seen by their data (open not seen)",
            double(t.connections_without_open));
  s.Counter("l7tap_stream_gaps_total", "Holes in a connection's byte stream", double(t.stream_gaps));
  s.Counter("l7tap_stream_gap_bytes_total", "Bytes missing in stream holes", double(t.stream_gap_bytes));
  s.Counter("l7tap_stream_overlap_bytes_total", "Bytes seen twice and dropped",
            double(t.stream_overlap_bytes));
  s.Counter("l7tap_stream_late_reports_total",
            "Events the kernel reported lost after their hole had been declared without the count",
            double(t.stream_late_reports));
  s.Counter("l7tap_stale_events_total",
            "Events of a connection already ended: replaced on its fd, or of a process that had exited",
            double(t.stale_events));
  s.Counter("l7tap_http_parse_errors_total", "Connections where HTTP/1 parsing failed",
            double(t.http_parse_errors));
  s.Counter("l7tap_http_desyncs_total", "Stream holes that broke HTTP/1 framing (parsing resumed later)",
            double(t.http_desyncs));
  const char* unmatched = "HTTP messages that did not become a transaction and are no request, by reason";
  s.Counter("l7tap_http_unmatched_total", unmatched, double(t.http_unmatched_responses),
            {{"reason", "response_without_request"}});
  s.Counter("l7tap_http_unmatched_total", unmatched, double(t.http_incomplete_messages),
            {{"reason", "message_incomplete"}});
  // Every request sent is a transaction or one of these (exactly, where every message begins a syscall's
  // buffer: README, "Loss accounting").
  const char* lost_requests = "HTTP requests that did not become a transaction, by reason";
  s.Counter("l7tap_http_requests_lost_total", lost_requests, double(k[L7TAP_CNT_LOST_REQUEST_STARTS]),
            {{"reason", "request_lost"}});
  s.Counter("l7tap_http_requests_lost_total", lost_requests, double(t.http_requests_cut),
            {{"reason", "request_cut"}});
  s.Counter("l7tap_http_requests_lost_total", lost_requests, double(t.http_responses_lost),
            {{"reason", "response_lost"}});
  s.Counter("l7tap_http_requests_lost_total", lost_requests, double(t.http_unanswered_requests),
            {{"reason", "unanswered"}});
  s.Counter("l7tap_http_requests_lost_total", lost_requests, double(t.http_requests_framing_lost),
            {{"reason", "framing_lost"}});
  s.Counter("l7tap_http_requests_lost_total", lost_requests, double(t.http_requests_queue_full),
            {{"reason", "queue_full"}});
  s.Counter("l7tap_http_requests_lost_total", lost_requests, double(t.http2_streams_lost),
            {{"reason", "http2_frames_lost"}});
  s.Counter("l7tap_http_requests_lost_total", lost_requests, double(t.http2_streams_over_limit),
            {{"reason", "http2_streams_over_limit"}});

  s.Counter("l7tap_http2_connections_total", "Connections parsed as HTTP/2", double(t.http2_connections));
  s.Counter("l7tap_http2_frame_events_total",
            "Events the kernel sent for HTTP/2 frames whose header lay past a call's copy cap",
            double(k[L7TAP_CNT_H2_FRAME_EVENTS]));
  const char* walks =
      "Times the kernel lost its place in a direction's HTTP/2 frames (parsing then resynchronises), by "
      "reason";
  s.Counter("l7tap_http2_frame_walks_lost_total", walks, double(k[L7TAP_CNT_H2_WALK_LOST]),
            {{"reason", "bytes_missed"}});
  s.Counter("l7tap_http2_frame_walks_lost_total", walks, double(k[L7TAP_CNT_H2_WALK_UNREADABLE]),
            {{"reason", "header_unreadable"}});
  s.Counter("l7tap_http2_frame_walks_lost_total", walks, double(k[L7TAP_CNT_H2_WALK_LONG]),
            {{"reason", "too_many_frames"}});
  const char* early = "HTTP/2 streams recorded with an early end (their error_type label), by reason";
  s.Counter("l7tap_http2_streams_ended_early_total", early, double(t.http2_streams_reset),
            {{"reason", "rst_stream"}});
  s.Counter("l7tap_http2_streams_ended_early_total", early, double(t.http2_streams_goaway),
            {{"reason", "goaway"}});
  s.Counter("l7tap_http2_streams_ended_early_total", early, double(t.http2_streams_closed),
            {{"reason", "connection_closed"}});
  s.Counter("l7tap_http2_header_state_lost_total",
            "Times a direction's HPACK state was lost (a gap, or a connection seen mid-way); later header "
            "fields are decoded as far as they do not refer to it",
            double(t.http2_header_state_lost));
  s.Counter("l7tap_http2_header_blocks_partial_total",
            "HTTP/2 header blocks decoded in part only (labels they would give are empty)",
            double(t.http2_header_blocks_failed));
  s.Counter("l7tap_http2_desyncs_total", "Missing bytes that hid HTTP/2 frame boundaries",
            double(t.http2_desyncs));
  s.Counter("l7tap_http2_resyncs_total", "HTTP/2 frame boundaries found again after a desync",
            double(t.http2_resyncs));
  s.Counter("l7tap_http2_frames_unknown_stream_total",
            "HTTP/2 header blocks of streams whose opening was not seen (ignored)",
            double(t.http2_frames_unknown_stream));
  s.Counter("l7tap_http2_protocol_errors_total",
            "HTTP/2 connections given up on bytes that break the protocol", double(t.http2_protocol_errors));
  s.Counter("l7tap_http_chunks_skipped_total",
            "Chunks of connections opened before the capture skipped until one began an HTTP message",
            double(t.http_chunks_skipped));

  // Keys mode (--tls-capture keys|auto).
  const char* secrets = "TLS secrets received (kept in the agent's memory only), by source";
  s.Counter("l7tap_tls_secrets_total", secrets, double(e.secrets_openssl), {{"source", "openssl"}});
  s.Counter("l7tap_tls_secrets_total", secrets, double(e.secrets_openssl_object),
            {{"source", "openssl_ssl_object"}});
  s.Counter("l7tap_tls_secrets_total", secrets, double(e.secrets_go), {{"source", "go"}});
  s.Counter("l7tap_tls_secrets_total", secrets, double(e.secrets_keylog_file), {{"source", "keylog_file"}});
  s.Counter("l7tap_tls_secrets_unreadable_total", "Key-log hook hits whose label or secret could not be read",
            double(k[L7TAP_CNT_TLS_SECRET_UNREADABLE]));
  s.Counter("l7tap_tls_connections_decrypted_total",
            "TLS connections decrypted with their handshake's secrets", double(t.tls_connections_decrypted));
  const char* paired = "TLS connections paired with their secrets, by how";
  s.Counter("l7tap_tls_connections_paired_total", paired, double(t.tls_paired_by_random),
            {{"by", "client_random"}});
  s.Counter("l7tap_tls_connections_paired_total", paired, double(t.tls_paired_by_trial),
            {{"by", "ssl_object"}});
  s.Counter("l7tap_tls_records_total", "TLS records decrypted", double(t.tls_records));
  s.Counter("l7tap_tls_records_partial_total",
            "TLS records decrypted in part (only their first bytes were copied: --tls-record-bytes)",
            double(t.tls_records_partial));
  s.Counter("l7tap_tls_decrypted_bytes_total", "Plaintext bytes decrypted", double(t.tls_bytes_decrypted));
  s.Counter("l7tap_tls_key_updates_total", "TLS 1.3 KeyUpdate messages followed", double(t.tls_key_updates));
  s.Counter("l7tap_tls_desyncs_total", "Missing ciphertext that hid TLS record boundaries",
            double(t.tls_desyncs));
  s.Counter("l7tap_tls_resyncs_total", "TLS record boundaries found again after a desync",
            double(t.tls_resyncs));
  s.Counter("l7tap_tls_record_events_total",
            "Events the kernel sent for TLS records past a call's copy cap (keys mode)",
            double(k[L7TAP_CNT_TLS_RECORD_EVENTS]));
  s.Counter("l7tap_tls_record_walks_lost_total",
            "Kernel TLS record walks given up (records later in those calls may be lost)",
            double(k[L7TAP_CNT_TLS_WALK_LOST]));

  s.Counter("l7tap_process_holds_refused_total",
            "New processes that reached TLS uncleared but could not be held (the held table full, or the "
            "signal refused): their first handshake may be missed",
            double(k[L7TAP_CNT_HOLD_REFUSED]));

  for (Sample& sample : more) s.out.push_back(std::move(sample));
  return std::move(s.out);
}

}  // namespace l7tap::agent
