// Leases on blobs that clients hold open or that a running pull is about to hand out. A blob with
// a lease is never removed: garbage collection and `remove` ask is_leased() first (DESIGN.md
// invariant 4). A lease names a blob by its SHA-256 or, while a pull does not yet have the
// SHA-256 of a small git-stored file, by its git object id.
//
// Thread safety: use on the I/O thread only.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>

namespace timmd::server {

class LeaseTable;

// One client's hold on one blob; releasing is destroying it. Sessions keep their leases until
// the client releases them or disconnects, which is also what happens when the client dies.
class Lease {
public:
  Lease() = default;
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  const std::string& sha256() const noexcept { return m_sha256; }

private:
  friend class LeaseTable;
  Lease(std::weak_ptr<LeaseTable*> table, std::string sha256);
  void release();

  std::weak_ptr<LeaseTable*> m_table;
  std::string m_sha256;
};

class LeaseTable {
public:
  LeaseTable();
  LeaseTable(const LeaseTable&) = delete;
  LeaseTable& operator=(const LeaseTable&) = delete;

  Lease acquire(const std::string& name);
  bool is_leased(const std::string& sha256) const { return m_counts.contains(sha256); }
  // True when a lease names the blob by either of its names; git_oid may be empty.
  bool is_leased(const std::string& sha256, const std::string& git_oid) const {
    return is_leased(sha256) || (!git_oid.empty() && is_leased(git_oid));
  }
  // Leases held, counting each client's hold on each blob once.
  std::size_t count() const noexcept { return m_total; }

private:
  friend class Lease;
  void release(const std::string& sha256);

  std::map<std::string, std::size_t> m_counts;
  std::size_t m_total = 0;
  // Leases outliving the table (a session destroyed after the server) release nothing.
  std::shared_ptr<LeaseTable*> m_self;
};

} // namespace timmd::server
