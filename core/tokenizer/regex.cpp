#include "core/tokenizer/regex.h"

#include <climits>

#include "core/tokenizer/unicode.h"

namespace mlxr {
namespace {

// A predicate on one code point: union of ranges, category bits and nested sets, optionally
// negated, intersected with `also` (from lookaheads inside a repeated group).
struct CharSet {
  bool negate = false;
  bool icase = false;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  uint32_t cats = 0;  // bit i: unicode::Category i
  bool ws = false;    // \s
  std::vector<CharSet> nested;
  std::vector<CharSet> also;

  bool test_raw(uint32_t cp) const {
    for (auto& r : ranges)
      if (cp >= r.first && cp <= r.second) return true;
    if (cats && (cats >> unicode::category(cp)) & 1u) return true;
    if (ws && unicode::is_whitespace(cp)) return true;
    for (auto& n : nested)
      if (n.test(cp)) return true;
    return false;
  }
  bool test(uint32_t cp) const {
    bool in = test_raw(cp);
    if (!in && icase) {
      uint32_t l = unicode::to_lower(cp), u = unicode::to_upper(cp);
      in = (l != cp && test_raw(l)) || (u != cp && test_raw(u));
    }
    if (negate) in = !in;
    if (!in) return false;
    for (auto& a : also)
      if (!a.test(cp)) return false;
    return true;
  }
};

struct Seq;
struct Item {
  enum Kind { kSet, kAlt, kLook, kStart, kEnd } kind = kSet;
  CharSet set;
  int min = 1, max = 1;
  bool greedy = true;
  std::vector<Seq> alts;  // kAlt branches; kLook: alts[0]
  bool negate = false;    // kLook
};
struct Seq {
  std::vector<Item> items;
};

uint32_t cat_bits(std::string_view name, bool& ok) {
  using namespace unicode;
  ok = true;
  auto bit = [](Category c) { return 1u << c; };
  if (name == "L" || name == "Letter") return bit(kLu) | bit(kLl) | bit(kLt) | bit(kLm) | bit(kLo);
  if (name == "N" || name == "Number") return bit(kNd) | bit(kNl) | bit(kNo);
  if (name == "P" || name == "Punctuation")
    return bit(kPc) | bit(kPd) | bit(kPs) | bit(kPe) | bit(kPi) | bit(kPf) | bit(kPo);
  if (name == "S" || name == "Symbol") return bit(kSm) | bit(kSc) | bit(kSk) | bit(kSo);
  if (name == "M" || name == "Mark") return bit(kMn) | bit(kMc) | bit(kMe);
  if (name == "Z") return bit(kZs) | bit(kZl) | bit(kZp);
  if (name == "C") return bit(kCc) | bit(kCf) | bit(kCs) | bit(kCo) | bit(kCn);
  static const char* kNames[] = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl",
                                 "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc",
                                 "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"};
  for (int i = 0; i < 30; ++i)
    if (name == kNames[i]) return 1u << i;
  ok = false;
  return 0;
}

class Parser {
 public:
  explicit Parser(std::string_view p) : cps_(unicode::decode(p)), src_(p) {}

  Expected<Seq> run() {
    Seq s;
    if (!alternation(s, false)) return make_error(err_);
    if (i_ != cps_.size()) return make_error(error("unbalanced ')'"));
    return s;
  }

 private:
  std::string error(const std::string& what) {
    err_ = "regex: " + what + " at position " + std::to_string(i_) + " in /" + std::string(src_) + "/";
    return err_;
  }
  bool fail(const std::string& what) {
    error(what);
    return false;
  }
  bool eof() const { return i_ >= cps_.size(); }
  uint32_t peek() const { return eof() ? 0 : cps_[i_]; }

  // alternation := sequence ('|' sequence)*; a single branch is flattened into `out`.
  bool alternation(Seq& out, bool icase) {
    std::vector<Seq> branches(1);
    while (true) {
      if (!sequence(branches.back(), icase)) return false;
      if (!eof() && peek() == '|') {
        ++i_;
        branches.emplace_back();
        continue;
      }
      break;
    }
    if (branches.size() == 1) {
      out = std::move(branches[0]);
    } else {
      Item it;
      it.kind = Item::kAlt;
      it.alts = std::move(branches);
      out.items.push_back(std::move(it));
    }
    return true;
  }

  bool sequence(Seq& s, bool icase) {
    while (!eof() && peek() != '|' && peek() != ')') {
      Item it;
      if (!atom(it, icase)) return false;
      if (!quantifier(it)) return false;
      s.items.push_back(std::move(it));
    }
    return true;
  }

