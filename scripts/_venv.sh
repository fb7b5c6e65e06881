# Shared by scripts/up and scripts/test (sourced, not run): find Python 3.11/3.12 and make .venv with the
# project installed. Editable install on purpose: core.migrate finds migrations/ next to the source tree.
# $1: the pip extra to install ("" or "[dev]").

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
    # Reinstall only when pyproject.toml changed since the last install for this extra.
    stamp=".venv/.coc-installed${extra:+-dev}"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "installing chain-of-care${extra} into .venv …" >&2
        .venv/bin/python -m pip install --quiet --upgrade pip >&2
        .venv/bin/python -m pip install --quiet -e ".${extra}" >&2
        touch "$stamp"
    fi
}
