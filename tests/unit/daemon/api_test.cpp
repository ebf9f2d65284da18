// The HTTP/JSON layers end to end over real sockets, with a fake model behind the host.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "daemon/server/client.h"
#include "daemon/server/daemon.h"
#include "fake_model.h"
#include "tests/support/test_data.h"

using namespace mlxr;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kModel = "stories260K/stories260K-f32.gguf";

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(mlxr::testing::data_path(kModel))) GTEST_SKIP() << "test data missing";
    dir = fs::temp_directory_path() / ("mlxr-api-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir);
    fs::create_directories(dir / "ui/assets");
    std::ofstream(dir / "ui/index.html") << "<!doctype html><title>mlxr</title>";
    std::ofstream(dir / "ui/assets/app.js") << "console.log(1)";
    server::DaemonOptions o;
    o.config = config::defaults();
    o.config.socket_path = (dir / "s.sock").string();
    o.config.tcp_enabled = true;
    o.config.tcp_port = 0;
    o.config.models_dir = (dir / "models").string();
    o.config.config_dir = (dir / "cfg").string();
    o.config.ui_dir = (dir / "ui").string();
    o.config.max_body_bytes = 4096;
    o.log_to_stderr = false;
    o.pinned.emplace_back(mlxr::testing::data_path(kModel), "stories");
    o.loader = [this](const server::LoadSpec&) -> Expected<std::shared_ptr<server::ModelInstance>> {
      loads++;
      auto m = std::make_shared<test::FakeModel>(64, std::chrono::milliseconds(3));
      last = m;
      return std::shared_ptr<server::ModelInstance>(m);
    };
    auto d = server::Daemon::start(std::move(o));
    ASSERT_TRUE(d) << d.error();
    daemon = std::move(*d);
    uds.socket_path = (dir / "s.sock").string();
    tcp.port = daemon->tcp_port();
    token = daemon->context().config().token;
  }
  void TearDown() override {
    if (daemon) daemon->stop();
    daemon.reset();
    fs::remove_all(dir);
  }
  server::ClientResponse post(const std::string& path, const json& body) {
    auto r = server::client_request(uds, "POST", path, body.dump());
    EXPECT_TRUE(r) << r.error();
    return r ? *r : server::ClientResponse{};
  }
  server::ClientResponse get(const std::string& path) {
    auto r = server::client_request(uds, "GET", path, "");
    EXPECT_TRUE(r) << r.error();
    return r ? *r : server::ClientResponse{};
  }
  // Raw request over TCP, for headers the client helper does not send.
  std::string raw_tcp(const std::string& req) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(tcp.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::send(fd, req.data(), req.size(), 0);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, n);
    ::close(fd);
    return out;
  }
  static std::vector<json> lines(const std::string& body) {
    std::vector<json> v;
    size_t p = 0, nl;
    while ((nl = body.find('\n', p)) != std::string::npos) {
      if (nl > p) v.push_back(json::parse(body.substr(p, nl - p)));
      p = nl + 1;
    }
    return v;
  }
  static std::vector<std::string> sse(const std::string& body) {
    std::vector<std::string> v;
    size_t p = 0;
    while ((p = body.find("data: ", p)) != std::string::npos) {
      size_t e = body.find("\n\n", p);
      v.push_back(body.substr(p + 6, e - p - 6));
      p = e;
    }
    return v;
  }

  static inline int counter = 0;
  fs::path dir;
  std::unique_ptr<server::Daemon> daemon;
  server::ClientTarget uds, tcp;
  std::string token;
  std::atomic<int> loads{0};
  std::shared_ptr<test::FakeModel> last;
};

}  // namespace

