#!/bin/sh
# The Python that the Makefile makes its virtual environments with. Prints its path on
# stdout and says on stderr which it chose, or what to install when none fits.
#
#   scripts/find_python.sh            the supported range, 3.11 to 3.13
#   scripts/find_python.sh 3.11 3.11  a narrower range (make test-oldest)
#
# PYTHON=... names the interpreter (it must run and be in the range; PYTHON_VAR=NAME says what
# the Makefile calls that variable, for the messages); otherwise the newest
# python3.X on PATH in the range, then python3. A candidate counts only if it runs (a pyenv
# shim on PATH may not), reports a version in the range and has the venv module with ensurepip.
# The range is requires-python in pyproject.toml; tests/test_find_python.py checks both agree.
MIN=${1:-3.11}
MAX=${2:-3.13}
lo=${MIN#3.}
hi=${MAX#3.}
PROBE='import sys, importlib.util as u
print("%d.%d.%d" % sys.version_info[:3], "venv" if u.find_spec("venv") and u.find_spec("ensurepip") else "no-venv")'
tried=""
NL='
'
if [ "$lo" = "$hi" ]; then range="3.$lo"; else range="3.$lo to 3.$hi"; fi

# no WHY: remember why the candidate was passed over, for the message when none fits.
no() {
    tried="$tried
  $label $1"
    return 1
}

# usable CMD: print CMD's path and return 0 if it is a supported Python, else return 1.
usable() {
    label=$1
    path=$(command -v "$1" 2>/dev/null) || { no "is not on PATH"; return 1; }
    [ "$path" = "$1" ] || label="$1 ($path)"
    out=$("$path" -c "$PROBE" 2>&1) || { no "does not run: ${out%%"$NL"*}"; return 1; }
    version=${out%% *}
    minor=${version#3.}
    minor=${minor%%.*}
    case "$version" in 3.*) ;; *) no "prints no Python 3 version: $out"; return 1 ;; esac
    case "$minor" in '' | *[!0-9]*) no "prints no Python 3 version: $out"; return 1 ;; esac
    if [ "$minor" -lt "$lo" ] || [ "$minor" -gt "$hi" ]; then
        no "is Python $version, not $range"
        return 1
    fi
    if [ "${out#* }" != venv ]; then
        no "is Python $version without its venv module (Debian/Ubuntu: sudo apt install python3.$minor-venv)"
        return 1
    fi
    echo "Using $1 ($version) at $path" >&2
    echo "$path"
}

var=${PYTHON_VAR:-PYTHON}  # how the Makefile calls PYTHON, for the message
if [ -n "${PYTHON:-}" ]; then
    usable "$PYTHON" && exit 0
    echo "$var=$PYTHON cannot be used: this needs Python $range.$tried" >&2
    echo "Name another ($var=/path/to/python3.$hi), or leave $var unset to let the Makefile look on PATH." >&2
    exit 1
fi
minor=$hi
while [ "$minor" -ge "$lo" ]; do
    usable "python3.$minor" && exit 0
    minor=$((minor - 1))
done
usable python3 && exit 0
printf '%s\n' >&2 \
    "No supported Python found: the course needs Python $range. Tried:$tried" \
    "Install one, then run make again:" \
    "  Debian/Ubuntu:  sudo apt install python3 python3-venv (Ubuntu 24.04 ships 3.12, Debian 13 ships 3.13)" \
    "  Fedora:         sudo dnf install python3.$hi" \
    "  macOS:          brew install python@3.$hi, or the installer from https://www.python.org/downloads/" \
    "  any system:     pyenv install 3.$hi && pyenv global 3.$hi" \
    "Or name one: make book PYTHON=/path/to/python3.$hi"
exit 1
