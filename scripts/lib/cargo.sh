# Shared by scripts/demo and scripts/bench: where cargo puts what it builds. Source this file; it
# defines functions and changes nothing.

# The target directory cargo builds into: CARGO_TARGET_DIR, `build.target-dir` of a cargo
# configuration file, else target/ of the workspace (cargo metadata knows which).
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
