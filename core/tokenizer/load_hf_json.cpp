// HF tokenizers' tokenizer.json: model (BPE or WordPiece), normalizer, pre_tokenizer,
// post_processor and added_tokens, plus tokenizer_config.json for BOS/EOS and the template.
#include <algorithm>

#include "core/base/json.h"
#include "core/tokenizer/loaders.h"
#include "core/tokenizer/pretokenize.h"

namespace mlxr {
namespace {

struct Ctx {
  std::string where;
  std::vector<std::string> patterns;
  std::vector<PreTokenizer::Behavior> behaviors;
};

std::string token_content(const Json* j) {
  if (!j) return "";
  if (j->is_string()) return j->as_string();
  if (j->is_object()) return j->get_string("content");
  return "";
}

Status read_normalizer(const Json& n, Vocab& v, Ctx& c) {
  if (n.is_null()) return Status::ok();
  std::string type = n.get_string("type");
  if (type == "Sequence") {
    if (const Json* list = n.find("normalizers"))
      for (auto& e : list->as_array()) MLXR_RETURN_IF_ERROR(read_normalizer(e, v, c));
    return Status::ok();
  }
  if (type == "NFC") {
    v.normalize_nfc = true;
    return Status::ok();
  }
  if (type == "Prepend" && n.get_string("prepend") == "\xE2\x96\x81") {
    v.add_space_prefix = true;
    return Status::ok();
  }
  if (type == "Replace") {
    const Json* pat = n.find("pattern");
    if (pat && pat->get_string("String") == " " && n.get_string("content") == "\xE2\x96\x81") {
      v.spm_escape = true;
      return Status::ok();
    }
  }
  if (type == "BertNormalizer") {
    v.wordpiece_lowercase = n.get_bool("lowercase", true);
    return Status::ok();
  }
  return Status::error(c.where + "normalizer '" + type + "' (" + n.dump().substr(0, 120) +
                       ") is not supported");
}

Status read_pre(const Json& p, Vocab& v, Ctx& c) {
  if (p.is_null()) return Status::ok();
  std::string type = p.get_string("type");
  if (type == "Sequence") {
    if (const Json* list = p.find("pretokenizers"))
      for (auto& e : list->as_array()) MLXR_RETURN_IF_ERROR(read_pre(e, v, c));
    return Status::ok();
  }
  if (type == "Split") {
    std::string behavior = p.get_string("behavior", "Isolated");
    using B = PreTokenizer::Behavior;
    B b;
    if (behavior == "Isolated") b = B::kIsolated;
    else if (behavior == "Removed") b = B::kRemoved;
    else if (behavior == "MergedWithPrevious") b = B::kMergedWithPrevious;
    else if (behavior == "MergedWithNext") b = B::kMergedWithNext;
    else
      return Status::error(c.where + "Split pre-tokenizer with behavior '" + behavior +
                           "' is not supported (Isolated, Removed, MergedWithPrevious, MergedWithNext)");
    if (p.get_bool("invert", false))
      return Status::error(c.where + "Split pre-tokenizer with invert=true is not supported");
    c.behaviors.resize(c.patterns.size(), B::kIsolated);
    c.behaviors.push_back(b);
    const Json* pat = p.find("pattern");
    if (!pat) return Status::error(c.where + "Split pre-tokenizer without a pattern");
    if (const Json* re = pat->find("Regex")) {
      c.patterns.push_back(re->as_string());
    } else if (const Json* s = pat->find("String")) {
      // A literal string: escape it for the regex engine.
      std::string esc;
      for (char ch : s->as_string()) {
        if (std::string_view("\\^$.|?*+()[]{}").find(ch) != std::string_view::npos) esc += '\\';
        esc += ch;
      }
      c.patterns.push_back(esc);
    }
    return Status::ok();
  }
  if (type == "ByteLevel") {
    v.byte_level = true;
    if (p.get_bool("add_prefix_space", false))
      return Status::error(c.where + "ByteLevel pre-tokenizer with add_prefix_space=true is not supported");
    if (p.get_bool("use_regex", true)) c.patterns.push_back(kGpt2Pattern);
    return Status::ok();
  }
  if (type == "Digits") {
    c.patterns.push_back(p.get_bool("individual_digits", false) ? "\\p{N}" : "\\p{N}+");
    return Status::ok();
  }
  if (type == "Metaspace") {
    v.spm_escape = true;
    std::string scheme = p.get_string("prepend_scheme", p.get_bool("add_prefix_space", true) ? "always" : "never");
    v.add_space_prefix = scheme != "never";
    if (p.get_bool("split", true)) c.patterns.push_back("\xE2\x96\x81[^\xE2\x96\x81]*|[^\xE2\x96\x81]+");
    return Status::ok();
  }
  if (type == "BertPreTokenizer") {
    v.pre = PreTokenizer::bert();
    return Status::ok();
  }
  return Status::error(c.where + "pre-tokenizer '" + type + "' is not supported");
}

void read_post(const Json& p, Vocab& v, const std::unordered_map<std::string, int32_t>& ids) {
  if (p.is_null()) return;
  std::string type = p.get_string("type");
  if (type == "Sequence") {
    if (const Json* list = p.find("processors"))
      for (auto& e : list->as_array()) read_post(e, v, ids);
    return;
  }
  if (type == "TemplateProcessing") {
    const Json* single = p.find("single");
    if (!single || !single->is_array() || single->as_array().empty()) return;
    auto special_id = [&](const Json& item) -> int32_t {
      const Json* st = item.find("SpecialToken");
      if (!st) return -1;
      std::string name = st->get_string("id");
      if (const Json* sp = p.find("special_tokens"))
        if (const Json* e = sp->find(name))
          if (const Json* idl = e->find("ids"))
            if (!idl->as_array().empty()) return static_cast<int32_t>(idl->as_array()[0].as_int());
      auto it = ids.find(name);
      return it == ids.end() ? -1 : it->second;
    };
    const auto& arr = single->as_array();
    int32_t first = special_id(arr.front());
    int32_t last = arr.size() > 1 ? special_id(arr.back()) : -1;
    if (first >= 0) {
      v.add_bos = true;
      v.bos = first;
    }
    if (last >= 0) {
      v.add_eos = true;
      v.eos = last;
    }
    return;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    if (const Json* cls = p.find("cls"))
      if (cls->is_array() && cls->as_array().size() == 2) v.cls = static_cast<int32_t>(cls->as_array()[1].as_int());
    if (const Json* sep = p.find("sep"))
      if (sep->is_array() && sep->as_array().size() == 2) v.sep = static_cast<int32_t>(sep->as_array()[1].as_int());
  }
}

}  // namespace

Expected<Vocab> load_hf_json_vocab(const std::string& path, const std::string& config_path) {
  Ctx c;
  c.where = "tokenizer: " + path + ": ";
  MLXR_ASSIGN_OR_RETURN(std::string text, read_file_bytes(path));
  auto parsed = Json::parse(text);
  if (!parsed) return make_error(c.where + parsed.error());
  const Json& root = *parsed;
  const Json* model = root.find("model");
  if (!model) return make_error(c.where + "no \"model\" section (not a tokenizer.json?)");
  std::string mtype = model->get_string("type");
  if (mtype.empty() && model->find("merges")) mtype = "BPE";

  Vocab v;
  if (mtype == "BPE") v.kind = VocabKind::kBpe;
  else if (mtype == "WordPiece") v.kind = VocabKind::kWordPiece;
  else return make_error(c.where + "model type '" + mtype + "' is not supported (BPE, WordPiece)");

  // Token texts by id: the model vocab plus added tokens (which may extend it).
  const Json* vocab = model->find("vocab");
  if (!vocab || !vocab->is_object()) return make_error(c.where + "model.vocab is missing");
  int64_t max_id = -1;
  for (auto& [tok, id] : vocab->as_object()) max_id = std::max(max_id, id.as_int());
  const Json* added = root.find("added_tokens");
  if (added)
    for (auto& a : added->as_array()) max_id = std::max(max_id, a.get_int("id", -1));
  if (max_id < 0 || max_id > (1 << 24)) return make_error(c.where + "vocabulary is empty or has absurd ids");
  v.text.assign(max_id + 1, "");
  v.type.assign(max_id + 1, TokenType::kUnused);
  for (auto& [tok, id] : vocab->as_object()) {
    int64_t i = id.as_int();
    if (i < 0) return make_error(c.where + "negative id for token '" + tok + "'");
    v.text[i] = tok;
    v.type[i] = TokenType::kNormal;
  }
  std::unordered_map<std::string, int32_t> ids;
  ids.reserve(v.text.size() * 2);
  for (size_t i = 0; i < v.text.size(); ++i)
    if (v.type[i] != TokenType::kUnused) ids.emplace(v.text[i], static_cast<int32_t>(i));

  std::string unk = model->get_string("unk_token");
  if (!unk.empty()) {
    auto it = ids.find(unk);
    if (it != ids.end()) v.unk = it->second;
  }
  if (v.kind == VocabKind::kBpe) {
    v.byte_fallback = model->get_bool("byte_fallback", false);
    v.ignore_merges = model->get_bool("ignore_merges", false);
    if (v.byte_fallback)
      for (size_t i = 0; i < v.text.size(); ++i) {
        const std::string& t = v.text[i];
        if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') v.type[i] = TokenType::kByte;
      }
    const Json* merges = model->find("merges");
    if (!merges) return make_error(c.where + "BPE model without merges");
    int32_t rank = 0;
    for (auto& m : merges->as_array()) {
      std::string a, b;
      if (m.is_string()) {
        const std::string& s = m.as_string();
        size_t sp = s.find(' ');
        if (sp == std::string::npos) return make_error(c.where + "merge '" + s + "' has no space");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.as_array().size() == 2) {
        a = m.as_array()[0].as_string();
        b = m.as_array()[1].as_string();
      } else {
        return make_error(c.where + "merge #" + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
      }
      auto ia = ids.find(a), ib = ids.find(b), ir = ids.find(a + b);
      if (ia != ids.end() && ib != ids.end() && ir != ids.end()) v.add_merge(ia->second, ib->second, rank, ir->second);
      ++rank;
    }
  }
  if (added) {
    for (auto& a : added->as_array()) {
      int64_t id = a.get_int("id", -1);
      if (id < 0) continue;
      v.text[id] = a.get_string("content");
      v.type[id] = a.get_bool("special", false) ? TokenType::kControl : TokenType::kUserDefined;
      if (id == v.unk) v.type[id] = TokenType::kUnknown;
      ids[v.text[id]] = static_cast<int32_t>(id);
    }
    v.strip_flags.assign(v.text.size(), 0);
    for (auto& a : added->as_array()) {
      int64_t id = a.get_int("id", -1);
      if (id < 0) continue;
      v.strip_flags[id] = (a.get_bool("lstrip", false) ? 1 : 0) | (a.get_bool("rstrip", false) ? 2 : 0);
    }
  }

  v.index.clear();  // built by finalize() from the final texts
  if (const Json* n = root.find("normalizer")) MLXR_RETURN_IF_ERROR(read_normalizer(*n, v, c));
  if (const Json* p = root.find("pre_tokenizer")) MLXR_RETURN_IF_ERROR(read_pre(*p, v, c));
  if (const Json* d = root.find("decoder"))
    if (d->get_string("type") == "ByteLevel") v.byte_level = true;
  if (v.kind == VocabKind::kWordPiece) {
    v.pre = PreTokenizer::bert();
    v.cls = ids.count("[CLS]") ? ids["[CLS]"] : -1;
    v.sep = ids.count("[SEP]") ? ids["[SEP]"] : -1;
  } else if (v.pre.mode != PreTokenizer::Mode::kBert) {
    if (c.patterns.empty()) {
      v.pre.mode = PreTokenizer::Mode::kNone;
    } else {
      c.behaviors.resize(c.patterns.size(), PreTokenizer::Behavior::kIsolated);
      MLXR_ASSIGN_OR_RETURN(v.pre, PreTokenizer::from_patterns(c.patterns, true, c.behaviors));
    }
  }
  v.pre_name = "tokenizer.json";
  if (const Json* p = root.find("post_processor")) read_post(*p, v, ids);

  if (!config_path.empty()) {
    MLXR_ASSIGN_OR_RETURN(std::string ctext, read_file_bytes(config_path));
    auto cfg = Json::parse(ctext);
    if (!cfg) return make_error("tokenizer: " + config_path + ": " + cfg.error());
    auto lookup = [&](const char* key, int32_t& dst) {
      std::string s = token_content(cfg->find(key));
      if (s.empty()) return;
      auto it = ids.find(s);
      if (it != ids.end()) dst = it->second;
    };
    lookup("bos_token", v.bos);
    lookup("eos_token", v.eos);
    lookup("unk_token", v.unk);
    lookup("pad_token", v.pad);
    v.clean_up_spaces = cfg->get_bool("clean_up_tokenization_spaces", false);
    if (const Json* t = cfg->find("chat_template")) {
      if (t->is_string()) {
        v.chat_template = t->as_string();
      } else if (t->is_array()) {  // [{name, template}, ...]: the "default" one
        for (auto& e : t->as_array())
          if (e.get_string("name") == "default") v.chat_template = e.get_string("template");
        if (v.chat_template.empty() && !t->as_array().empty())
          v.chat_template = t->as_array()[0].get_string("template");
      }
    }
  }
  return v;
}

}  // namespace mlxr
