#!/usr/bin/env bash
# Install the PVS6 Sentinel edge on a Raspberry Pi (Raspberry Pi OS Bookworm, Python 3.11). Idempotent:
# running it again upgrades the program and keeps your configuration and secret.
#
#   sudo bash edge/install.sh [--prefix DIR] [--dry-run] [--no-systemctl]
#
# The upload secret is made by the cloud side (deploy.sh, or docs/pi-only.md) and only received here: this script
# leaves an empty secret file (mode 600) for it and never invents one of its own.
#
# Environment overrides (used by the tests to install into a temporary folder without root):
#   PREFIX (/opt/pvs6-sentinel)   CONFIG_DIR (/etc/pvs6-sentinel)   SYSTEMD_DIR (/etc/systemd/system)
#   STATE_DIR (/var/lib/pvs6-sentinel)   PYTHON (python3)   SOURCE (this project)   PIP_ARGS (extra pip options)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${PREFIX:-/opt/pvs6-sentinel}"
CONFIG_DIR="${CONFIG_DIR:-/etc/pvs6-sentinel}"
SYSTEMD_DIR="${SYSTEMD_DIR:-/etc/systemd/system}"
STATE_DIR="${STATE_DIR:-/var/lib/pvs6-sentinel}"
PYTHON="${PYTHON:-python3}"
SOURCE="${SOURCE:-$(dirname "$HERE")}"
PIP_ARGS="${PIP_ARGS:-}"
DRY_RUN=0
SYSTEMCTL=1

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX="${2:?--prefix needs a folder}"; shift 2 ;;
        --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        --no-systemctl) SYSTEMCTL=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

VENV="$PREFIX/venv"
CONFIG="$CONFIG_DIR/edge.toml"
SECRET="$CONFIG_DIR/secret"

say() { printf '%s\n' "$*"; }
run() {
    if [ "$DRY_RUN" -eq 1 ]; then
        say "would run: $*"
    else
        "$@"
    fi
}

if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ] && [ "$CONFIG_DIR" = /etc/pvs6-sentinel ]; then
    say "install.sh: run it with sudo (or set PREFIX, CONFIG_DIR, SYSTEMD_DIR, STATE_DIR to folders you own)" >&2
    exit 1
fi

if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    say "install.sh: $PYTHON is older than Python 3.11 (Raspberry Pi OS Bookworm has 3.11)" >&2
    exit 1
fi

NETWORK_FIX='  - NetworkManager (Bookworm default), one command; it works with or without the cable in LAN1:
      sudo nmcli connection add type ethernet ifname eth0 con-name pvs6-lan1 \
          ipv4.never-default yes ipv6.never-default yes ipv4.ignore-auto-dns yes ipv6.ignore-auto-dns yes
    If the cable is already in and the Pi made "Wired connection 1" for it, run instead:
      sudo nmcli connection modify "Wired connection 1" ipv4.never-default yes ipv6.never-default yes \
          ipv4.ignore-auto-dns yes
      sudo nmcli connection up "Wired connection 1"
  - dhcpcd (older images): add to /etc/dhcpcd.conf
      interface eth0
      nogateway
  Check with:  ip route   (the "default via" line must name wlan0, and 172.27.153.0/24 must be on eth0)'

# 0. The PVS6's LAN1 port offers itself as the default gateway. If the Pi took it, nothing reaches the internet
#    (pip below would fail with a confusing error), so stop now and say how to fix it.
if command -v ip > /dev/null 2>&1 && ip -4 route show default 2> /dev/null | grep -q 'via 172\.27\.153\.'; then
    {
        say "install.sh: the Pi sends its internet traffic to the PVS6 (LAN1), which has no internet."
        say "Keep the PVS6's port from becoming the Pi's internet route, then run this script again:"
        say "$NETWORK_FIX"
    } >&2
    if [ "$DRY_RUN" -eq 0 ]; then
        exit 1
    fi
fi

# 1. The program, in its own virtual environment (requests is its only dependency).
if [ -x "$VENV/bin/python" ]; then
    say "venv: $VENV exists, upgrading the program in it"
else
    say "venv: creating $VENV"
    run mkdir -p "$PREFIX"
    run "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC2086  # PIP_ARGS is a list of options on purpose
run "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PIP_ARGS "$SOURCE"

# 2. Storage and configuration. The config and the secret are never overwritten.
run mkdir -p "$STATE_DIR" "$CONFIG_DIR"
run chmod 700 "$STATE_DIR"
if [ -s "$SECRET" ]; then
    say "secret: keeping $SECRET"
else
    # Empty on purpose: the secret comes from the cloud side. An existing (empty) file keeps mode 600 when
    # `sudo tee` later writes the secret into it.
    say "secret: leaving an empty $SECRET (mode 600) for the upload secret deploy.sh shows you"
    if [ "$DRY_RUN" -eq 0 ]; then
        (umask 077 && : >> "$SECRET")
    fi
