# shellcheck shell=bash
# deploy/lib/common.sh: the helpers every part of deploy.sh uses. Sourced by deploy.sh (never run on its own), after
# its constants and settings: its output (say, warn, die, the step headings, each command shown as a person would
# type it), how it runs gcloud (a change is printed first and skipped by --dry-run; a look-up always runs), and
# the names of what it makes.

# --- output ---------------------------------------------------------------------------------------------------
say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'deploy.sh stopped: %s\n' "$*" >&2
  exit 1
}
# STEPS (how many there are) is deploy.sh's constant, not a misspelt STEP.
# shellcheck disable=SC2153
step() {
  STEP=$((STEP + 1))
  printf '\n== Step %d/%d: %s\n' "$STEP" "$STEPS" "$*"
}

# One word as a person would type it: bare when safe, else in single quotes (--flag='value with spaces').
shell_word() {
  local word="$1" q="'\''"
  if [[ "$word" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
    printf '%s' "$word"
  elif [[ "$word" =~ ^(--[a-z0-9-]+=)(.*)$ ]]; then
    printf "%s'%s'" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]//\'/$q}"
  else
    printf "'%s'" "${word//\'/$q}"
  fi
}

# One command as a person would type it (shell-quoted), with an optional note such as "< <secret>".
show_cmd() {
  local note="$1" out="" arg
  shift
  for arg in "$@"; do
    out+="$(shell_word "$arg") "
  done
  out="${out% }"
  if [[ -n "$note" ]]; then
    out+=" $note"
  fi
  if ((DRY_RUN)); then
    printf '  would run: %s\n' "$out" >&3
  else
    printf '  running:   %s\n' "$out" >&3
  fi
}

# --- running gcloud -------------------------------------------------------------------------------------------
# A command that changes something: printed, then run (not run with --dry-run).
run() {
  show_cmd "" "$@"
  if ((DRY_RUN)); then
    return 0
  fi
  "$@"
}

# Like `run`, but IAM changes right after creating an account can fail until Google has propagated it: retry.
run_iam() {
  show_cmd "" "$@"
  if ((DRY_RUN)); then
    return 0
  fi
  local attempt
  for attempt in 1 2 3 4; do
    if "$@" >/dev/null; then
      return 0
    fi
    if ((attempt < 4)); then
      say "  (Google has not finished creating the account yet; trying again in ${PVS6_RETRY_SLEEP_S:-15} s)"
      sleep "${PVS6_RETRY_SLEEP_S:-15}"
    fi
  done
  die "this permission change kept failing; see the message above, then run deploy.sh again"
}

# A command that changes something and whose output we need: prints PLACEHOLDER instead with --dry-run.
run_capture() {
  local placeholder="$1"
  shift
  show_cmd "" "$@"
  if ((DRY_RUN)); then
    printf '%s\n' "$placeholder"
    return 0
  fi
  "$@"
}

# Send a secret held in FILE to a command's stdin. The value is never printed, not even with --dry-run.
run_with_secret() {
  local file="$1" label="$2"
  shift 2
  show_cmd "< <secret: $label>" "$@"
  if ((DRY_RUN)); then
    return 0
  fi
  "$@" <"$file"
}

# A read-only look-up (describe, list, access). It runs even with --dry-run, so the plan matches the project;
# failure means "not there" (or gcloud is missing or not logged in, which a dry run tolerates).
query() {
  if ((!HAVE_GCLOUD)); then
    return 1
  fi
  "$@" 2>/dev/null
}

# --- names ----------------------------------------------------------------------------------------------------
function_name() { printf 'pvs6-%s' "${1//_/-}"; }
# Secret Manager id of an environment variable name: PVS6_SECRET_HOME -> pvs6-secret-home.
secret_id() { printf '%s' "$1" | tr 'A-Z_' 'a-z-'; }

# --- look-ups shared by the steps -----------------------------------------------------------------------------
# Does secret ID have a version? (its value is read into the temp folder, then removed)
has_version() {
  local id="$1" current="$WORK/current-secret" status=1
  query "${GC[@]}" secrets versions access latest --secret="$id" --out-file="$current" >/dev/null && status=0
  rm -f "$current"
  return "$status"
}

# The deployed function's own URL (empty or failing when it is not deployed).
function_url() {
  query "${GC[@]}" functions describe "$(function_name "$1")" --region="$REGION" --gen2 \
    --format='value(serviceConfig.uri)'
}
