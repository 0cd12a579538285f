#!/usr/bin/env python3
"""Checks that the Python training engine (honeyimage-py-protect, built by
maturin) asks for the same features of every dependency as the CLI's release
build. Cargo compiles a dependency once per feature set: where the two sets
differ, maturin recompiles tract, tch and everything above the differing
crate (about 5 minutes of setup.sh and CI on 2 cores) instead of reusing the
CLI's build. honeyimage-py-protect's Cargo.toml lists the features to add
when this check names some.

Usage: scripts/feature_parity.py   (exit 1 with the differences, 0 if none)
"""
import subprocess
import sys


def features(package: str) -> dict[str, set[str]]:
    """name version -> the features cargo resolves when building `package`."""
    out = subprocess.run(
        ["cargo", "tree", "-q", "-p", package, "-e", "normal", "--prefix", "none", "-f", "{p}|{f}"],
        check=True, capture_output=True, text=True,
    ).stdout
    found: dict[str, set[str]] = {}
    for line in out.splitlines():
        # cargo tree marks a package shown before with " (*)".
        line = line.replace(" (*)", "").replace(" (proc-macro)", "")
        if "|" not in line:
            continue
        pkg, feats = line.split("|", 1)
        name = " ".join(pkg.split()[:2])
        found.setdefault(name, set()).update(f for f in feats.split(",") if f)
    return found


def main() -> int:
    cli, engine = features("honeyimage-cli"), features("honeyimage-py-protect")
    differ = [
        f"  {name}: the CLI also enables {sorted(cli[name] - engine[name]) or '-'}, "
        f"the engine also enables {sorted(engine[name] - cli[name]) or '-'}"
        for name in sorted(cli.keys() & engine.keys())
        if cli[name] != engine[name] and not name.startswith("honeyimage")
    ]
    if differ:
        print("feature_parity: maturin would recompile the dependencies above these crates,", file=sys.stderr)
        print("whose features differ between the CLI and honeyimage-py-protect:", file=sys.stderr)
        print("\n".join(differ), file=sys.stderr)
        return 1
    print(f"feature_parity: the engine and the CLI share {len(cli.keys() & engine.keys())} dependency builds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
