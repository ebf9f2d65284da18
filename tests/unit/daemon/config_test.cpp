#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "daemon/config/config.h"

using namespace mlxr::config;
using mlxr::Status;

TEST(Config, DefaultsValidate) { EXPECT_TRUE(validate(defaults()).is_ok()); }

TEST(Config, ReadsNestedKeys) {
  auto c = load_string("tcp:\n  enabled: true\n  port: 8080\nengine:\n  max_batch_tokens: 1024\nmodels:\n  keep_alive: 10m\n");
  ASSERT_TRUE(c) << c.error();
  EXPECT_TRUE(c->tcp_enabled);
  EXPECT_EQ(c->tcp_port, 8080);
  EXPECT_EQ(c->max_batch_tokens, 1024);
  EXPECT_EQ(c->keep_alive, "10m");
}

TEST(Config, ErrorsNameTheKey) {
  auto unknown = load_string("tcp:\n  prot: 80\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().find("tcp.prot"), std::string::npos) << unknown.error();
  auto type = load_string("tcp:\n  port: eighty\n");
  ASSERT_FALSE(type);
  EXPECT_NE(type.error().find("tcp.port"), std::string::npos) << type.error();
  auto range = load_string("engine:\n  max_running: 0\n");
  ASSERT_FALSE(range);
  EXPECT_NE(range.error().find("engine.max_running"), std::string::npos) << range.error();
  auto dur = load_string("models:\n  keep_alive: 5 parsecs\n");
  ASSERT_FALSE(dur);
  EXPECT_NE(dur.error().find("models.keep_alive"), std::string::npos) << dur.error();
  auto syntax = load_string("tcp: [unclosed\n");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().find("line"), std::string::npos) << syntax.error();
}

TEST(Config, Durations) {
  using nlohmann::json;
  EXPECT_DOUBLE_EQ(*parse_duration_seconds(json("5m")), 300);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds(json("1h30m")), 5400);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds(json("250ms")), 0.25);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds(json(42)), 42);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds(json("300")), 300);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds(json(-1)), -1);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds(json("-1m")), -1);
  EXPECT_FALSE(parse_duration_seconds(json("5 minutes")));
  EXPECT_FALSE(parse_duration_seconds(json(true)));
  EXPECT_FALSE(parse_duration_seconds(json("")));
}

TEST(Config, RuntimePatchOnlyRuntimeKeys) {
  ServerConfig c = defaults();
  EXPECT_TRUE(apply_patch(c, {{"models", {{"default", "stories"}, {"keep_alive", "1m"}}}, {"engine.max_batch_tokens", 256}}).is_ok());
  EXPECT_EQ(c.default_model, "stories");
  EXPECT_EQ(c.keep_alive, "1m");
  EXPECT_EQ(c.max_batch_tokens, 256);
  Status s = apply_patch(c, {{"tcp", {{"port", 1}}}});
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("tcp.port"), std::string::npos);
  s = apply_patch(c, {{"engine.max_batch_tokens", "many"}});
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("engine.max_batch_tokens"), std::string::npos);
  s = apply_patch(c, {{"engine.max_batch_tokens", 0}});
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(c.max_batch_tokens, 256) << "a failed patch changes nothing";
  EXPECT_EQ(to_json(c)["auth"]["token"], "");
  c.token = "secret-secret-secret";
  EXPECT_EQ(to_json(c).dump().find("secret-secret"), std::string::npos) << "token must be redacted";
}

TEST(Config, TokenFileCreated0600AndReused) {
  auto dir = std::filesystem::temp_directory_path() / ("mlxr-cfg-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerConfig c = defaults();
  c.config_dir = dir.string();
  ASSERT_TRUE(ensure_token(c).is_ok());
  EXPECT_EQ(c.token.size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ServerConfig again = defaults();
  again.config_dir = dir.string();
  ASSERT_TRUE(ensure_token(again).is_ok());
  EXPECT_EQ(again.token, c.token);
  std::filesystem::remove_all(dir);
}

TEST(Config, ShippedServerYamlLoads) {
  auto c = load_file(std::string(MLXR_SOURCE_DIR) + "/configs/server.yaml");
  ASSERT_TRUE(c) << c.error();
  ServerConfig d = defaults();
  EXPECT_EQ(c->socket_path, d.socket_path) << "\"\" means the default location";
  EXPECT_EQ(c->models_dir, d.models_dir);
  EXPECT_EQ(c->tcp_port, d.tcp_port);
  EXPECT_EQ(c->keep_alive, d.keep_alive);
  EXPECT_EQ(c->max_body_bytes, d.max_body_bytes);
}
