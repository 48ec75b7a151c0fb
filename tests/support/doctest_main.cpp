// The main of every doctest binary. It adds a listener that repeats each failed test case, with
// its first failure, after the run. The integration tests log a lot, and CI keeps only the head
// and tail of a failing run's output, so an inline doctest report can be cut away.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <mutex>
#include <ostream>
#include <string>
#include <vector>

namespace {

class FailureSummary : public doctest::IReporter {
public:
  explicit FailureSummary(const doctest::ContextOptions& options) : out_(*options.cout) {}

  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}

  void test_run_end(const doctest::TestRunStats&) override {
    if (failures_.empty()) {
      return;
    }
    out_ << "\n[failure summary] " << failures_.size() << " test case(s) failed:\n";
    for (const auto& failure : failures_) {
      out_ << "  " << failure << '\n';
    }
    out_.flush();
  }

  void test_case_start(const doctest::TestCaseData& test) override {
    current_ = &test;
    first_failure_.clear();
  }

  void test_case_reenter(const doctest::TestCaseData&) override {}

  void test_case_end(const doctest::CurrentTestCaseStats& stats) override {
    if (stats.testCaseSuccess || current_ == nullptr) {
      return;
    }
    std::string line =
        std::string(current_->m_file.c_str()) + ':' + std::to_string(current_->m_line) + " \"" + current_->m_name + '"';
    if (!first_failure_.empty()) {
      line += ": " + first_failure_;
    }
    failures_.push_back(std::move(line));
  }

  void test_case_exception(const doctest::TestCaseException& exception) override {
    remember(std::string(exception.is_crash ? "crashed: " : "threw: ") + exception.error_string.c_str());
  }

  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}

  // Assertions may fail on several threads at once, hence the lock in remember().
  void log_assert(const doctest::AssertData& assertion) override {
    if (!assertion.m_failed) {
      return;
    }
    std::string text = std::string("line ") + std::to_string(assertion.m_line) + ": " + assertion.m_expr;
    if (assertion.m_threw) {
      text += " threw " + std::string(assertion.m_exception.c_str());
    } else if (assertion.m_decomp.size() != 0) {
      text += " is " + std::string(assertion.m_decomp.c_str());
    }
    remember(text);
  }

  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}

private:
  void remember(std::string text) {
    const std::lock_guard lock(mutex_);
    if (first_failure_.empty()) {
      first_failure_ = std::move(text);
    }
  }

  std::ostream& out_;
  std::mutex mutex_;
  const doctest::TestCaseData* current_ = nullptr;
  std::string first_failure_;
  std::vector<std::string> failures_;
};

} // namespace

DOCTEST_REGISTER_LISTENER("failure_summary", 1, FailureSummary);
