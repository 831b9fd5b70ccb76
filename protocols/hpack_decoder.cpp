#include "protocols/hpack_decoder.h"

#include <nghttp2/nghttp2.h>

#include <new>

namespace l7tap::protocols {

HpackDecoder::HpackDecoder() { Restart(); }

HpackDecoder::~HpackDecoder() {
  if (inflater_) nghttp2_hd_inflate_del(inflater_);
}

void HpackDecoder::Restart() {
  if (inflater_) nghttp2_hd_inflate_del(inflater_);
  inflater_ = nullptr;
  if (nghttp2_hd_inflate_new(&inflater_) != 0) throw std::bad_alloc();
  if (table_limit_ != 4096) nghttp2_hd_inflate_change_table_size(inflater_, table_limit_);
}

bool HpackDecoder::Feed(std::string_view fragment, bool last, const FieldSink& out) {
  // The inflater takes a new limit only between blocks.
  if (!mid_block_ && limit_pending_) {
    nghttp2_hd_inflate_change_table_size(inflater_, table_limit_);
    limit_pending_ = false;
  }
  mid_block_ = !last;
  auto* in = reinterpret_cast<uint8_t*>(const_cast<char*>(fragment.data()));
  size_t left = fragment.size();
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    const ssize_t used = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, last ? 1 : 0);
    if (used < 0) {
      // An entry this table does not hold (state lost earlier), or bytes that are not HPACK: every field of
      // the block from here on is unknown, and so is what it added to the peer's table.
      ++failed_blocks_;
      recovering_ = true;
      Restart();
      mid_block_ = false;
      return false;
    }
    in += used;
    left -= size_t(used);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      out(std::string_view(reinterpret_cast<const char*>(nv.name), nv.namelen),
          std::string_view(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(inflater_);
      return true;
    }
    if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) return true;  // needs the next fragment
  }
}

void HpackDecoder::Lose() {
  recovering_ = true;
  mid_block_ = false;
  Restart();
}

void HpackDecoder::RaiseTableLimit(uint32_t size) {
  if (size <= table_limit_) return;
  table_limit_ = size;
  if (mid_block_) {
    limit_pending_ = true;
  } else {
    nghttp2_hd_inflate_change_table_size(inflater_, size);
  }
}

size_t HpackDecoder::table_bytes() const { return nghttp2_hd_inflate_get_dynamic_table_size(inflater_); }

}  // namespace l7tap::protocols