  bool number(int& v) {
    if (eof() || peek() < '0' || peek() > '9') return false;
    v = 0;
    while (!eof() && peek() >= '0' && peek() <= '9') v = v * 10 + static_cast<int>(cps_[i_++] - '0');
    return true;
  }

  bool quantifier(Item& it) {
    if (eof()) return true;
    int mn, mx;
    uint32_t c = peek();
    if (c == '?') { mn = 0; mx = 1; ++i_; }
    else if (c == '*') { mn = 0; mx = INT_MAX; ++i_; }
    else if (c == '+') { mn = 1; mx = INT_MAX; ++i_; }
    else if (c == '{') {
      size_t save = i_++;
      if (!number(mn)) { i_ = save; return true; }  // a literal '{'
      mx = mn;
      if (!eof() && peek() == ',') {
        ++i_;
        if (!number(mx)) mx = INT_MAX;
      }
      if (eof() || peek() != '}') return fail("unterminated {m,n}");
      ++i_;
    } else {
      return true;
    }
    bool greedy = true;
    if (!eof() && peek() == '?') { greedy = false; ++i_; }
    else if (!eof() && peek() == '+') return fail("possessive quantifiers are not supported");
    if (it.kind == Item::kSet) {
      if (it.min != 1 || it.max != 1) return fail("nested quantifier");
      it.min = mn;
      it.max = mx;
      it.greedy = greedy;
      return true;
    }
    if (it.kind == Item::kAlt && mn == 0 && mx == 1) {
      it.min = 0;
      it.greedy = greedy;
      return true;
    }
    if (it.kind == Item::kAlt && mn == 1 && mx == 1) return true;
    return fail("only single-character items may be repeated (a group here matches more)");
  }

