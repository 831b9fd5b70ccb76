#pragma once
// One direction's HPACK state (RFC 7541), decoded with nghttp2's inflater, and what happens when that state
// is lost. After a loss (bytes of a header block missing, or a connection seen mid-way) decoding starts over
// with an empty dynamic table: a field that still decodes is right, because the entries added since the loss
// sit at the same indices in both tables (the peer evicts older entries first), and a reference to an older
// entry is out of range for the empty table, so it fails instead of giving a wrong value. A block that fails
// is given up from that field on and the table emptied again.
#include <cstdint>
#include <functional>
#include <string_view>

struct nghttp2_hd_inflater;

namespace l7tap::protocols {

class HpackDecoder {
 public:
  // Called for each field decoded, in block order; the views live for the call only.
  using FieldSink = std::function<void(std::string_view name, std::string_view value)>;

  HpackDecoder();
  ~HpackDecoder();
  HpackDecoder(const HpackDecoder&) = delete;
  HpackDecoder& operator=(const HpackDecoder&) = delete;

  // A fragment of the current header block; `last` for the fragment ending it (END_HEADERS).
  // Returns false when the block failed here: the decoder has started over, and the caller feeds none of the
  // block's remaining fragments (the next Feed begins a new block).
  bool Feed(std::string_view fragment, bool last, const FieldSink& out);
  // The rest of the current block was lost, or bytes between blocks were (an unknown number of blocks).
  void Lose();
  // The decoding side announced SETTINGS_HEADER_TABLE_SIZE: the peer may now grow its table up to it.
  // Only ever raised: a peer that has not seen a decrease yet may still use the old size, and a higher limit
  // never rejects a valid block (the table's real size comes from the size updates inside the blocks).
  void RaiseTableLimit(uint32_t size);

  // True once state was lost: fields referring to entries older than the loss cannot be decoded.
  bool recovering() const { return recovering_; }
  // Blocks given up since construction (a field failed to decode).
  uint64_t failed_blocks() const { return failed_blocks_; }
  // Bytes of dynamic table held (for accounting).
  size_t table_bytes() const;

 private:
  void Restart();

  nghttp2_hd_inflater* inflater_ = nullptr;
  uint32_t table_limit_ = 4096;
  bool mid_block_ = false;      // fragments of a block fed, its last not yet
  bool limit_pending_ = false;  // a raised limit to apply at the next block
  bool recovering_ = false;
  uint64_t failed_blocks_ = 0;
};

}  // namespace l7tap::protocols
