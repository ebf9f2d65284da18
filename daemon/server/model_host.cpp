#include "daemon/server/model_host.h"

namespace mlxr::server {

using Clock = std::chrono::steady_clock;

Lease::~Lease() {
  if (host_) host_->release(record.name, keep_alive_s_);
}

ModelHost::ModelHost(ModelLoader loader, Resolver resolver, Executor exec)
    : loader_(std::move(loader)), resolver_(std::move(resolver)), exec_(std::move(exec)) {}

void ModelHost::set_spec_defaults(LoadSpec s) {
  std::lock_guard<std::mutex> lk(mu_);
  spec_ = std::move(s);
}
void ModelHost::set_default_keep_alive(double s) {
  std::lock_guard<std::mutex> lk(mu_);
  default_keep_alive_s_ = s;
}
void ModelHost::set_max_loaded(int n) {
  std::lock_guard<std::mutex> lk(mu_);
  max_loaded_ = n;
}
double ModelHost::default_keep_alive() const {
  std::lock_guard<std::mutex> lk(mu_);
  return default_keep_alive_s_;
}

std::shared_ptr<Lease> ModelHost::make_lease(const std::string& name, Entry& e, std::optional<double> ka, double load_ms) {
  auto l = std::make_shared<Lease>();
  l->model = e.model;
  l->record = e.record;
  l->record.name = name;
  l->load_ms = load_ms;
  l->host_ = shared_from_this();
  l->keep_alive_s_ = ka;
  e.active++;
  e.last_used = Clock::now();
  return l;
}

void ModelHost::acquire(const std::string& raw, std::optional<double> ka, Done done) {
  exec_([self = shared_from_this(), raw, ka, done = std::move(done)]() mutable {
    auto rec = self->resolver_(raw);
    if (!rec) return done(make_error(rec.error()));
    std::string name = rec->name;
    std::unique_lock<std::mutex> lk(self->mu_);
    if (self->shut_) {
      lk.unlock();
      return done(make_error("server is shutting down"));
    }
    auto it = self->entries_.find(name);
    if (it != self->entries_.end() && it->second.model && !it->second.unload_requested) {
      auto lease = self->make_lease(name, it->second, ka, 0);
      lk.unlock();
      return done(std::move(lease));
    }
    Entry& e = self->entries_[name];
    e.record = *rec;
    e.waiters.emplace_back(ka, std::move(done));
    if (e.loading) return;  // the load in progress answers this waiter too
    e.loading = true;
    lk.unlock();
    self->load(name);
  });
}

void ModelHost::load(const std::string& name) {
  std::vector<std::shared_ptr<ModelInstance>> dead;
  LoadSpec spec;
  {
    std::lock_guard<std::mutex> lk(mu_);
    // A model still draining (unload requested while in use) is replaced by a fresh load.
    Entry& e = entries_[name];
    if (e.model && e.active == 0) dead.push_back(std::move(e.model));
    e.model.reset();
    e.unload_requested = false;
    // Evict idle models, least recently used first, to make room.
    while (true) {
      int n = 0;
      std::string lru;
      Clock::time_point oldest = Clock::time_point::max();
      for (auto& [k, v] : entries_) {
        if (!v.model) continue;
        ++n;
        if (v.active == 0 && v.last_used < oldest) oldest = v.last_used, lru = k;
      }
      if (n < max_loaded_ || lru.empty()) break;
      unload_locked(lru, dead);
    }
    spec = spec_;
    spec.name = name;
    spec.path = e.record.path;
  }
  for (auto& d : dead) d->shutdown();
  dead.clear();
  auto t0 = Clock::now();
  auto loaded = loader_(spec);
  double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::vector<std::pair<std::optional<double>, Done>> waiters;
  std::vector<std::pair<Done, Expected<std::shared_ptr<Lease>>>> answers;
  {
    std::lock_guard<std::mutex> lk(mu_);
    Entry& e = entries_[name];
    e.loading = false;
    waiters.swap(e.waiters);
    if (!loaded) {
      entries_.erase(name);
      for (auto& w : waiters) answers.emplace_back(std::move(w.second), make_error("loading model '" + name + "' failed: " + loaded.error()));
    } else {
      e.model = std::move(*loaded);
      e.last_used = Clock::now();
      for (auto& w : waiters) answers.emplace_back(std::move(w.second), make_lease(name, e, w.first, load_ms));
    }
  }
  for (auto& [done, r] : answers) done(std::move(r));
}

void ModelHost::release(const std::string& name, std::optional<double> ka) {
  std::vector<std::shared_ptr<ModelInstance>> dead;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    e.active--;
    double s = ka ? *ka : default_keep_alive_s_;
    e.last_used = Clock::now();
    e.forever = s < 0;
    if (!e.forever) e.expires = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(s * 1e6));
    if (e.active == 0 && (e.unload_requested || (!e.forever && s == 0))) unload_locked(name, dead);
  }
  // Shutting a model down joins its worker: do it off any engine callback that may be on it.
  for (auto& d : dead) {
    auto m = d;
    exec_([m] { m->shutdown(); });
  }
}

void ModelHost::unload_locked(const std::string& name, std::vector<std::shared_ptr<ModelInstance>>& dead) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  if (it->second.model) dead.push_back(std::move(it->second.model));
  if (!it->second.loading) entries_.erase(it);
}

bool ModelHost::unload(const std::string& name) {
  std::vector<std::shared_ptr<ModelInstance>> dead;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = entries_.find(name);
    if (it == entries_.end() || !it->second.model) return false;
    if (it->second.active > 0) {
      it->second.unload_requested = true;
      return true;
    }
    unload_locked(name, dead);
  }
  for (auto& d : dead) d->shutdown();
  return true;
}

std::vector<LoadedInfo> ModelHost::loaded() const {
  std::vector<LoadedInfo> out;
  std::lock_guard<std::mutex> lk(mu_);
  auto now_sys = std::chrono::system_clock::now();
  auto now = Clock::now();
  for (auto& [k, e] : entries_) {
    if (!e.model) continue;
    LoadedInfo i;
    i.name = k;
    i.record = e.record;
    i.active = e.active;
    i.forever = e.forever;
    if (e.active > 0) {
      i.expires_at = now_sys + std::chrono::microseconds(static_cast<int64_t>(default_keep_alive_s_ * 1e6));
    } else {
      i.expires_at = now_sys + std::chrono::duration_cast<std::chrono::system_clock::duration>(e.expires - now);
    }
    i.memory_bytes = e.model->memory_bytes();
    i.on_gpu = e.model->on_gpu();
    i.stats = e.model->stats();
    out.push_back(std::move(i));
  }
  return out;
}

void ModelHost::sweep() {
  std::vector<std::shared_ptr<ModelInstance>> dead;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto now = Clock::now();
    std::vector<std::string> expired;
    for (auto& [k, e] : entries_)
      if (e.model && e.active == 0 && !e.forever && !e.loading && e.expires <= now) expired.push_back(k);
    for (auto& k : expired) unload_locked(k, dead);
  }
  for (auto& d : dead) d->shutdown();
}

void ModelHost::shutdown() {
  std::vector<std::shared_ptr<ModelInstance>> all;
  {
    std::lock_guard<std::mutex> lk(mu_);
    shut_ = true;
    for (auto& [k, e] : entries_)
      if (e.model) all.push_back(e.model);
  }
  for (auto& m : all) m->shutdown();
}

}  // namespace mlxr::server