fi
if [ -e "$CONFIG" ]; then
    say "config: keeping $CONFIG"
else
    say "config: writing the template $CONFIG (mode 600); edit [pvs] and [cloud] before the first run"
    if [ "$DRY_RUN" -eq 0 ]; then
        (umask 077 && sed -e "s#/var/lib/pvs6-sentinel#$STATE_DIR#" -e "s#/etc/pvs6-sentinel/secret#$SECRET#" \
            "$HERE/config.example.toml" > "$CONFIG")
    fi
fi
run chmod 600 "$CONFIG" "$SECRET"

# 3. The systemd service and timer (every 15 minutes, 06:00 to 21:45 local time).
run mkdir -p "$SYSTEMD_DIR"
for unit in pvs6-edge.service pvs6-edge.timer; do
    say "systemd: writing $SYSTEMD_DIR/$unit"
    if [ "$DRY_RUN" -eq 0 ]; then
        sed -e "s#@BIN@#$VENV/bin/pvs6-edge#g" -e "s#@CONFIG@#$CONFIG#g" -e "s#@STATE_DIR@#$STATE_DIR#g" \
            "$HERE/systemd/$unit" > "$SYSTEMD_DIR/$unit.tmp"
        mv "$SYSTEMD_DIR/$unit.tmp" "$SYSTEMD_DIR/$unit"
    fi
done
# 4. The timer starts only once the config is complete. Before that every run would fail, and failed uploads make
#    the Pi wait longer and longer (up to 6 hours) before it tries again. The installed program checks the config
#    itself, so the reason it gives is the one `pvs6-edge run` would give.
CONFIG_PROBLEM=""
if [ -x "$VENV/bin/python" ] && [ -e "$CONFIG" ]; then
    CONFIG_PROBLEM="$("$VENV/bin/python" -c '
import os, sys
from pathlib import Path
from pvs6_edge.config import load_config
from pvs6_edge.errors import ConfigError
try:
    load_config(Path(sys.argv[1]), os.environ)
except ConfigError as err:
    print(err)
' "$CONFIG" 2>&1)" || CONFIG_PROBLEM="the config could not be checked"
else
    CONFIG_PROBLEM="the config and the secret are not filled in yet"
fi
if [ "$SYSTEMCTL" -eq 1 ] && command -v systemctl > /dev/null 2>&1; then
    run systemctl daemon-reload
    if [ -z "$CONFIG_PROBLEM" ]; then
        run systemctl enable --now pvs6-edge.timer
        say "timer: started (every 15 minutes, 06:00 to 21:45)"
    else
        run systemctl enable pvs6-edge.timer
        say "timer: NOT started yet, because the config is not complete:"
        say "       $CONFIG_PROBLEM"
        say "       Fill it in (steps 1 and 2 below). The timer then starts by itself the next time the Pi starts"
        say "       (the README's step 4 shuts it down and starts it in the PVS6 case), or at once with:"
        say "       sudo systemctl start pvs6-edge.timer"
    fi
else
    say "systemd: not calling systemctl; once the config is complete, start the timer with:"
    say "       sudo systemctl enable --now pvs6-edge.timer"
fi

if [ "$DRY_RUN" -eq 1 ]; then
    say ""
    say "Dry run: nothing was installed or changed. After a real run you would do this:"
else
    say ""
    say "Installed. Next steps:"
fi
cat <<TEXT
  1. Put the upload secret in $SECRET with the command deploy.sh printed
     (echo '...' | sudo tee $SECRET). Everything on the Pi instead: docs/pi-only.md.
  2. Edit $CONFIG (sudo nano $CONFIG): the [cloud] url and site deploy.sh printed.
     [pvs] needs no change: the Pi reads the PVS6's serial itself.
  3. Try it by hand, with the PVS6 connected (--now uploads at once, even if earlier runs failed and the Pi
     would otherwise wait before trying again); the first row appears in your sheet's Readings tab:
                        sudo $VENV/bin/pvs6-edge run --now --config $CONFIG
     Check it any time: sudo $VENV/bin/pvs6-edge status --config $CONFIG
     Logs:              journalctl -u pvs6-edge.service

Without systemd, use cron instead (sudo crontab -e), the same schedule as the timer:
  */15 6-21 * * * $VENV/bin/pvs6-edge run --config $CONFIG 2>&1 | logger -t pvs6-edge

Keep the PVS6's port from becoming the Pi's internet route. The PVS6's LAN1 port runs its own DHCP server
and offers itself as the default gateway; the Pi must keep using Wi-Fi (wlan0) for the internet:
$NETWORK_FIX
TEXT