  bool escape_in(CharSet& set, bool icase, bool in_class) {
    // Called after the backslash.
    if (eof()) return fail("trailing backslash");
    uint32_t c = cps_[i_++];
    auto lit = [&](uint32_t v) {
      set.ranges.push_back({v, v});
      return true;
    };
    switch (c) {
      case 'n': return lit('\n');
      case 'r': return lit('\r');
      case 't': return lit('\t');
      case 'f': return lit('\f');
      case 'v': return lit('\v');
      case '0': return lit(0);
      case 's': set.ws = true; return true;
      case 'S': { CharSet n; n.ws = true; n.negate = true; set.nested.push_back(n); return true; }
      case 'd': set.ranges.push_back({'0', '9'}); return true;
      case 'D': { CharSet n; n.ranges.push_back({'0', '9'}); n.negate = true; set.nested.push_back(n); return true; }
      case 'w': case 'W': {
        CharSet n;
        n.ranges = {{'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {'_', '_'}};
        n.negate = c == 'W';
        set.nested.push_back(n);
        return true;
      }
      case 'p': case 'P': {
        std::string name;
        if (!eof() && peek() == '{') {
          ++i_;
          while (!eof() && peek() != '}') name += static_cast<char>(cps_[i_++]);
          if (eof()) return fail("unterminated \\p{...}");
          ++i_;
        } else if (!eof()) {
          name = static_cast<char>(cps_[i_++]);
        }
        bool ok;
        CharSet n;
        n.cats = cat_bits(name, ok);
        if (!ok) return fail("unknown Unicode category \\p{" + name + "}");
        n.negate = c == 'P';
        set.nested.push_back(n);
        return true;
      }
      case 'x': case 'u': {
        uint32_t v = 0;
        int digits = 0;
        bool braces = !eof() && peek() == '{';
        if (braces) ++i_;
        int maxd = braces ? 8 : (c == 'x' ? 2 : 4);
        while (!eof() && digits < maxd) {
          uint32_t h = peek();
          int d = (h >= '0' && h <= '9') ? int(h - '0') : (h >= 'a' && h <= 'f') ? int(h - 'a' + 10)
                 : (h >= 'A' && h <= 'F') ? int(h - 'A' + 10) : -1;
          if (d < 0) break;
          v = v * 16 + d;
          ++digits;
          ++i_;
        }
        if (braces) {
          if (eof() || peek() != '}') return fail("unterminated \\x{...}");
          ++i_;
        }
        if (digits == 0) return fail("invalid hex escape");
        return lit(v);
      }
      default:
        (void)icase;
        (void)in_class;
        return lit(c);  // \. \\ \[ \' ... : the character itself
    }
  }

  bool char_class(CharSet& set, bool icase) {
    // After '['.
    set.icase = icase;
    if (!eof() && peek() == '^') {
      set.negate = true;
      ++i_;
    }
    bool first = true;
    while (true) {
      if (eof()) return fail("unterminated character class");
      uint32_t c = peek();
      if (c == ']' && !first) {
        ++i_;
        return true;
      }
      first = false;
      uint32_t lo;
      if (c == '[') {  // nested class (Oniguruma/JS-v style union)
        ++i_;
        CharSet n;
        if (!char_class(n, icase)) return false;
        set.nested.push_back(std::move(n));
        continue;
      }
      if (c == '\\') {
        ++i_;
        CharSet tmp;
        if (!escape_in(tmp, icase, true)) return false;
        if (tmp.ranges.size() == 1 && tmp.nested.empty() && !tmp.ws && tmp.ranges[0].first == tmp.ranges[0].second) {
          lo = tmp.ranges[0].first;
        } else {
          set.nested.push_back(std::move(tmp));
          continue;
        }
      } else {
        lo = c;
        ++i_;
      }
      // Range a-b (a '-' before ']' is literal).
      if (i_ + 1 < cps_.size() && peek() == '-' && cps_[i_ + 1] != ']') {
        ++i_;
        uint32_t hi;
        if (peek() == '\\') {
          ++i_;
          CharSet tmp;
          if (!escape_in(tmp, icase, true)) return false;
          if (tmp.ranges.size() != 1 || !tmp.nested.empty()) return fail("invalid class range");
          hi = tmp.ranges[0].first;
        } else {
          hi = cps_[i_++];
        }
        if (hi < lo) return fail("class range out of order");
        set.ranges.push_back({lo, hi});
      } else {
        set.ranges.push_back({lo, lo});
      }
    }
  }

  // A group that is one code point wide (lookaheads then one class), e.g. ((?=[\p{L}])([^a-z])),
  // turns into one class so that it can be repeated.
  static bool as_single_char(const Seq& s, CharSet& out) {
    if (s.items.size() == 1 && s.items[0].kind == Item::kAlt && s.items[0].min == 1 &&
        s.items[0].alts.size() > 1) {
      CharSet u;
      for (auto& b : s.items[0].alts) {
        CharSet one;
        if (!as_single_char(b, one)) return false;
        u.nested.push_back(std::move(one));
      }
      out = std::move(u);
      return true;
    }
    CharSet acc;
    bool have = false;
    std::vector<CharSet> conds;
    for (auto& it : s.items) {
      if (it.kind == Item::kLook && !have && !it.negate && it.alts.size() == 1 &&
          it.alts[0].items.size() == 1 && it.alts[0].items[0].kind == Item::kSet &&
          it.alts[0].items[0].min == 1 && it.alts[0].items[0].max == 1) {
        conds.push_back(it.alts[0].items[0].set);
        continue;
      }
      if (it.kind == Item::kSet && it.min == 1 && it.max == 1 && !have) {
        acc = it.set;
        have = true;
        continue;
      }
      if (it.kind == Item::kAlt && it.alts.size() == 1 && it.min == 1 && !have) {
        CharSet inner;
        if (!as_single_char(it.alts[0], inner)) return false;
        acc = inner;
        have = true;
        continue;
      }
      return false;
    }
    if (!have) return false;
    for (auto& c : conds) acc.also.push_back(c);
    out = std::move(acc);
    return true;
  }

  bool atom(Item& it, bool icase) {
    uint32_t c = cps_[i_++];
    switch (c) {
      case '(': {
        bool look = false, neg = false;
        bool inner_icase = icase;
        if (!eof() && peek() == '?') {
          ++i_;
          uint32_t k = eof() ? 0 : cps_[i_++];
          if (k == ':') {
          } else if (k == '=') { look = true; }
          else if (k == '!') { look = true; neg = true; }
          else if (k == 'i' && !eof() && peek() == ':') { ++i_; inner_icase = true; }
          else return fail("unsupported group type (?" + std::string(1, static_cast<char>(k)));
        }
        Seq sub;
        if (!alternation(sub, inner_icase)) return false;
        if (eof() || peek() != ')') return fail("missing ')'");
        ++i_;
        if (look) {
          it.kind = Item::kLook;
          it.negate = neg;
          it.alts.push_back(std::move(sub));
          return true;
        }
        CharSet one;
        if (as_single_char(sub, one)) {
          it.kind = Item::kSet;
          it.set = std::move(one);
          return true;
        }
        it.kind = Item::kAlt;
        if (sub.items.size() == 1 && sub.items[0].kind == Item::kAlt && sub.items[0].min == 1) {
          it.alts = std::move(sub.items[0].alts);
        } else {
          it.alts.push_back(std::move(sub));
        }
        return true;
      }
      case '[':
        it.kind = Item::kSet;
        return char_class(it.set, icase);
      case '.':
        it.kind = Item::kSet;
        it.set.ranges = {{'\n', '\n'}};
        it.set.negate = true;
        return true;
      case '^': it.kind = Item::kStart; return true;
      case '$': it.kind = Item::kEnd; return true;
      case '\\':
        it.kind = Item::kSet;
        it.set.icase = icase;
        return escape_in(it.set, icase, false);
      case '*': case '+': case '?': case '{':
        if (c != '{') return fail("quantifier without an item");
        [[fallthrough]];
      default:
        it.kind = Item::kSet;
        it.set.icase = icase;
        it.set.ranges.push_back({c, c});
        return true;
    }
  }

  std::vector<uint32_t> cps_;
  std::string_view src_;
  size_t i_ = 0;
  std::string err_;
};

struct Cont {
  const Seq* seq;
  size_t idx;
  const Cont* next;
};

struct Matcher {
  const uint32_t* cps;
  size_t begin, end;
  size_t steps = 0;

  bool m(const Seq& s, size_t i, size_t pos, const Cont* k, size_t& out) {
    while (true) {
      if (i == s.items.size()) {
        if (!k) {
          out = pos;
          return true;
        }
        return m(*k->seq, k->idx, pos, k->next, out);
      }
      const Item& it = s.items[i];
      switch (it.kind) {
        case Item::kSet: {
          if (it.min == 1 && it.max == 1) {
            if (pos >= end || !it.set.test(cps[pos])) return false;
            ++pos;
            ++i;
            continue;
          }
          size_t n = 0;
          size_t lim = end - pos;
          if (static_cast<size_t>(it.max) < lim) lim = static_cast<size_t>(it.max);
          while (n < lim && it.set.test(cps[pos + n])) ++n;
          if (n < static_cast<size_t>(it.min)) return false;
          if (it.greedy) {
            for (size_t c = n + 1; c-- > static_cast<size_t>(it.min);)
              if (m(s, i + 1, pos + c, k, out)) return true;
          } else {
            for (size_t c = it.min; c <= n; ++c)
              if (m(s, i + 1, pos + c, k, out)) return true;
          }
          return false;
        }
        case Item::kAlt: {
          Cont kk{&s, i + 1, k};
          if (!it.greedy && it.min == 0 && m(s, i + 1, pos, k, out)) return true;
          for (auto& b : it.alts)
            if (m(b, 0, pos, &kk, out)) return true;
          if (it.greedy && it.min == 0) return m(s, i + 1, pos, k, out);
          return false;
        }
        case Item::kLook: {
          size_t e;
          bool ok = m(it.alts[0], 0, pos, nullptr, e);
          if (ok == it.negate) return false;
          ++i;
          continue;
        }
        case Item::kStart:
          if (pos != begin) return false;
          ++i;
          continue;
        case Item::kEnd:
          if (pos != end) return false;
          ++i;
          continue;
      }
    }
  }
};

}  // namespace

struct Regex::Impl {
  Seq root;
};

Regex::~Regex() = default;

Expected<std::shared_ptr<const Regex>> Regex::compile(std::string_view pattern) {
  Parser p(pattern);
  auto seq = p.run();
  if (!seq) return make_error(seq.error());
  std::shared_ptr<Regex> r(new Regex());
  r->pattern_ = std::string(pattern);
  r->impl_ = std::make_unique<Impl>();
  r->impl_->root = std::move(*seq);
  return std::shared_ptr<const Regex>(r);
}

size_t Regex::match_at(const uint32_t* cps, size_t pos, size_t end) const {
  Matcher mt{cps, pos, end};
  size_t out;
  return mt.m(impl_->root, 0, pos, nullptr, out) ? out : SIZE_MAX;
}

bool Regex::search(const uint32_t* cps, size_t begin, size_t from, size_t end, size_t& mbegin,
                   size_t& mend) const {
  Matcher mt{cps, begin, end};
  for (size_t p = from; p <= end; ++p) {
    size_t out;
    if (mt.m(impl_->root, 0, p, nullptr, out)) {
      mbegin = p;
      mend = out;
      return true;
    }
  }
  return false;
}

}  // namespace mlxr
