# Sourced by scripts that fetch packages of another Debian suite without touching the host's apt state.
# apt_suite DIR SUITE: sets the array apt_opts so that apt-get/apt-cache use a private list and cache under
# DIR with only SUITE of the mirror this machine already uses (read from its apt sources), then updates it.
apt_suite() {
  local dir=$1 suite=$2 mirror
  mirror=$(
    { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true
      grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } |
      grep -v security | head -n 1 || true
  )
  if [ -z "$mirror" ]; then
    echo "cannot find a Debian mirror in /etc/apt/sources.list*; add one and retry" >&2
    return 1
  fi
  mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/sources.list.d"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=$dir/sources.list.d"
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::Archives=$dir/archives"
    -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" update -qq
}
