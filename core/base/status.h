// Errors as values: Status for "ok or message", Expected<T> for "value or message".
// Messages are written for the user: prefix with the component ("gguf: ...") and name the
// path/offset/key that is wrong.
#pragma once
#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace mlxr {

struct Error {
  std::string message;
};

inline Error make_error(std::string message) { return Error{std::move(message)}; }

class Status {
 public:
  Status() = default;
  Status(Error e) : failed_(true), message_(std::move(e.message)) {}
  static Status ok() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.message_ = std::move(message);
    s.failed_ = true;
    return s;
  }
  bool is_ok() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const std::string& message() const { return message_; }
  const Status& status() const { return *this; }

 private:
  bool failed_ = false;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Error e) : v_(std::move(e)) {}
  Expected(const Status& s) : v_(Error{s.message()}) { assert(!s.is_ok()); }

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const std::string& error() const { return std::get<1>(v_).message; }
  Status status() const { return has_value() ? Status::ok() : Status::error(error()); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace mlxr

// Propagate an error from an Expected/Status-returning call.
#define MLXR_CONCAT_INNER(a, b) a##b
#define MLXR_CONCAT(a, b) MLXR_CONCAT_INNER(a, b)
#define MLXR_RETURN_IF_ERROR(expr)                                     \
  do {                                                                 \
    auto _st = (expr);                                                 \
    if (!_st) return ::mlxr::make_error(std::string(_st.status().message())); \
  } while (0)
#define MLXR_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp) return ::mlxr::make_error(tmp.error()); \
  lhs = std::move(tmp).value()
#define MLXR_ASSIGN_OR_RETURN(lhs, expr) \
  MLXR_ASSIGN_OR_RETURN_IMPL(MLXR_CONCAT(_exp_, __LINE__), lhs, expr)
