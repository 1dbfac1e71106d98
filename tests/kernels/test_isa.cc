// ISA levels: names, detection consistency, and the TUSK_CPU_ISA rule (select_isa). CTest
// also runs IsaOverride.ActiveIsaFollowsEnvironment with TUSK_CPU_ISA set (CMakeLists.txt).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "kernels/cpu/quantized_linear.h"

namespace tusk::kernels {
namespace {

Isa best_supported() {
  Isa best = Isa::Generic;
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni})
    if (isa_supported(isa)) best = isa;
  return best;
}

TEST(Isa, NamesAndNesting) {
  EXPECT_STREQ(isa_name(Isa::Generic), "generic");
  EXPECT_STREQ(isa_name(Isa::Avx2), "avx2");
  EXPECT_STREQ(isa_name(Isa::Avx512), "avx512");
  EXPECT_STREQ(isa_name(Isa::Avx512Vnni), "avx512vnni");
  EXPECT_TRUE(isa_supported(Isa::Generic));
  // Each level includes the one below it.
  EXPECT_TRUE(!isa_supported(Isa::Avx512Vnni) || isa_supported(Isa::Avx512));
  EXPECT_TRUE(!isa_supported(Isa::Avx512) || isa_supported(Isa::Avx2));
  std::printf("this CPU: best level %s\n", isa_name(best_supported()));
}

TEST(IsaOverride, NoValueMeansBest) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(select_isa(nullptr), best_supported());
  EXPECT_EQ(select_isa(""), best_supported());
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(IsaOverride, SupportedLevelsAreTakenAsTheyAre) {
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni}) {
    if (!isa_supported(isa)) continue;
    testing::internal::CaptureStderr();
    EXPECT_EQ(select_isa(isa_name(isa)), isa);
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << isa_name(isa);
  }
}

TEST(IsaOverride, UnsupportedLevelFallsBackWithOneWarning) {
  bool tested = false;
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni}) {
    if (isa_supported(isa)) continue;
    tested = true;
    testing::internal::CaptureStderr();
    EXPECT_EQ(select_isa(isa_name(isa)), best_supported());
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("not supported by this CPU"), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line: " << err;
  }
  if (!tested) GTEST_SKIP() << "this CPU supports every level";
}

TEST(IsaOverride, UnknownNameFallsBackWithOneWarning) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(select_isa("sse9"), best_supported());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("TUSK_CPU_ISA=sse9"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line: " << err;
}

// Also registered in CTest with TUSK_CPU_ISA=generic and =avx512vnni.
TEST(IsaOverride, ActiveIsaFollowsEnvironment) {
  const char* env = std::getenv("TUSK_CPU_ISA");
  testing::internal::CaptureStderr();
  const Isa expected = select_isa(env);
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(active_isa(), expected);
  EXPECT_EQ(active_isa(), expected);  // read once, stable
  EXPECT_TRUE(isa_supported(active_isa()));
  if (env && std::string(env) == "generic") {
    EXPECT_EQ(active_isa(), Isa::Generic);
  }
}

}  // namespace
}  // namespace tusk::kernels
