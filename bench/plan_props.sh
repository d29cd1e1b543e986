#!/usr/bin/env bash
# The long run of the plan property test (issue 10): PROPTEST_CASES generated plans (default
# 200 000) through the parser, the limits check and the run's pure preparation, in a release
# build; prints how many were tried and accepted. `cargo test` runs the same test with 256.
#
#   bench/plan_props.sh                 # 200 000 cases (~6 min on 2 cores in debug, less in release)
#   CASES=20000 bench/plan_props.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROPTEST_CASES=${CASES:-200000} cargo test --release --locked --lib \
    engine::plan_props::generated_plans_parse_within_limits_and_prepare -- --nocapture 2>&1 |
    grep -E "plan_props:|test result|panicked"
