// The text mode's sentence splitter (sdk/sentence_splitter.h): what ends a sentence in each
// language the rules know, what does not, and that joining the pieces back gives the text.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sdk/sentence_splitter.h"

namespace {

using tusk::sdk::join_sentences;
using tusk::sdk::split_sentences;

std::vector<std::string> sentences(const std::string& text, const std::string& language) {
  std::vector<std::string> out;
  for (const auto& s : split_sentences(text, language).sentences) out.push_back(s.text);
  return out;
}

using V = std::vector<std::string>;

// Joining the sentences themselves back must give the input, byte for byte.
void expect_round_trip(const std::string& text, const std::string& language) {
  const auto split = split_sentences(text, language);
  std::vector<std::string> same;
  for (const auto& s : split.sentences) {
    EXPECT_FALSE(s.text.empty());
    same.push_back(s.text);
  }
  EXPECT_EQ(join_sentences(split, same), text);
}

TEST(SentenceSplitter, EnglishStopsQuotesAndAbbreviations) {
  EXPECT_EQ(sentences("A man is cooking in a kitchen. Two dogs play in the snow. A woman reads a book on a bench.", "en"),
            (V{"A man is cooking in a kitchen.", "Two dogs play in the snow.", "A woman reads a book on a bench."}));
  EXPECT_EQ(sentences("Is it raining? Yes! It is.", "en"), (V{"Is it raining?", "Yes!", "It is."}));
  EXPECT_EQ(sentences("He said \"Stop.\" Then he left.", "en"), (V{"He said \"Stop.\"", "Then he left."}));
  EXPECT_EQ(sentences("(It was late.) We went home.", "en"), (V{"(It was late.)", "We went home."}));
  EXPECT_EQ(sentences("Dr. Smith met Mr. Jones. They talked.", "en"), (V{"Dr. Smith met Mr. Jones.", "They talked."}));
  EXPECT_EQ(sentences("Bring fruit, e.g. apples. Thanks.", "en"), (V{"Bring fruit, e.g. apples.", "Thanks."}));
  EXPECT_EQ(sentences("See No. 5 and fig. 3 there. Done.", "en"), (V{"See No. 5 and fig. 3 there.", "Done."}));
  EXPECT_EQ(sentences("J. K. Rowling wrote it. It sold.", "en"), (V{"J. K. Rowling wrote it.", "It sold."}));
  EXPECT_EQ(sentences("Wait... what? He paid 3.50 dollars at example.com today.", "en"),
            (V{"Wait... what?", "He paid 3.50 dollars at example.com today."}));
  EXPECT_EQ(sentences("It ended… Then silence.", "en"), (V{"It ended…", "Then silence."}));
  EXPECT_EQ(sentences("Hello.", "en"), (V{"Hello."}));
  EXPECT_EQ(sentences("no stop at the end", "en"), (V{"no stop at the end"}));
}

TEST(SentenceSplitter, GermanOrdinalsAndAbbreviations) {
  EXPECT_EQ(sentences("Am 1. Mai ist Feiertag. Wir feiern.", "de"), (V{"Am 1. Mai ist Feiertag.", "Wir feiern."}));
  EXPECT_EQ(sentences("Er kauft z.B. Äpfel. Sie kauft Birnen.", "de"), (V{"Er kauft z.B. Äpfel.", "Sie kauft Birnen."}));
  EXPECT_EQ(sentences("Siehe Nr. 4. Das ist alles.", "de"), (V{"Siehe Nr. 4.", "Das ist alles."}));
  EXPECT_EQ(sentences("Er sagte: »Komm.« Sie kam.", "de"), (V{"Er sagte: »Komm.«", "Sie kam."}));
  EXPECT_EQ(sentences("„Wo bist du?“ Ich bin hier.", "de"), (V{"„Wo bist du?“", "Ich bin hier."}));
  // English has no ordinal dots: "1." before a capital ends a sentence there.
  EXPECT_EQ(sentences("We came in 1. Then we left.", "en"), (V{"We came in 1.", "Then we left."}));
}

TEST(SentenceSplitter, FrenchAndCzech) {
  EXPECT_EQ(sentences("M. Dupont est là. Mme Martin aussi.", "fr"), (V{"M. Dupont est là.", "Mme Martin aussi."}));
  EXPECT_EQ(sentences("Il pleut ! Vraiment ? Oui.", "fr"), (V{"Il pleut !", "Vraiment ?", "Oui."}));
  EXPECT_EQ(sentences("Koupil např. jablka. Pak šel domů.", "cs"), (V{"Koupil např. jablka.", "Pak šel domů."}));
  EXPECT_EQ(sentences("Bydlí v domě č. 5. Je to blízko.", "cs"), (V{"Bydlí v domě č. 5.", "Je to blízko."}));
  EXPECT_EQ(sentences("Bylo to 2. června. Čekali jsme.", "cs"), (V{"Bylo to 2. června.", "Čekali jsme."}));
  // A capital with a diacritic starts a sentence too.
  EXPECT_EQ(sentences("Prší. Čekáme doma.", "cs"), (V{"Prší.", "Čekáme doma."}));
}

TEST(SentenceSplitter, OtherScripts) {
  EXPECT_EQ(sentences("我很好。你呢？我也是！", "zh"), (V{"我很好。", "你呢？", "我也是！"}));
  EXPECT_EQ(sentences("मैं घर जा रहा हूँ। तुम कहाँ हो?", "hi"), (V{"मैं घर जा रहा हूँ।", "तुम कहाँ हो?"}));
  EXPECT_EQ(sentences("كيف حالك؟ أنا بخير.", "ar"), (V{"كيف حالك؟", "أنا بخير."}));
  EXPECT_EQ(sentences("Как дела? Хорошо. а потом?", "ru"), (V{"Как дела?", "Хорошо. а потом?"}));
}

TEST(SentenceSplitter, LinesAndParagraphsAreKept) {
  const std::string text = "  A dog.\nA cat sleeps.\n\n  New paragraph. Second one.\r\n\nLast\n";
  const auto split = split_sentences(text, "en");
  EXPECT_EQ(split.leading, "  ");
  ASSERT_EQ(split.sentences.size(), 5u);
  EXPECT_EQ(split.sentences[0].text, "A dog.");
  EXPECT_EQ(split.sentences[0].separator, "\n");
  EXPECT_EQ(split.sentences[1].separator, "\n\n  ");
  EXPECT_EQ(split.sentences[2].text, "New paragraph.");
  EXPECT_EQ(split.sentences[3].separator, "\r\n\n");
  EXPECT_EQ(split.sentences[4].text, "Last");
  EXPECT_EQ(split.sentences[4].separator, "\n");
  // A line break ends a sentence even without a stop, and after a lower-case line.
  EXPECT_EQ(sentences("a heading\nthe text goes on", "en"), (V{"a heading", "the text goes on"}));
  EXPECT_EQ(join_sentences(split, {"1", "2", "3", "4", "5"}), "  1\n2\n\n  3 4\r\n\n5\n");
}

TEST(SentenceSplitter, BlankAndOddInputs) {
  EXPECT_TRUE(split_sentences("", "en").sentences.empty());
  const auto blank = split_sentences(" \n\t ", "en");
  EXPECT_TRUE(blank.sentences.empty());
  EXPECT_EQ(blank.leading, " \n\t ");
  EXPECT_EQ(join_sentences(blank, {}), " \n\t ");
  EXPECT_EQ(sentences("...", "en"), (V{"..."}));
  EXPECT_EQ(sentences("?!? ok", "en"), (V{"?!? ok"}));
  EXPECT_EQ(sentences("Stop.Go.", "en"), (V{"Stop.Go."}));
  for (const char* text : {"A b. C d.  E f?\n\nG", "  x  ", "Dr. A. B. Smith. X.", "„Hallo.“ «Oui.» 「はい。」",
                           "Tab\tseparated. Nbsp\u00a0here. Ideographic\u3000space。Next"})
    expect_round_trip(text, "en");
}

}  // namespace
