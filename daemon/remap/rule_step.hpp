// The steps of a remap rule file, parsed and validated. The JSON spelling of each kind is in
// docs/remap-rules.md; REMAP.md's kind numbers (K1...) are given where a step implements one.
#pragma once

#include "daemon/remap/python_regex.hpp"
#include "daemon/remap/resample.hpp"
#include "daemon/tensors/dtype.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace timmd::remap {

// A guard on the state dict being remapped, the target manifest, or the model's arguments.
struct Condition {
  enum class Kind { has_key, has_match, target_has, model_arg, all, any, negation };
  Kind kind = Kind::has_key;
  std::string key;                      // has_key, target_has, model_arg
  std::optional<PythonRegex> regex;     // has_match
  std::vector<Condition> children;      // all, any, negation (one child)
};

// One extent of a `zeros` shape: a literal, or dimension `dim` of another tensor.
struct ExtentSpec {
  std::optional<std::uint64_t> literal;
  std::string of;
  std::size_t dim = 0;
};

struct Step {
  enum class Kind {
    unwrap,          // K1: strip a prefix every key shares
    take_prefix,     // K3b: keep keys under a prefix, strip it
    add_prefix,      // K3c
    replace,         // K3a: literal str.replace of every occurrence
    rename,          // K4: re.sub with Python templates and integer expressions
    drop,            // K5a
    reshape,         // K6: literal shape (-1 allowed) or the manifest's shape
    unsqueeze,       // K6: a new dimension of extent 1
    flatten,         // K6: dimensions from `dim` on merged into one (torch.flatten)
    unstack,         // K19: a scan-stacked array split into one tensor per index of `dim`
    permute,         // K7
    split,           // K8
    concat,          // K9
    slice,           // K10
    resize_pos_embed,     // K11
    resize_rel_pos_table, // K12
    zeros,           // K14: a new tensor
    add,             // K14: key += slice of another tensor
    map,             // K14: elementwise unary function, then * mul + add
    branch,          // K2: `if` with then/else steps
  };
  Kind kind = Kind::drop;
  std::string where; // "rules/vit.json step 3 (rename)", for error messages

  std::optional<Condition> when;
  std::optional<PythonRegex> pattern; // keys the step applies to (re.search), when it takes one
  std::vector<std::string> keys;      // exact keys, for drop
  std::vector<std::string> prefixes;  // unwrap
  std::string prefix;                 // take_prefix, add_prefix
  std::string from;                   // replace
  std::string to;                     // replace, rename, concat (template)
  int count = 0;                      // rename: 0 = every match
  std::vector<std::int64_t> shape;    // reshape; empty with shape_from_target
  bool shape_from_target = false;
  std::vector<std::size_t> dims;      // permute
  std::size_t dim = 0;                // split, concat, slice, add (slice of `other`)
  std::vector<std::string> into;      // split: one template per chunk; "" discards the chunk
  std::vector<std::string> parts;     // concat: templates of the tensors to join, in order
  std::int64_t start = 0;             // slice
  std::optional<std::int64_t> end;
  std::string key;                    // resize_pos_embed, zeros, add
  std::string other;                  // add
  std::optional<std::int64_t> other_start;
  std::optional<std::int64_t> other_end;
  std::string patch_key;              // resize_pos_embed, resize_rel_pos_table: the patch embedding kernel
  std::vector<std::string> prefix_token_keys; // resize_pos_embed: tensors whose tokens are prefix rows
  std::optional<std::uint64_t> prefix_tokens; // resize_pos_embed: a fixed count instead
  std::string no_embed_class_arg;     // model arg that, when true, sets the prefix count to 0
  Interpolation interpolation = Interpolation::bicubic;
  bool antialias = true;
  std::vector<ExtentSpec> zeros_shape;
  tensors::Dtype dtype = tensors::Dtype::f32; // zeros
  std::string function;               // map: identity, abs, neg, log, exp, reciprocal
  float mul = 1.0F;
  float offset = 0.0F;
  std::vector<Step> then_steps;       // branch
  std::vector<Step> else_steps;
};

} // namespace timmd::remap
