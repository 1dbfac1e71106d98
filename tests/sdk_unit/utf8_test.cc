#include "sdk/utf8.h"

#include <gtest/gtest.h>

using tusk::sdk::is_valid_utf8;

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("A dog runs."));
  EXPECT_TRUE(is_valid_utf8("Grüße, Příliš žluťoučký kůň, €, 😀"));
  EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last code point
}

TEST(Utf8, RejectsMalformedSequencesAndReportsOffset) {
  struct Case {
    const char* text;
    size_t offset;
  } cases[] = {
      {"ab\xff", 2},              // never valid
      {"\x80", 0},                // stray continuation
      {"x\xc0\xaf", 1},           // overlong '/'
      {"\xe0\x80\xaf", 0},        // overlong 3-byte
      {"\xe2\x82", 0},            // truncated euro sign
      {"\xed\xa0\x80", 0},        // surrogate U+D800
      {"\xf4\x90\x80\x80", 0},    // above U+10FFFF
      {"ok \xe2\x28\xa1", 3},     // bad continuation
  };
  for (const auto& c : cases) {
    size_t offset = 999;
    EXPECT_FALSE(is_valid_utf8(c.text, &offset)) << c.text;
    EXPECT_EQ(offset, c.offset) << c.text;
  }
}