TEST_F(Api, OllamaGenerateNonStreamAndStream) {
  auto r = post("/api/generate", {{"model", "stories"}, {"prompt", "ab"}, {"raw", true}, {"stream", false}, {"options", {{"num_predict", 3}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["response"], "w0 w1 w2 ");
  EXPECT_EQ(j["done"], true);
  EXPECT_EQ(j["done_reason"], "length");
  EXPECT_EQ(j["eval_count"], 3);
  EXPECT_EQ(j["prompt_eval_count"], 3);  // BOS + 'a' + 'b'
  EXPECT_EQ(j["context"], json({0, 'a' + 1, 'b' + 1, 1000, 1001, 1002}));
  EXPECT_GT(j["total_duration"].get<int64_t>(), 0);
  EXPECT_EQ(last->last_rendered, "") << "raw: no template";

  r = post("/api/generate", {{"model", "stories"}, {"prompt", "ab"}, {"system", "S"}, {"options", {{"num_predict", 2}}}});
  ASSERT_EQ(r.status, 200);
  auto ls = lines(r.body);
  ASSERT_EQ(ls.size(), 3u) << r.body;
  EXPECT_EQ(ls[0]["response"], "w0 ");
  EXPECT_EQ(ls[0]["done"], false);
  EXPECT_EQ(ls[2]["done"], true);
  EXPECT_EQ(ls[2]["eval_count"], 2);
  EXPECT_EQ(loads.load(), 1) << "the model stays loaded between requests";
  EXPECT_EQ(last->last_rendered, "<system>S<user>ab<assistant>") << "not raw: the chat template renders system + prompt";
}

TEST_F(Api, OllamaChatAndGoTemplate) {
  auto r = post("/api/chat", {{"model", "stories"}, {"stream", false}, {"options", {{"num_predict", 2}}},
                              {"messages", {{{"role", "system"}, {"content", "be brief"}}, {{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["message"]["role"], "assistant");
  EXPECT_EQ(j["message"]["content"], "w0 w1 ");
  EXPECT_EQ(last->last_rendered, "<system>be brief<user>hi<assistant>");
  // A Modelfile-style Go template is substituted, not passed to the Jinja renderer.
  r = post("/api/generate", {{"model", "stories"}, {"prompt", "Q"}, {"template", "U: {{ .Prompt }} A:"}, {"stream", false},
                             {"options", {{"num_predict", 1}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  json g = json::parse(r.body);
  std::vector<int32_t> want = {0};
  for (char c : std::string("U: Q A:")) want.push_back(c + 1);
  want.push_back(1000);
  EXPECT_EQ(g["context"], json(want));
}

TEST_F(Api, OpenAIChatNonStreamStreamAndN) {
  auto r = post("/v1/chat/completions", {{"model", "stories"}, {"max_tokens", 2},
                                         {"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "hi"}}}}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "stories");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "w0 w1 ");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 2);
  EXPECT_EQ(j["usage"]["total_tokens"], j["usage"]["prompt_tokens"].get<int>() + 2);
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);

  r = post("/v1/chat/completions", {{"model", "stories"}, {"max_tokens", 2}, {"stream", true},
                                    {"stream_options", {{"include_usage", true}}},
                                    {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto ev = sse(r.body);
  ASSERT_EQ(ev.size(), 6u) << r.body;  // role, 2 tokens, finish, usage, [DONE]
  EXPECT_EQ(json::parse(ev[0])["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(json::parse(ev[1])["choices"][0]["delta"]["content"], "w0 ");
  EXPECT_EQ(json::parse(ev[3])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(json::parse(ev[4])["usage"]["completion_tokens"], 2);
  EXPECT_TRUE(json::parse(ev[4])["choices"].empty());
  EXPECT_EQ(ev[5], "[DONE]");

  r = post("/v1/chat/completions", {{"model", "stories"}, {"max_tokens", 1}, {"n", 3}, {"logprobs", true}, {"top_logprobs", 2},
                                    {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  j = json::parse(r.body);
  ASSERT_EQ(j["choices"].size(), 3u);
  EXPECT_EQ(j["choices"][2]["index"], 2);
  auto lp = j["choices"][0]["logprobs"]["content"][0];
  EXPECT_EQ(lp["token"], "w1000");
  EXPECT_FLOAT_EQ(lp["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(lp["top_logprobs"].size(), 2u);
}

TEST_F(Api, OpenAICompletionsAndEmbeddings) {
  auto r = post("/v1/completions", {{"model", "stories"}, {"prompt", "x"}, {"max_tokens", 3}, {"logprobs", 1}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "w0 w1 w2 ");
  EXPECT_EQ(j["choices"][0]["logprobs"]["text_offset"], json({0, 3, 6}));
  EXPECT_EQ(j["usage"]["prompt_tokens"], 2);
  r = post("/v1/completions", {{"model", "stories"}, {"prompt", "x"}, {"max_tokens", 2}, {"stream", true}});
  auto ev = sse(r.body);
  ASSERT_EQ(ev.size(), 4u) << r.body;
  EXPECT_EQ(json::parse(ev[0])["choices"][0]["text"], "w0 ");
  EXPECT_EQ(ev.back(), "[DONE]");

  r = post("/v1/embeddings", {{"model", "stories"}, {"input", {"a", "b"}}});
  ASSERT_EQ(r.status, 200) << r.body;
  j = json::parse(r.body);
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][1]["index"], 1);
  EXPECT_EQ(j["data"][0]["embedding"].size(), 3u);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);
  r = post("/api/embed", {{"model", "stories"}, {"input", "a"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["embeddings"].size(), 1u);
  r = post("/api/embeddings", {{"model", "stories"}, {"prompt", "a"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["embedding"].size(), 3u);
}

TEST_F(Api, ErrorsAreTypedAndNamed) {
  auto bad = server::client_request(uds, "POST", "/v1/chat/completions", "{not json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["error"]["type"], "invalid_request_error");
  auto r = post("/v1/chat/completions", {{"model", "stories"}, {"temperature", "hot"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(json::parse(r.body)["error"]["message"].get<std::string>().find("temperature"), std::string::npos) << r.body;
  r = post("/v1/chat/completions", {{"model", "stories"}, {"messages", "hi"}});
  EXPECT_EQ(r.status, 400);
  r = post("/v1/chat/completions", {{"model", "nope"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "model_not_found");
  r = post("/api/generate", {{"model", "nope"}, {"prompt", "x"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(json::parse(r.body)["error"].is_string());
  r = post("/api/generate", {{"model", "stories"}, {"prompt", std::string(100, 'x')}, {"stream", false}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("context"), std::string::npos) << r.body;
  r = post("/api/generate", {{"model", "stories"}, {"prompt", std::string(5000, 'x')}});
  EXPECT_EQ(r.status, 413) << r.body;
  r = post("/api/generate", {{"model", "stories"}, {"prompt", "x"}, {"options", {{"top_k", "many"}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("top_k"), std::string::npos);
  r = post("/api/chat", {{"model", "stories"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"keep_alive", "forever"}});
  EXPECT_EQ(r.status, 400);
  r = post("/api/chat", {{"model", "stories"}, {"template", "broken"}, {"messages", {{{"role", "user"}, {"content", 5}}}}});
  EXPECT_EQ(r.status, 400);
  auto g = get("/v1/nothing");
  EXPECT_EQ(g.status, 404);
  auto m = server::client_request(uds, "GET", "/api/generate", "");
  EXPECT_EQ(m->status, 405);
}

TEST_F(Api, TcpNeedsTheTokenUdsDoesNot) {
  EXPECT_EQ(get("/api/tags").status, 200);
  auto r = server::client_request(tcp, "GET", "/api/tags", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  server::ClientTarget wrong = tcp;
  wrong.token = "not-the-token";
  EXPECT_EQ(server::client_request(wrong, "GET", "/v1/models", "")->status, 401);
  server::ClientTarget right = tcp;
  right.token = token;
  auto ok = server::client_request(right, "GET", "/v1/models", "");
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(json::parse(ok->body)["data"][0]["id"], "stories:latest");
  EXPECT_EQ(server::client_request(tcp, "GET", "/health", "")->status, 200) << "health is public";
  // Browser path: login sets an HttpOnly cookie; the cookie then authenticates.
  std::string body = json{{"token", token}}.dump();
  std::string resp = raw_tcp("POST /api/mlxr/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_NE(resp.find("Set-Cookie: mlxr_token=" + token + "; Path=/; HttpOnly; SameSite=Strict"), std::string::npos) << resp;
  std::string bad = json{{"token", "x"}}.dump();
  resp = raw_tcp("POST /api/mlxr/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " + std::to_string(bad.size()) +
                 "\r\n\r\n" + bad);
  EXPECT_EQ(resp.rfind("HTTP/1.1 401", 0), 0u) << resp;
  resp = raw_tcp("GET /api/mlxr/config HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: a=b; mlxr_token=" + token + "\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
  EXPECT_EQ(resp.find(token, resp.find("\r\n\r\n")), std::string::npos) << "the token is never in a body";
}

TEST_F(Api, DisconnectMidStreamCancels) {
  // Raw UDS socket: start a long stream, read a little, hang up.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, uds.socket_path.c_str(), sizeof a.sun_path - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::string body = json{{"model", "stories"}, {"prompt", "x"}}.dump();
  std::string req = "POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ::send(fd, req.data(), req.size(), 0);
  char buf[512];
  ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);
  ::close(fd);
  for (int i = 0; i < 200 && last->cancelled_done.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(last->cancelled_done.load(), 1) << "the sequence was cancelled, freeing its KV";
  EXPECT_EQ(last->stats().running, 0);
  // Same for a non-streamed request: the client leaves while waiting.
  fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  body = json{{"model", "stories"}, {"prompt", "x"}, {"stream", false}}.dump();
  req = "POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ::send(fd, req.data(), req.size(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ::close(fd);
  for (int i = 0; i < 200 && last->cancelled_done.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(last->cancelled_done.load(), 2);
  auto m = get("/metrics");
  EXPECT_NE(m.body.find("mlxr_client_disconnects_total 2"), std::string::npos) << m.body;
}

TEST_F(Api, KeepAliveZeroUnloadsAndPsLists) {
  auto r = post("/api/generate", {{"model", "stories"}, {"prompt", "x"}, {"stream", false}, {"keep_alive", "10m"}, {"options", {{"num_predict", 1}}}});
  ASSERT_EQ(r.status, 200);
  auto ps = json::parse(get("/api/ps").body);
  ASSERT_EQ(ps["models"].size(), 1u);
  EXPECT_EQ(ps["models"][0]["name"], "stories:latest");
  EXPECT_EQ(ps["models"][0]["size"], 12345);
  auto weak = std::weak_ptr<test::FakeModel>(last);
  r = post("/api/generate", {{"model", "stories"}, {"keep_alive", 0}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["done_reason"], "unload");
  EXPECT_TRUE(json::parse(get("/api/ps").body)["models"].empty());
  EXPECT_EQ(last->shutdowns.load(), 1);
  // An empty prompt loads the model.
  r = post("/api/chat", {{"model", "stories"}, {"messages", json::array()}});
  EXPECT_EQ(json::parse(r.body)["done_reason"], "load");
  EXPECT_EQ(loads.load(), 2);
  // A short keep_alive expires by itself.
  r = post("/api/generate", {{"model", "stories"}, {"prompt", "x"}, {"stream", false}, {"keep_alive", "200ms"}, {"options", {{"num_predict", 1}}}});
  for (int i = 0; i < 200 && !json::parse(get("/api/ps").body)["models"].empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(json::parse(get("/api/ps").body)["models"].empty());
}

TEST_F(Api, RegistryEndpoints) {
  auto r = post("/api/create", {{"model", "mine"}, {"from", mlxr::testing::data_path(kModel)}, {"stream", false}});
  ASSERT_EQ(r.status, 200) << r.body;
  r = post("/api/create", {{"model", "terse"}, {"modelfile", "FROM mine\nPARAMETER temperature 0\nSYSTEM Be terse.\n"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto ls = lines(r.body);
  EXPECT_EQ(ls.back()["status"], "success");
  r = post("/api/show", {{"model", "terse"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json s = json::parse(r.body);
  EXPECT_EQ(s["system"], "Be terse.");
  EXPECT_NE(s["parameters"].get<std::string>().find("temperature 0"), std::string::npos);
  EXPECT_EQ(s["details"]["family"], "llama");
  EXPECT_EQ(s["model_info"]["llama.embedding_length"], 64);
  r = post("/api/copy", {{"source", "terse"}, {"destination", "terse2"}});
  EXPECT_EQ(r.status, 200) << r.body;
  auto tags = json::parse(get("/api/tags").body)["models"];
  EXPECT_EQ(tags.size(), 4u);  // pinned stories + mine + terse + terse2
  auto del = server::client_request(uds, "DELETE", "/api/delete", json{{"model", "terse2"}}.dump());
  EXPECT_EQ(del->status, 200);
  del = server::client_request(uds, "DELETE", "/api/delete", json{{"model", "terse2"}}.dump());
  EXPECT_EQ(del->status, 404);
  r = post("/api/create", {{"model", "../x"}, {"from", "mine"}});
  EXPECT_EQ(r.status, 400) << r.body;
  r = post("/api/chat", {{"model", "terse"}, {"stream", false}, {"options", {{"num_predict", 1}}},
                         {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(last->last_rendered, "<system>Be terse.<user>hi<assistant>") << "the SYSTEM of the Modelfile applies";
  r = post("/api/pull", {{"model", "llama3"}});
  EXPECT_EQ(r.status, 400);
}

TEST_F(Api, AdminEndpoints) {
  post("/api/generate", {{"model", "stories"}, {"prompt", "x"}, {"stream", false}, {"options", {{"num_predict", 3}}}});
  auto m = get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("mlxr_ttft_seconds_count 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("mlxr_itl_seconds_count 2"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("mlxr_generated_tokens_total 3"), std::string::npos);
  EXPECT_NE(m.body.find("mlxr_kv_blocks_free{model=\"stories:latest\"}"), std::string::npos);
  EXPECT_NE(m.body.find("mlxr_http_responses_total{route=\"/api/generate\",code=\"200\"} 1"), std::string::npos) << m.body;
  auto c = get("/api/mlxr/config");
  json cfg = json::parse(c.body);
  EXPECT_EQ(cfg["auth"]["token"], "<redacted>");
  auto p = server::client_request(uds, "PUT", "/api/mlxr/config", json{{"models", {{"keep_alive", "1m"}}}}.dump());
  EXPECT_EQ(p->status, 200) << p->body;
  EXPECT_EQ(json::parse(p->body)["models"]["keep_alive"], "1m");
  p = server::client_request(uds, "PUT", "/api/mlxr/config", json{{"tcp.port", 1}}.dump());
  EXPECT_EQ(p->status, 400);
  EXPECT_NE(p->body.find("tcp.port"), std::string::npos);
  auto l = json::parse(get("/api/mlxr/logs?since=0").body);
  ASSERT_FALSE(l["lines"].empty());
  uint64_t last_seq = l["last_seq"];
  auto l2 = json::parse(get("/api/mlxr/logs?since=" + std::to_string(last_seq)).body);
  EXPECT_TRUE(l2["lines"].empty());
  EXPECT_EQ(get("/api/mlxr/logs?since=abc").status, 400);
  auto h = json::parse(get("/health").body);
  EXPECT_EQ(h["status"], "ok");
}

TEST_F(Api, StaticUiWithSpaFallback) {
  auto r = server::client_request(tcp, "GET", "/", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << "the UI itself needs no token";
  EXPECT_NE(r->body.find("<title>mlxr</title>"), std::string::npos);
  std::string js = raw_tcp("GET /assets/app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(js.find("Content-Type: text/javascript"), std::string::npos) << js;
  EXPECT_NE(js.find("immutable"), std::string::npos);
  EXPECT_NE(get("/models/stories").body.find("<title>mlxr</title>"), std::string::npos) << "client-side route";
  EXPECT_EQ(get("/assets/missing.js").status, 404);
  std::string trav = raw_tcp("GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(trav.find("root:"), std::string::npos);
  trav = raw_tcp("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(trav.find("root:"), std::string::npos);
}

TEST_F(Api, ExpectContinueAndEarly413) {
  std::string body = json{{"model", "stories"}, {"prompt", "x"}, {"raw", true}, {"stream", false}, {"options", {{"num_predict", 1}}}}.dump();
  std::string resp = raw_tcp("POST /api/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                             "\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\n\r\n" + body);
  EXPECT_EQ(resp.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK", 0), 0u) << resp;
  // Declared too large: refused from the headers alone, before any body is sent.
  resp = raw_tcp("POST /api/generate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 999999999\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 413", 0), 0u) << resp;
}
