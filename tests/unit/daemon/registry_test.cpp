#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "daemon/registry/registry.h"
#include "daemon/registry/sha256.h"
#include "file_server.h"
#include "tests/support/test_data.h"

using namespace mlxr;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path p;
  TempDir() {
    p = fs::temp_directory_path() / ("mlxr-reg-" + std::to_string(::getpid()) + "-" + std::to_string(rand()));
    fs::create_directories(p);
  }
  ~TempDir() { fs::remove_all(p); }
};

const char* kGguf = "stories260K/stories260K-f32.gguf";

}  // namespace

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(registry::sha256_string(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(registry::sha256_string("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Registry, ImportListFindCopyRemove) {
  MLXR_REQUIRE_DATA(kGguf);
  TempDir d;
  auto reg = registry::Registry::open(d.p.string());
  ASSERT_TRUE(reg) << reg.error();
  auto& r = **reg;
  auto rec = r.import_path(mlxr::testing::data_path(kGguf), "Stories", {});
  ASSERT_TRUE(rec) << rec.error();
  EXPECT_EQ(rec->name, "stories:latest");
  EXPECT_EQ(rec->format, "gguf");
  EXPECT_EQ(rec->arch, "llama");
  EXPECT_EQ(rec->quant, "F32");
  EXPECT_GT(rec->n_params, 200000);
  EXPECT_LT(rec->n_params, 300000);
  EXPECT_EQ(rec->sha256, *registry::sha256_file(mlxr::testing::data_path(kGguf)));
  EXPECT_FALSE(r.import_path(mlxr::testing::data_path(kGguf), "stories", {})) << "duplicate names are refused";
  ASSERT_TRUE(r.copy("stories", "copy:v1").is_ok());
  auto l = r.list();
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].name, "copy:v1");
  ASSERT_TRUE(r.remove("stories").is_ok());
  EXPECT_TRUE(fs::exists(mlxr::testing::data_path(kGguf))) << "imported files are not owned: never deleted";
  EXPECT_FALSE(r.remove("stories").is_ok());
  auto f = r.find("copy:v1");
  ASSERT_TRUE(f && *f);
  EXPECT_FALSE(r.import_path("/nonexistent/x.gguf", "x", {}));
  EXPECT_FALSE(r.import_path(mlxr::testing::data_path("stories260K/README.md"), "readme", {})) << "not a model";
}

TEST(Registry, PullVerifiesAndRegisters) {
  MLXR_REQUIRE_DATA(kGguf);
  TempDir d;
  test::FileServer srv;
  std::string bytes = test::read_file(mlxr::testing::data_path(kGguf));
  std::string sha = registry::sha256_string(bytes);
  srv.files["/org/repo/resolve/main/stories.gguf"] = bytes;
  srv.etags["/org/repo/resolve/main/stories.gguf"] = sha;
  srv.redirects["/hop/stories.gguf"] = "/org/repo/resolve/main/stories.gguf";
  auto reg = registry::Registry::open(d.p.string());
  ASSERT_TRUE(reg);
  registry::PullOptions po;
  po.url = "org/repo/stories.gguf";  // Hugging Face style, resolved against hf_endpoint
  po.hf_endpoint = srv.url("");
  std::vector<std::string> statuses;
  uint64_t last_completed = 0;
  auto rec = (*reg)->pull(po, [&](const registry::PullProgress& p) {
    if (statuses.empty() || statuses.back() != p.status) statuses.push_back(p.status);
    if (p.status == "downloading") last_completed = p.completed;
  });
  ASSERT_TRUE(rec) << rec.error();
  EXPECT_EQ(rec->name, "stories:latest");
  EXPECT_EQ(rec->sha256, sha);
  EXPECT_TRUE(rec->owned);
  EXPECT_EQ(test::read_file(rec->path), bytes);
  EXPECT_EQ(last_completed, bytes.size());
  EXPECT_EQ(statuses.front(), "pulling manifest");
  EXPECT_EQ(statuses.back(), "success");
  // Through a redirect, under another name, with an explicit digest.
  po.url = srv.url("/hop/stories.gguf");
  po.name = "again";
  po.sha256 = sha;
  ASSERT_TRUE((*reg)->pull(po, nullptr)) << "redirect";
  // Deleting the last owner of a blob removes the blob.
  std::string blob = rec->path;
  ASSERT_TRUE((*reg)->remove("stories").is_ok());
  EXPECT_TRUE(fs::exists(blob)) << "still used by 'again'";
  ASSERT_TRUE((*reg)->remove("again").is_ok());
  EXPECT_FALSE(fs::exists(blob));
}

TEST(Registry, PullRejectsWrongDigestAndRegistersNothing) {
  MLXR_REQUIRE_DATA(kGguf);
  TempDir d;
  test::FileServer srv;
  srv.files["/m.gguf"] = test::read_file(mlxr::testing::data_path(kGguf));
  auto reg = registry::Registry::open(d.p.string());
  registry::PullOptions po;
  po.url = srv.url("/m.gguf");
  po.sha256 = std::string(64, 'a');
  auto rec = (*reg)->pull(po, nullptr);
  ASSERT_FALSE(rec);
  EXPECT_NE(rec.error().find("sha256 mismatch"), std::string::npos) << rec.error();
  EXPECT_TRUE((*reg)->list()->empty());
  po.sha256 = "xyz";
  EXPECT_FALSE((*reg)->pull(po, nullptr));
  po.sha256 = "";
  po.url = srv.url("/missing.gguf");
  auto miss = (*reg)->pull(po, nullptr);
  ASSERT_FALSE(miss);
  EXPECT_NE(miss.error().find("404"), std::string::npos) << miss.error();
}

TEST(Registry, PullResumesAfterABrokenConnection) {
  MLXR_REQUIRE_DATA(kGguf);
  TempDir d;
  test::FileServer srv;
  std::string bytes = test::read_file(mlxr::testing::data_path(kGguf));
  srv.files["/big.gguf"] = bytes;
  auto reg = registry::Registry::open(d.p.string());
  registry::PullOptions po;
  po.url = srv.url("/big.gguf");
  po.sha256 = registry::sha256_string(bytes);
  srv.cut_after = static_cast<long long>(bytes.size() / 3);
  auto first = (*reg)->pull(po, nullptr);
  ASSERT_FALSE(first) << "the connection was cut";
  EXPECT_NE(first.error().find("resume"), std::string::npos) << first.error();
  EXPECT_TRUE((*reg)->list()->empty()) << "no half-registered model";
  srv.cut_after = -1;
  auto second = (*reg)->pull(po, nullptr);
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(srv.range_requests.load(), 1) << "the second pull asked for the rest only";
  EXPECT_EQ(test::read_file(second->path), bytes);
}

TEST(Registry, RepairRemovesDanglingRowsAndOrphans) {
  MLXR_REQUIRE_DATA(kGguf);
  TempDir d;
  fs::path copy = d.p / "mine.gguf";
  fs::copy_file(mlxr::testing::data_path(kGguf), copy);
  {
    auto reg = registry::Registry::open((d.p / "models").string());
    ASSERT_TRUE((*reg)->import_path(copy.string(), "mine", {}));
  }
  fs::remove(copy);
  std::ofstream((d.p / "models/blobs/sha256-deadbeef")) << "orphan";
  std::ofstream((d.p / "models/blobs/partial-0123")) << "stale";
  auto reg = registry::Registry::open((d.p / "models").string());
  auto fixed = (*reg)->check_and_repair();
  ASSERT_TRUE(fixed);
  EXPECT_EQ(fixed->size(), 3u);
  EXPECT_TRUE((*reg)->list()->empty());
  EXPECT_FALSE(fs::exists(d.p / "models/blobs/sha256-deadbeef"));
}

TEST(Registry, ResolveUrl) {
  EXPECT_EQ(*registry::Registry::resolve_url("TheBloke/X-GGUF/x.Q4_K_M.gguf", "https://huggingface.co"),
            "https://huggingface.co/TheBloke/X-GGUF/resolve/main/x.Q4_K_M.gguf");
  EXPECT_EQ(*registry::Registry::resolve_url("hf.co/a/b/sub/f.gguf@v2", "http://h:1/"), "http://h:1/a/b/resolve/v2/sub/f.gguf");
  EXPECT_FALSE(registry::Registry::resolve_url("llama3", "https://huggingface.co"));
  EXPECT_FALSE(registry::Registry::resolve_url("a/b/../../etc/passwd", "https://huggingface.co"));
}

TEST(Registry, QuantLabelFromGgufFileType) {
  MLXR_REQUIRE_DATA("stories260K/stories260K-Q4_K_M.gguf");
  TempDir d;
  auto reg = registry::Registry::open(d.p.string());
  for (const char* q : {"Q2_K", "Q4_K_M", "Q6_K"}) {
    std::string f = mlxr::testing::data_path(std::string("stories260K/stories260K-") + q + ".gguf");
    auto rec = (*reg)->import_path(f, std::string("s-") + q, {});
    ASSERT_TRUE(rec) << rec.error();
    EXPECT_EQ(rec->quant, q);
  }
}

TEST(Registry, ImportsASafetensorsDirectoryInPlace) {
  MLXR_REQUIRE_DATA("hf-tiny/llama/config.json");
  TempDir d;
  auto reg = registry::Registry::open(d.p.string());
  std::string dir = mlxr::testing::data_path("hf-tiny/llama");
  auto rec = (*reg)->import_path(dir, "tiny-llama", {});
  ASSERT_TRUE(rec) << rec.error();
  EXPECT_EQ(rec->format, "safetensors");
  EXPECT_EQ(rec->arch, "llama");
  EXPECT_FALSE(rec->owned);
  int64_t total = 0;
  for (auto& e : fs::directory_iterator(dir)) total += static_cast<int64_t>(e.file_size());
  EXPECT_EQ(rec->size, total);
  EXPECT_TRUE(registry::is_sha256_hex(rec->sha256));
  // The digest changes when any file does: re-import of a copy with one byte changed differs.
  fs::path copy = d.p / "copy";
  fs::copy(dir, copy);
  { std::ofstream(copy / "generation_config.json", std::ios::app) << " "; }
  auto rec2 = (*reg)->import_path(copy.string(), "tiny-llama-2", {});
  ASSERT_TRUE(rec2) << rec2.error();
  EXPECT_NE(rec2->sha256, rec->sha256);
}
