#include "symbolizer/address_table.h"

#include <gtest/gtest.h>

#include "tests/symbolizer/test_tools.h"

namespace l7tap::symbolizer {
namespace {

constexpr const char* kBuild = "8f3c0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b";

TEST(AddressTableTest, ParsesEntriesCommentsAndBlankLines) {
  const std::string text = std::string("# derived from http_server_static\n\n") + kBuild +
                           " SSL_read 0x1a2b30\n"
                           "   \t\n" +
                           kBuild + "\tSSL_write   0X1A2C00   # trailing comment\n" +
                           "ABCDEF01 SSL_read 0x10\n";  // upper-case build-id, no final newline after this
  auto table = AddressTable::Parse(text, "table.txt");
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_EQ(table->size(), 3u);
  EXPECT_EQ(table->Offset(kBuild, "SSL_read"), 0x1a2b30u);
  EXPECT_EQ(table->Offset(kBuild, "SSL_write"), 0x1a2c00u);
  EXPECT_FALSE(table->Offset(kBuild, "SSL_read_ex").has_value());
  EXPECT_EQ(table->Offset("abcdef01", "SSL_read"), 0x10u);
  EXPECT_EQ(table->Offset("ABCDEF01", "SSL_read"), 0x10u);  // build-ids compare case-insensitively
  EXPECT_TRUE(table->Has(kBuild));
  EXPECT_TRUE(table->Has("AbCdEf01"));
  EXPECT_FALSE(table->Has("abcdef02"));
  EXPECT_FALSE(table->Has(""));
  EXPECT_EQ(table->Functions(kBuild).size(), 2u);
  EXPECT_TRUE(table->Functions("00").empty());
}

TEST(AddressTableTest, EmptyTextIsAnEmptyTable) {
  auto table = AddressTable::Parse("# nothing yet\n\n", "empty.txt");
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_TRUE(table->empty());
  EXPECT_EQ(table->size(), 0u);
}

struct BadLine {
  std::string line;
  std::string expected;  // the error message after "t.txt:3: "
};

TEST(AddressTableTest, ErrorsNameTheSourceLineAndTheProblem) {
  const std::string good = std::string(kBuild) + " SSL_read 0x10\n";
  const std::vector<BadLine> cases = {
      {std::string(kBuild) + " SSL_read", "expected '<build-id> <function> 0x<file-offset>', found 2 fields"},
      {"SSL_read", "expected '<build-id> <function> 0x<file-offset>', found 1 field"},
      {std::string(kBuild) + " SSL_read 0x10 extra",
       "expected '<build-id> <function> 0x<file-offset>', found 4 fields"},
      {"xyz123 SSL_read 0x10", "build-id 'xyz123' is not an even number of hex digits"},
      {"abc SSL_read 0x10", "build-id 'abc' is not an even number of hex digits"},
      {std::string(kBuild) + " SSL_read 1a2b", "file offset '1a2b' is not 0x followed by hex digits"},
      {std::string(kBuild) + " SSL_read 0x", "file offset '0x' is not 0x followed by hex digits"},
      {std::string(kBuild) + " SSL_read 0x12g4", "file offset '0x12g4' is not 0x followed by hex digits"},
      {std::string(kBuild) + " SSL_read 0x10000000000000000",
       "file offset '0x10000000000000000' does not fit in 64 bits"},
      {std::string(kBuild) + " SSL_read 0x11",
       std::string("second, different offset for SSL_read in build ") + kBuild},
  };
  for (const BadLine& bad : cases) {
    auto table = AddressTable::Parse("# header\n" + good + bad.line + "\n" + good, "t.txt");
    ASSERT_FALSE(table.ok()) << bad.line;
    EXPECT_EQ(table.error(), "t.txt:3: " + bad.expected);
  }
  // The same entry twice is harmless (tables are concatenated).
  EXPECT_TRUE(AddressTable::Parse(good + good, "t.txt").ok());
}

TEST(AddressTableTest, FormatEntryRoundTripsThroughParse) {
  const std::map<std::string, uint64_t> offsets = {{"SSL_read", 0x1a2b30},
                                                   {"SSL_write", 0x1a2c00},
                                                   {"SSL_read_ex", 0},
                                                   {"SSL_write_ex", 0xffffffffffffffff}};
  const std::string text = AddressTable::FormatEntry("8F3C0A1B", offsets);
  EXPECT_EQ(text,
            "8f3c0a1b SSL_read 0x1a2b30\n"
            "8f3c0a1b SSL_read_ex 0x0\n"
            "8f3c0a1b SSL_write 0x1a2c00\n"
            "8f3c0a1b SSL_write_ex 0xffffffffffffffff\n");
  auto table = AddressTable::Parse(text, "formatted");
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_EQ(table->Functions("8f3c0a1b"), offsets);
  EXPECT_EQ(AddressTable::FormatEntry("8f3c0a1b", {}), "");
}

TEST(AddressTableTest, LoadReadsAFileAndNamesItInErrors) {
  const std::string good = testing::WriteTempFile("table_good.txt", std::string(kBuild) + " SSL_read 0x10\n");
  auto table = AddressTable::Load(good);
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_EQ(table->Offset(kBuild, "SSL_read"), 0x10u);

  const std::string bad = testing::WriteTempFile("table_bad.txt", "\n\nnot a table at all\n");
  table = AddressTable::Load(bad);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error(), bad + ":3: expected '<build-id> <function> 0x<file-offset>', found 5 fields");

  const std::string missing = ::testing::TempDir() + "symbolizer_no_such_table.txt";
  table = AddressTable::Load(missing);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error(), missing + ": cannot read symbol table: No such file or directory");
}

}  // namespace
}  // namespace l7tap::symbolizer
