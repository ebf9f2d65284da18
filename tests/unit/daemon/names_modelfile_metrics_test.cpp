#include <gtest/gtest.h>

#include "daemon/registry/names.h"
#include "daemon/server/modelfile.h"
#include "daemon/telemetry/log_ring.h"
#include "daemon/telemetry/metrics.h"

using namespace mlxr;

TEST(Names, Normalise) {
  EXPECT_EQ(*registry::normalize_name("Stories"), "stories:latest");
  EXPECT_EQ(*registry::normalize_name("org/Model-1.5:Q4_K"), "org/model-1.5:Q4_K");
  for (const char* bad : {"", "../etc/passwd", "a/../b", "/abs", "a//b", "a:", ":tag", "a b", "a\nb", "x:../y", ".hidden"})
    EXPECT_FALSE(registry::normalize_name(bad)) << bad;
}

TEST(Names, FromBasename) {
  EXPECT_EQ(registry::name_from_basename("/x/stories260K-f32.gguf"), "stories260k-f32:latest");
  EXPECT_EQ(registry::name_from_basename("https://h/a/b/Model.Q4_K_M.gguf?download=1"), "model.q4_k_m:latest");
  EXPECT_TRUE(registry::normalize_name(registry::name_from_basename("/x/__weird name!.bin")));
}

TEST(Modelfile, ParsesBlocksAndParameters) {
  std::string from;
  registry::ImportOptions o;
  auto st = server::parse_modelfile(
      "# comment\nFROM stories:latest\nPARAMETER temperature 0.2\nPARAMETER stop \"<|end|>\"\nPARAMETER stop User:\n"
      "TEMPLATE \"\"\"{{ .System }}\nUser: {{ .Prompt }}\nAssistant:\"\"\"\nSYSTEM You are terse.\n",
      &from, &o);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(from, "stories:latest");
  EXPECT_DOUBLE_EQ(o.parameters["temperature"].get<double>(), 0.2);
  EXPECT_EQ(o.parameters["stop"], nlohmann::json({"<|end|>", "User:"}));
  EXPECT_EQ(o.template_text, "{{ .System }}\nUser: {{ .Prompt }}\nAssistant:");
  EXPECT_EQ(o.system, "You are terse.");
}

TEST(Modelfile, ErrorsNameTheLine) {
  std::string from;
  registry::ImportOptions o;
  auto st = server::parse_modelfile("FROM x\nADAPTER y\n", &from, &o);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("line 2"), std::string::npos) << st.message();
  st = server::parse_modelfile("FROM x\nPARAMETER temperature hot\n", &from, &o);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("temperature"), std::string::npos);
  st = server::parse_modelfile("TEMPLATE \"\"\"never closed\n", &from, &o);
  EXPECT_FALSE(st.is_ok());
}

TEST(Metrics, HistogramBucketsAndQuantiles) {
  telemetry::Histogram h({0.1, 0.2, 0.5, 1.0});
  for (int i = 0; i < 100; ++i) h.observe(i < 90 ? 0.05 : 0.7);
  auto c = h.cumulative();
  EXPECT_EQ(c, (std::vector<uint64_t>{90, 90, 90, 100, 100}));
  EXPECT_NEAR(h.sum(), 90 * 0.05 + 10 * 0.7, 1e-6);
  EXPECT_LE(h.quantile(0.5), 0.1);
  EXPECT_GT(h.quantile(0.99), 0.5);
  EXPECT_LE(h.quantile(0.99), 1.0);
}

TEST(Metrics, PrometheusText) {
  telemetry::Metrics m;
  m.counter("mlxr_x_total", "x things", {{"route", "/v1/a\"b"}}).inc(3);
  m.histogram("mlxr_lat_seconds", "latency", {}, {0.5, 1}).observe(0.7);
  m.gauge("mlxr_g", "g", [] { return 2.5; });
  std::string t = m.render_prometheus();
  EXPECT_NE(t.find("# TYPE mlxr_x_total counter\nmlxr_x_total{route=\"/v1/a\\\"b\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("mlxr_lat_seconds_bucket{le=\"0.5\"} 0\n"), std::string::npos) << t;
  EXPECT_NE(t.find("mlxr_lat_seconds_bucket{le=\"1\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("mlxr_lat_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("mlxr_lat_seconds_count 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("mlxr_g 2.5\n"), std::string::npos) << t;
}

TEST(LogRing, SinceAndCapacity) {
  telemetry::LogRing r(16);
  r.set_echo(false);
  for (int i = 0; i < 40; ++i) r.info("line", {{"i", i}});
  r.log(telemetry::LogLevel::kDebug, "hidden");
  EXPECT_EQ(r.last_seq(), 40u);
  auto all = r.since(0);
  ASSERT_EQ(all.size(), 16u);
  EXPECT_EQ(all.front().seq, 25u);
  EXPECT_EQ(all.front().fields["i"], 24);
  auto tail = r.since(38);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[1].to_json()["level"], "info");
}
