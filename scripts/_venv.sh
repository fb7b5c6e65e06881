# Shared by scripts/up and scripts/test (sourced, not run): find Python 3.11/3.12 and make .venv with the
# project installed. Editable install on purpose: core.migrate finds migrations/ next to the source tree.
# $1: "" (scripts/up: the app and its [embedded] extra) or "[dev]" (scripts/test and CI: also [dev]).
# Every dependency comes from a lock file with hashes (requirements/*.lock, `pip install --require-hashes`):
# requirements/embedded.lock for "", requirements/dev.lock for "[dev]"; requirements/base.lock (no embedded
# extra) is the production image's (docker/Dockerfile). Regenerate all three after changing pyproject.toml:
#   scripts/lock

coc_find_python() {
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "error: Chain of Care needs Python 3.11 or 3.12 (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

coc_ensure_venv() {
    extra="$1"
    if [ ! -x .venv/bin/python ]; then
        py="$(coc_find_python)" || return 1
        echo "creating .venv with $py …" >&2
        if ! "$py" -m venv .venv; then
            echo "error: '$py -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
            return 1
        fi
    fi
    case "$extra" in
        "") lock=requirements/embedded.lock ;;
        "[dev]") lock=requirements/dev.lock ;;
        *) echo "error: coc_ensure_venv takes \"\" or \"[dev]\", not $extra" >&2; return 1 ;;
    esac
    # Reinstall only when pyproject.toml or the lock changed since the last install (a dev install covers a
    # plain one).
    stamp=".venv/.coc-installed${extra:+-dev}"
    for done_stamp in "$stamp" .venv/.coc-installed-dev; do
        if [ -f "$done_stamp" ] && [ ! pyproject.toml -nt "$done_stamp" ] && [ ! "$lock" -nt "$done_stamp" ]; then
            return 0
        fi
    done
    echo "installing chain-of-care${extra} into .venv from $lock (log: .venv/pip.log) …" >&2
    # Dependencies only from the lock, each checked against its hashes (no resolution, nothing unpinned); then
    # the project itself without dependencies, built by the locked setuptools (no isolated build env fetched).
    # pip's and the build backend's chatter goes to a log; it is shown only when the install fails.
    if ! { .venv/bin/python -m pip install --require-hashes --no-deps -r "$lock" &&
           .venv/bin/python -m pip install --no-deps --no-build-isolation -e .; } \
            > .venv/pip.log 2>&1; then
        tail -n 40 .venv/pip.log >&2
        echo "error: installing the project into .venv failed (full log: .venv/pip.log)" >&2
        return 1
    fi
    touch "$stamp"
}
