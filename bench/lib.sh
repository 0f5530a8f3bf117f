# Shared by the bench scripts: source it, don't run it.

# need_package COMMAND PACKAGE: installs the Debian PACKAGE unless COMMAND is on the PATH.
need_package() {
  command -v "$1" >/dev/null && return 0
  echo "== installing $2 (Debian package)" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "$2" >/dev/null
}
